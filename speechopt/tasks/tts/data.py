"""TTS inputs: sentences -> token ids with the artifact's text front end, prepared once for every backend.

A TTS manifest is JSONL with `text` per line and, where the synthesizer's own audio of that sentence exists
(a corpus of `speechopt data synth --tts`), its `audio_filepath` (relative paths against the manifest's
folder) and `duration`. A plain text file (not JSON lines) is one sentence a line. A list of strings is
taken as the sentences themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speechopt.errors import SpeechoptError


@dataclass
class TtsData:
    names: list[str]
    texts: list[str]  # as given
    items: list[dict]  # {"tokens": (1, T) int64, "lengths": (1,) int64}, one per sentence
    audio_paths: list[Path | None]  # the synthesizer's own audio, where the manifest has it
    # audio seconds of each item: the synthesized audio's, filled by `TtsTask.run` (before that, the own
    # audio's duration where known, else 0); the bench normalizes timings by it
    durations: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def lengths(self) -> list[int]:
        return [int(item["tokens"].shape[1]) for item in self.items]

    @property
    def references(self) -> list[str]:
        return self.texts

    def batch(self, idx: list[int]) -> dict:
        """A group of sentences, synthesized one after another by the driver: the exported encoder is exact
        only without padding, and every sentence stops at its own step (no padded batch here)."""
        return {"sequence": [self.items[i] for i in idx]}

    def subset(self, idx: list[int]) -> "TtsData":
        pick = lambda xs: [xs[i] for i in idx]  # noqa: E731
        return TtsData(pick(self.names), pick(self.texts), pick(self.items), pick(self.audio_paths),
                       pick(self.durations) if self.durations else [])


def read_texts(source, max_items: int | None = None) -> tuple[list[str], list[Path | None], list[float], list[str]]:
    """(texts, own audio paths or None, durations, names) from a manifest/text file path or a list of strings."""
    if isinstance(source, (list, tuple)):
        texts = [str(t) for t in source][:max_items]
        return texts, [None] * len(texts), [0.0] * len(texts), [f"{i + 1:04d}" for i in range(len(texts))]
    path = Path(source)
    if path.is_dir():
        path = path / "manifest.jsonl"
    if not path.is_file():
        raise SpeechoptError(f"{path}: manifest or text file not found")
    try:
        lines = [x for x in path.read_text(encoding="utf-8").split("\n") if x.strip()]
    except UnicodeDecodeError:
        raise SpeechoptError(f"{path}: not a text file or JSONL manifest (not UTF-8)") from None
    if not lines:
        raise SpeechoptError(f"{path}: no sentences")
    texts, audio, durations, names = [], [], [], []
    as_json = lines[0].lstrip().startswith("{")
    for lineno, line in enumerate(lines[:max_items], 1):
        if not as_json:
            texts.append(line.strip())
            audio.append(None)
            durations.append(0.0)
            names.append(f"{lineno:04d}")
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpeechoptError(f"{path}:{lineno}: not a manifest line ({exc})") from None
        if not isinstance(row, dict) or "text" not in row:
            raise SpeechoptError(f"{path}:{lineno}: a TTS manifest line needs a `text` field")
        texts.append(str(row["text"]))
        own = row.get("audio_filepath")
        if own:
            own = Path(own) if Path(own).is_absolute() else path.parent / own
            if not own.is_file():
                raise SpeechoptError(f"{path}:{lineno}: audio file {own} does not exist")
        audio.append(own or None)
        durations.append(float(row.get("duration", 0.0) or 0.0))
        names.append(Path(own).stem if own else f"{lineno:04d}")
    return texts, audio, durations, names


# Longest sentence accepted, in tokens (characters after normalization, plus the end token): ~20 s of speech
# at the corpus's ~15 characters a second, inside the driver's hard cap of 1000 decoder steps. Longer text
# is refused with the limit (split it at sentence boundaries: one line each).
MAX_TOKENS = 300


def encode_texts(tokenizer, texts: list[str], where: str = "") -> list[list[int]]:
    """Token ids per sentence; the first sentence that is empty, too long or cannot be spelled is named in
    one error (with the count of further bad ones)."""
    ids, bad = [], []
    for i, text in enumerate(texts):
        if not text.strip():
            bad.append(f"sentence {i + 1} is empty")
            continue
        try:
            encoded = tokenizer.encode(text)
        except SpeechoptError as exc:
            bad.append(f"sentence {i + 1} ({text[:40]!r}): {exc}")
            continue
        if len(encoded) > MAX_TOKENS:
            bad.append(f"sentence {i + 1} ({text[:40]!r}...) has {len(encoded)} tokens, the limit is {MAX_TOKENS}: "
                       "split it at sentence boundaries (one sentence a line)")
            continue
        ids.append(encoded)
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise SpeechoptError(f"{where}{bad[0]}{more}")
    return ids


def load_tts_data(artifact, source, max_items: int | None = None) -> TtsData:
    from speechopt.models.tts.artifact import tokenizer_of

    texts, audio, durations, names = read_texts(source, max_items)
    if not texts:
        raise SpeechoptError("no sentences to synthesize")
    where = f"{source}: " if not isinstance(source, (list, tuple)) else ""
    ids = encode_texts(tokenizer_of(artifact), texts, where)
    items = [{"tokens": np.array([x], np.int64), "lengths": np.array([len(x)], np.int64)} for x in ids]
    return TtsData(names, texts, items, audio, durations)
