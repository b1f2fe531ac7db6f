import json
import subprocess
import sys

from speechopt.data.synth import BASE_VOICES, NARROW_TRAIN_VARIANTS, SPLITS, TEST_VARIANTS, WIDE_TRAIN_VARIANTS, vocabulary
from speechopt.io import sha256_file

SCRIPT = """
import sys
from speechopt.data.synth import SynthSettings, synth_corpus
synth_corpus(sys.argv[1], SynthSettings(num=6, seed=11, split=sys.argv[2]))
"""


def _make(path, split="train"):
    subprocess.run([sys.executable, "-c", SCRIPT, str(path), split], check=True)
    lines = [json.loads(x) for x in (path / "manifest.jsonl").read_text().splitlines()]
    return lines, [sha256_file(path / x["audio_filepath"]) for x in lines]


def test_same_command_same_corpus(tmp_path):
    a = _make(tmp_path / "a")
    b = _make(tmp_path / "b")
    assert a == b
    lines, _ = a
    assert len(lines) == 6 and all(x["duration"] > 0.3 and x["text"] for x in lines)


def test_test_split_uses_held_out_voices(tiny_corpus):
    assert not set(TEST_VARIANTS) & set(WIDE_TRAIN_VARIANTS)
    assert set(NARROW_TRAIN_VARIANTS) < set(WIDE_TRAIN_VARIANTS)
    lines = [json.loads(x) for x in tiny_corpus.read_text().splitlines()]
    for x in lines:
        base, _, variant = x["voice"].partition("+")
        assert base in BASE_VOICES and "+" + variant in TEST_VARIANTS


def test_audio_is_16k_mono(tiny_corpus):
    import soundfile as sf

    first = json.loads(tiny_corpus.read_text().splitlines()[0])
    info = sf.info(str(tiny_corpus.parent / first["audio_filepath"]))
    assert info.samplerate == 16000 and info.channels == 1


def test_vocabulary_size():
    words = vocabulary()
    assert 300 <= len(set(words)) <= 1000


def test_every_training_voice_speaks():
    """espeak-ng falls back silently on some unknown names; each variant must really load and speak."""
    from speechopt.data.espeak import Espeak, Voice

    tts = Espeak.shared()
    for variant in SPLITS["train"] + SPLITS["test"]:
        audio = tts.synthesize("one two", Voice("en-us" + variant, 170, 50, 50), seed=0)
        assert len(audio) > 0.2 * tts.sample_rate, variant
