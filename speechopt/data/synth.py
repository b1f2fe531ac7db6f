"""A synthetic speech corpus made offline with espeak-ng.

Sentences of 2-10 words are drawn from a stated vocabulary (`words.txt`) and spoken by espeak-ng voices
with random rate, pitch, pitch range, gain and padding silence. Everything is drawn from one seeded
generator in a fixed order, espeak-ng is deterministic for a fixed call sequence in a fresh process, and
its breath-noise generator is seeded per utterance, so the same command makes the same corpus, bit for bit. The `test` split uses voice variants that the `train` split
never uses, so a WER on it measures generalization to unseen voices, not memorization.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from speechopt.audio.io import resample, write_audio
from speechopt.data.espeak import Espeak, Voice
from speechopt.data.manifest import Utterance, write_manifest
from speechopt.errors import SpeechoptError
from speechopt.io import atomic_dir

SAMPLE_RATE = 16000
BASE_VOICES = ["en-us", "en", "en-us-nyc", "en-029", "en-gb-scotland", "en-gb-x-rp"]
# espeak-ng's numbered variants: the first 16 of them are split between train and held-out test voices.
NARROW_TRAIN_VARIANTS = ["", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+f1", "+f2", "+f3"]
TEST_VARIANTS = ["+m7", "+m8", "+f4", "+f5"]
# A model trained on ten voices learns those voices: the bundled CRNN trained on NARROW_TRAIN_VARIANTS
# was at 19% WER on held-out voices with a training loss near zero. espeak-ng ships about a hundred more
# named variants (other pitch, formant, voicing, tone-filter and Klatt settings); training on them
# teaches the model what does not matter. Left out: whispered, robotic/echo-heavy and novelty voices
# (no test voice is like them), and the held-out test variants, which stay unseen.
WIDE_TRAIN_VARIANTS = NARROW_TRAIN_VARIANTS + [
    "+" + v for v in (
        "Alex Andrea Andy Annie AnxiousAndy Denis Diogo Gene Gene2 Henrique Hugo Jacky Lee Marco Mario Michael "
        "Mike Nguyen Reed Tweaky adam anika antonio aunty belinda benjamin boris croak david ed edward edward2 "
        "grandma grandpa gustave ian iven iven2 iven3 iven4 john kaukovalta klatt klatt2 klatt3 klatt4 klatt5 "
        "klatt6 linda marcelo max michel miguel mike2 norbert pablo paul pedro quincy rob robert shelby steph "
        "steph2 steph3 travis victor"
    ).split()
]
SPLITS = {"train": WIDE_TRAIN_VARIANTS, "train-narrow": NARROW_TRAIN_VARIANTS, "test": TEST_VARIANTS}


def vocabulary() -> list[str]:
    text = resources.files("speechopt.data").joinpath("words.txt").read_text(encoding="utf-8")
    return [w for line in text.splitlines() if not line.startswith("#") for w in line.split()]


@dataclass(frozen=True)
class SynthSettings:
    num: int
    seed: int = 0
    split: str = "train"
    min_words: int = 2
    max_words: int = 10
    audio_format: str = "wav"


def draw_voice(rng: random.Random, split: str) -> Voice:
    name = rng.choice(BASE_VOICES) + rng.choice(SPLITS[split])
    return Voice(name, rate_wpm=rng.randint(130, 220), pitch=rng.randint(25, 75), pitch_range=rng.randint(20, 90))


def synth_corpus(out: str | Path, settings: SynthSettings, overwrite: bool = False, progress=None) -> Path:
    """Write `settings.num` utterances under `out` (audio/ and manifest.jsonl); returns the manifest path."""
    if settings.split not in SPLITS:
        raise SpeechoptError(f"unknown split {settings.split!r}: choose one of {', '.join(SPLITS)}")
    if settings.num <= 0:
        raise SpeechoptError("--num must be positive")
    if settings.audio_format not in ("wav", "flac"):
        raise SpeechoptError("--format must be wav or flac")
    words = vocabulary()
    rng = random.Random(settings.seed)
    tts = Espeak.shared()
    out = Path(out)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        utterances = []
        for i in range(settings.num):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(settings.min_words, settings.max_words)))
            voice = draw_voice(rng, settings.split)
            audio = resample(tts.synthesize(text, voice, seed=settings.seed * 1_000_003 + i), tts.sample_rate, SAMPLE_RATE)
            peak = float(np.abs(audio).max()) or 1.0
            gain = rng.uniform(0.1, 0.95) / peak
            pad = [np.zeros(int(SAMPLE_RATE * rng.uniform(0.05, 0.3)), np.float32) for _ in range(2)]
            audio = np.concatenate([pad[0], audio * gain, pad[1]])
            rel = Path("audio") / f"{settings.split}-{i:06d}.{settings.audio_format}"
            write_audio(tmp / rel, audio, SAMPLE_RATE)
            extra = (("voice", voice.name), ("rate_wpm", voice.rate_wpm), ("pitch", voice.pitch))
            utterances.append(Utterance(out / rel, len(audio) / SAMPLE_RATE, text, extra))
            if progress is not None:
                progress(1)
        write_manifest(tmp / "manifest.jsonl", [Utterance(tmp / u.audio_filepath.relative_to(out), u.duration, u.text, u.extra) for u in utterances])
    return out / "manifest.jsonl"
