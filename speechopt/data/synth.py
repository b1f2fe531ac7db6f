"""A synthetic speech corpus made offline with espeak-ng, Festival, or both.

Sentences of 2-10 words are drawn from a stated vocabulary (`words.txt`) and spoken by espeak-ng voices
with random rate, pitch, pitch range, gain and padding silence; `synth="festival"` speaks them with
Festival's voices (`speechopt.data.festival`: random rate and pitch), `"mix"` draws either for each. Everything is drawn from one seeded
generator in a fixed order, espeak-ng is deterministic for a fixed call sequence in a fresh process, and
its breath-noise generator is seeded per utterance, so the same command makes the same corpus, bit for bit. The `test` split uses voice variants that the `train` split
never uses, so a WER on it measures generalization to unseen voices, not memorization.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

from speechopt.audio.io import resample, write_audio
from speechopt.data.espeak import Voice
from speechopt.data.espeak_worker import EspeakCrashed, IsolatedEspeak
from speechopt.data.manifest import Utterance, write_manifest
from speechopt.errors import SpeechoptError
from speechopt.io import atomic_dir

log = logging.getLogger(__name__)

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


# Festival's voices by split (speechopt.data.festival): train and train-narrow speak with the two voices
# that the test split never uses; the test split's Festival voice is held out.
FESTIVAL_SPLITS = {"train": ["kal_diphone", "cmu_us_slt_arctic_hts"], "train-narrow": ["kal_diphone"],
                   "test": ["ked_diphone"]}
SYNTHS = ("espeak", "festival", "mix")


@dataclass(frozen=True)
class SynthSettings:
    num: int
    seed: int = 0
    split: str = "train"
    min_words: int = 2
    max_words: int = 10
    audio_format: str = "wav"
    synth: str = "espeak"  # espeak | festival | mix (each utterance either, with even odds)


def draw_voice(rng: random.Random, split: str) -> Voice:
    name = rng.choice(BASE_VOICES) + rng.choice(SPLITS[split])
    return Voice(name, rate_wpm=rng.randint(130, 220), pitch=rng.randint(25, 75), pitch_range=rng.randint(20, 90))


def draw_festival_voice(rng: random.Random, split: str):
    """A Festival voice of the split with a random rate (the HMM voice ignores it) and, for the diphone voices,
    pitch mean and spread."""
    from speechopt.data.festival import FestivalVoice

    return FestivalVoice(rng.choice(FESTIVAL_SPLITS[split]), stretch=round(rng.uniform(0.8, 1.25), 3),
                         f0_mean=rng.randint(80, 150), f0_std=rng.randint(8, 25))


def speak_espeak(tts: IsolatedEspeak, text: str, voice: Voice, seed: int) -> tuple[np.ndarray, Voice]:
    """Speak `text`; where espeak-ng crashes on it (`speechopt.data.espeak_worker`), speak it again at the
    default pitch range, then with the variant's base voice. Returns the audio and the voice that spoke it."""
    fallbacks = (replace(voice, pitch_range=50), replace(voice, name=voice.name.split("+")[0], pitch_range=50))
    crash = None
    for attempt in (voice,) + fallbacks:
        try:
            audio = tts.synthesize(text, attempt, seed=seed)
        except EspeakCrashed as exc:
            crash = exc
            continue
        if crash is not None:
            log.warning("%s: spoken instead by %s at pitch range %d", crash, attempt.name, attempt.pitch_range)
        return audio, attempt
    raise SpeechoptError(f"espeak-ng crashed on {text!r} in voice {voice.name} and in its fallbacks")


def synth_corpus(out: str | Path, settings: SynthSettings, overwrite: bool = False, progress=None) -> Path:
    """Write `settings.num` utterances under `out` (audio/ and manifest.jsonl); returns the manifest path."""
    if settings.split not in SPLITS:
        raise SpeechoptError(f"unknown split {settings.split!r}: choose one of {', '.join(SPLITS)}")
    if settings.num <= 0:
        raise SpeechoptError("--num must be positive")
    if settings.audio_format not in ("wav", "flac"):
        raise SpeechoptError("--format must be wav or flac")
    if settings.synth not in SYNTHS:
        raise SpeechoptError(f"unknown synthesizer {settings.synth!r}: choose one of {', '.join(SYNTHS)}")
    if settings.synth != "espeak":  # before anything is written: a missing package is one line
        from speechopt.data.festival import INSTALL, installed_voices, require_festival

        require_festival()
        missing = sorted(set(FESTIVAL_SPLITS[settings.split]) - set(installed_voices()))
        if missing:
            raise SpeechoptError(f"Festival lacks voice {', '.join(missing)}: {INSTALL}")
    words = vocabulary()
    rng = random.Random(settings.seed)
    out = Path(out)
    # Everything is drawn first, in one fixed order (an espeak-only corpus draws exactly what it always did),
    # then spoken: espeak-ng one utterance at a time, Festival in batches (one process each).
    plan = []
    for i in range(settings.num):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(settings.min_words, settings.max_words)))
        festival = settings.synth == "festival" or (settings.synth == "mix" and rng.random() < 0.5)
        voice = draw_festival_voice(rng, settings.split) if festival else draw_voice(rng, settings.split)
        gain = rng.uniform(0.1, 0.95)
        pads = [int(SAMPLE_RATE * rng.uniform(0.05, 0.3)) for _ in range(2)]
        plan.append((i, text, voice, festival, gain, pads))
    with atomic_dir(out, overwrite=overwrite) as tmp:
        utterances = {}

        def write(i, text, voice, audio, gain, pads, note=()):
            peak = float(np.abs(audio).max()) or 1.0
            audio = np.concatenate([np.zeros(pads[0], np.float32), audio * (gain / peak), np.zeros(pads[1], np.float32)])
            rel = Path("audio") / f"{settings.split}-{i:06d}.{settings.audio_format}"
            write_audio(tmp / rel, audio, SAMPLE_RATE)
            if hasattr(voice, "rate_wpm"):
                extra = (("voice", voice.name), ("rate_wpm", voice.rate_wpm), ("pitch", voice.pitch))
            else:
                extra = (("voice", voice.label), ("stretch", voice.stretch), ("pitch", voice.f0_mean),
                         ("synth", "festival"))
            utterances[i] = Utterance(tmp / rel, len(audio) / SAMPLE_RATE, text, extra + note)
            if progress is not None:
                progress(1)

        espeak = [p for p in plan if not p[3]]
        if espeak:
            with IsolatedEspeak() as tts:
                for i, text, voice, _, gain, pads in espeak:
                    audio, spoken = speak_espeak(tts, text, voice, seed=settings.seed * 1_000_003 + i)
                    crash = () if spoken == voice else (("espeak_crashed_on", asdict(voice)),)
                    write(i, text, spoken, resample(audio, tts.sample_rate, SAMPLE_RATE), gain, pads, crash)
        festival = [p for p in plan if p[3]]
        if festival:
            from speechopt.data.festival import synthesize_many

            for k in range(0, len(festival), 200):
                batch = festival[k : k + 200]
                audios = synthesize_many([(text, voice) for _, text, voice, *_ in batch], SAMPLE_RATE)
                for (i, text, voice, _, gain, pads), audio in zip(batch, audios):
                    write(i, text, voice, audio, gain, pads)
        write_manifest(tmp / "manifest.jsonl", [utterances[i] for i in range(settings.num)])
    return out / "manifest.jsonl"
