"""JSONL speech manifests: one utterance a line with `audio_filepath`, `duration` and `text`.

This is the convention NeMo and many others use. Relative audio paths are resolved against the
manifest's folder, so a corpus folder can be moved as a whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from speechopt.errors import SpeechoptError
from speechopt.io import atomic_write_text


@dataclass(frozen=True)
class Utterance:
    audio_filepath: Path
    duration: float
    text: str
    extra: tuple = ()

    def to_json(self, base: Path | None = None) -> dict:
        path = self.audio_filepath
        if base is not None:
            try:
                path = path.relative_to(base)
            except ValueError:
                pass
        d = {"audio_filepath": str(path), "duration": round(self.duration, 4), "text": self.text}
        d.update(dict(self.extra))
        return d


def read_manifest(path: str | Path, check_files: bool = True) -> list[Utterance]:
    """Read a manifest; a malformed line or a missing audio file is an error naming file and line."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.jsonl"
    if not path.is_file():
        raise SpeechoptError(f"{path}: manifest not found")
    utterances = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                audio = Path(row["audio_filepath"])
                duration = float(row.get("duration", 0.0))
                text = str(row.get("text", ""))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise SpeechoptError(f"{path}:{lineno}: not a manifest line ({type(exc).__name__}: {exc})") from None
            if not audio.is_absolute():
                audio = path.parent / audio
            if check_files and not audio.is_file():
                raise SpeechoptError(f"{path}:{lineno}: audio file {audio} does not exist")
            extra = tuple((k, v) for k, v in row.items() if k not in ("audio_filepath", "duration", "text"))
            utterances.append(Utterance(audio, duration, text, extra))
    if not utterances:
        raise SpeechoptError(f"{path}: manifest has no utterances")
    return utterances


def write_manifest(path: str | Path, utterances: list[Utterance]) -> None:
    path = Path(path)
    lines = [json.dumps(u.to_json(path.parent), ensure_ascii=False) for u in utterances]
    atomic_write_text(path, "\n".join(lines) + "\n")
