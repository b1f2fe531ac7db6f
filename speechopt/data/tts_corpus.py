"""A single-voice TTS corpus made offline with espeak-ng, with espeak's phoneme durations.

Sentences are drawn from the ASR corpus vocabulary (`words.txt`) by one seeded generator: one to three
clauses of 2-6 words, joined by commas, ending with a period, a question mark or (rarely) an exclamation
mark. They are written already normalized (`speechopt.tts_text.normalize_tts_text` leaves them as they
are), so the character positions of espeak's word events are positions in the model's input text.

One voice speaks every sentence (default `en-us` at espeak's default rate 175 wpm, pitch 50, range 50): a
TTS model learns one speaker. espeak-ng synthesizes at 22050 Hz; the audio is resampled to 16 kHz mono and
written as 16-bit WAV at espeak's own level (no gain, no added silence).

Manifest lines (JSONL) carry `audio_filepath`, `duration` (s), `text`, `voice`, and the segmentation:
- `phonemes`: espeak's phoneme mnemonics, `phoneme_ms`: their durations in **milliseconds** (float, 0.01 ms
  precision, from the events' sample positions at 22050 Hz); the durations sum to the audio duration (a
  leading "_" covers the silence before espeak's first phoneme);
- `words`: `[char_start, num_chars, start_ms]` per espeak word event (char_start 0-based into `text`).
`durations_to_frames` turns `phoneme_ms` into whole mel frames that sum to the utterance's frame count.

Determinism: texts come from `random.Random(seed)` alone (the voice is fixed), espeak-ng is deterministic
for a fixed call sequence in a fresh process and its noise generator is seeded per utterance: the same
settings make the same corpus, bit for bit. Sentences never repeat within a corpus, and `exclude` names
other corpora by (seed, num) whose sentences are regenerated (text only, no synthesis) and skipped: the
evaluation set uses its own seed plus the training corpus's (seed, num) as exclusions.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from speechopt.audio.io import resample, write_audio
from speechopt.data.espeak import Espeak, Voice
from speechopt.data.synth import vocabulary
from speechopt.errors import SpeechoptError
from speechopt.io import atomic_dir, atomic_write_text
from speechopt.tts_text import normalize_tts_text

SAMPLE_RATE = 16000
DEFAULT_VOICE = "en-us"
ENDINGS = (".", ".", ".", ".", "?", "?", "!")  # drawn uniformly: 4/7 period, 2/7 question, 1/7 exclamation


@dataclass(frozen=True)
class TtsSynthSettings:
    num: int
    seed: int = 0
    voice: str = DEFAULT_VOICE
    rate_wpm: int = 175
    pitch: int = 50
    pitch_range: int = 50
    min_clause_words: int = 2
    max_clause_words: int = 6
    max_clauses: int = 3
    exclude: tuple = field(default_factory=tuple)  # ((seed, num), ...) of corpora whose sentences to skip
    split: str = "train"  # only names the files


def draw_sentence(rng: random.Random, words: list[str], s: TtsSynthSettings) -> str:
    n_clauses = rng.choices(range(1, s.max_clauses + 1), weights=[3, 2, 1][: s.max_clauses])[0]
    clauses = [" ".join(rng.choice(words) for _ in range(rng.randint(s.min_clause_words, s.max_clause_words)))
               for _ in range(n_clauses)]
    return ", ".join(clauses) + rng.choice(ENDINGS)


def corpus_sentences(num: int, seed: int, settings: TtsSynthSettings | None = None,
                     exclude: set[str] | frozenset = frozenset()) -> list[str]:
    """`num` distinct sentences from `random.Random(seed)`, skipping those in `exclude`."""
    s = settings or TtsSynthSettings(num=num, seed=seed)
    words = vocabulary()
    rng = random.Random(seed)
    out: list[str] = []
    seen = set(exclude)
    attempts = 0
    while len(out) < num:
        attempts += 1
        if attempts > 100 * num + 1000:
            raise SpeechoptError(f"could not draw {num} distinct sentences (seed {seed})")
        text = draw_sentence(rng, words, s)
        if text in seen:
            continue
        seen.add(text)
        out.append(text)
    return out


def settings_sentences(s: TtsSynthSettings) -> list[str]:
    excluded: set[str] = set()
    for seed, num in s.exclude:
        excluded.update(corpus_sentences(int(num), int(seed), s))
    return corpus_sentences(s.num, s.seed, s, excluded)


def durations_to_frames(durations_ms, num_frames: int, hop_length: int, sample_rate: int) -> list[int]:
    """Millisecond durations -> whole frames that sum to `num_frames`: cumulative boundaries are rounded
    (so rounding errors do not pile up) and the last phoneme takes the remainder."""
    bounds = np.round(np.cumsum(durations_ms) / 1000.0 * sample_rate / hop_length).astype(np.int64)
    bounds = np.clip(bounds, 0, num_frames)
    bounds[-1] = num_frames
    return np.diff(np.concatenate([[0], bounds])).tolist()


def synth_tts_corpus(out: str | Path, settings: TtsSynthSettings, overwrite: bool = False, progress=None) -> Path:
    """Write `settings.num` utterances under `out` (audio/, manifest.jsonl, settings.json); returns the manifest."""
    if settings.num <= 0:
        raise SpeechoptError("--num must be positive")
    texts = settings_sentences(settings)
    for t in texts:
        if normalize_tts_text(t) != t:  # the sentence generator must emit normalized text
            raise SpeechoptError(f"internal: sentence {t!r} is not in normalized form")
    voice = Voice(settings.voice, rate_wpm=settings.rate_wpm, pitch=settings.pitch, pitch_range=settings.pitch_range)
    tts = Espeak.shared()
    out = Path(out)
    ratio = SAMPLE_RATE / tts.sample_rate
    with atomic_dir(out, overwrite=overwrite) as tmp:
        lines = []
        for i, text in enumerate(texts):
            al = tts.synthesize_with_phonemes(text, voice, seed=settings.seed * 1_000_003 + i)
            audio = resample(al.audio, tts.sample_rate, SAMPLE_RATE)
            if len(audio) == 0:
                raise SpeechoptError(f"espeak-ng made no audio for {text!r}")
            # Phoneme boundaries in 16 kHz samples; the last one is the end of the resampled audio.
            bounds = [round(p.end * ratio) for p in al.phonemes]
            bounds[-1] = len(audio)
            starts = [0] + bounds[:-1]
            phoneme_ms = [round((e - b) * 1000.0 / SAMPLE_RATE, 2) for b, e in zip(starts, bounds)]
            words = [[w.text_position - 1, w.length, round(w.start * 1000.0 / tts.sample_rate, 2)] for w in al.words]
            rel = Path("audio") / f"{settings.split}-{i:06d}.wav"
            write_audio(tmp / rel, audio, SAMPLE_RATE)
            lines.append(json.dumps({
                "audio_filepath": str(rel), "duration": round(len(audio) / SAMPLE_RATE, 4), "text": text,
                "voice": settings.voice, "phonemes": [p.name for p in al.phonemes], "phoneme_ms": phoneme_ms,
                "words": words,
            }, ensure_ascii=False))
            if progress is not None:
                progress(1)
        atomic_write_text(tmp / "manifest.jsonl", "\n".join(lines) + "\n")
        atomic_write_text(tmp / "settings.json", json.dumps(
            {**asdict(settings), "exclude": [list(e) for e in settings.exclude], "sample_rate": SAMPLE_RATE,
             "espeak_sample_rate": tts.sample_rate, "phoneme_duration_unit": "ms"}, indent=1) + "\n")
    return out / "manifest.jsonl"


def read_tts_manifest(path: str | Path) -> list[dict]:
    """Manifest rows as dicts, `audio_filepath` resolved against the manifest's folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.jsonl"
    if not path.is_file():
        raise SpeechoptError(f"{path}: manifest not found")
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            audio = Path(row["audio_filepath"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SpeechoptError(f"{path}:{lineno}: not a manifest line ({type(exc).__name__}: {exc})") from None
        row["audio_filepath"] = str(audio if audio.is_absolute() else path.parent / audio)
        rows.append(row)
    if not rows:
        raise SpeechoptError(f"{path}: manifest has no utterances")
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Make a single-voice espeak-ng TTS corpus with phoneme durations.")
    p.add_argument("--num", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--voice", default=DEFAULT_VOICE)
    p.add_argument("--split", default="train", help="names the audio files only")
    p.add_argument("--exclude", action="append", default=[], metavar="SEED:NUM",
                   help="skip the sentences of the corpus made with this seed and size (repeatable)")
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    exclude = tuple(tuple(int(x) for x in e.split(":")) for e in a.exclude)
    s = TtsSynthSettings(num=a.num, seed=a.seed, voice=a.voice, split=a.split, exclude=exclude)
    manifest = synth_tts_corpus(a.out, s, overwrite=a.overwrite)
    rows = read_tts_manifest(manifest)
    print(f"{manifest}: {len(rows)} utterances, {sum(r['duration'] for r in rows) / 60:.1f} min, voice {a.voice}")


if __name__ == "__main__":
    main()
