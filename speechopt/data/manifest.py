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


# The first bytes of audio files people pass where a manifest belongs (`eval --data clip.flac`).
AUDIO_SIGNATURES = {b"fLaC": "FLAC", b"RIFF": "WAV", b"OggS": "Ogg", b"ID3": "MP3", b"FORM": "AIFF"}
AUDIO_SUFFIXES = {".flac", ".wav", ".mp3", ".ogg", ".opus", ".m4a", ".aiff", ".aif"}


def _audio_kind(path: Path) -> str | None:
    """The kind of audio ("FLAC", "WAV", ...) the file looks like by its first bytes or its name, else None."""
    with path.open("rb") as f:
        head = f.read(12)
    kind = next((name for magic, name in AUDIO_SIGNATURES.items() if head.startswith(magic)), None)
    if kind is None and head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):  # MP3 frame sync
        kind = "MP3"
    if kind is None and path.suffix.lower() in AUDIO_SUFFIXES:
        kind = path.suffix.lstrip(".").upper()
    return kind


def _not_a_manifest(path: Path) -> SpeechoptError:
    """One line saying what the file is instead, and what to do with it."""
    kind = _audio_kind(path)
    if kind:
        return SpeechoptError(f"{path}: this is {kind} audio, not a manifest (JSONL, one utterance a line with "
                              "audio_filepath and text); to transcribe audio files use "
                              "`speechopt transcribe ARTIFACT AUDIO...`")
    return SpeechoptError(f"{path}: not a manifest (a UTF-8 JSONL file, one utterance a line with "
                          "audio_filepath and text)")


def read_manifest(path: str | Path, check_files: bool = True, require_text: bool = True) -> list[Utterance]:
    """Read a manifest; a malformed line or a missing audio file is an error naming file and line.

    `require_text`: every row needs a `text` field (the transcript to score or train on; it may be empty).
    Without it (`False`: audio to synthesize from or to transcribe) a missing text reads as "".
    """
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.jsonl"
    if not path.is_file():
        raise SpeechoptError(f"{path}: manifest not found")
    try:
        lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines(): U+2028 may be in a text
    except UnicodeDecodeError:
        raise _not_a_manifest(path) from None
    utterances = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if not utterances and _audio_kind(path):
                raise _not_a_manifest(path) from None
            raise SpeechoptError(f"{where}: not a manifest line (JSONDecodeError: {exc})") from None
        if not isinstance(row, dict):
            raise SpeechoptError(f"{where}: not a manifest line (a JSON object is expected, got {type(row).__name__})")
        if "audio_filepath" not in row:
            raise SpeechoptError(f"{where}: no `audio_filepath` field")
        if require_text and "text" not in row:
            raise SpeechoptError(f"{where}: no `text` field (the transcript; an empty string is allowed)")
        try:
            audio = Path(row["audio_filepath"])
            duration = float(row.get("duration", 0.0))
            text = str(row.get("text", ""))
        except (TypeError, ValueError) as exc:
            raise SpeechoptError(f"{where}: not a manifest line ({type(exc).__name__}: {exc})") from None
        if not audio.is_absolute():
            audio = path.parent / audio
        if check_files and not audio.is_file():
            raise SpeechoptError(f"{where}: audio file {audio} does not exist")
        extra = tuple((k, v) for k, v in row.items() if k not in ("audio_filepath", "duration", "text"))
        utterances.append(Utterance(audio, duration, text, extra))
    if not utterances:
        raise SpeechoptError(f"{path}: manifest has no utterances")
    return utterances


def write_manifest(path: str | Path, utterances: list[Utterance]) -> None:
    path = Path(path)
    lines = [json.dumps(u.to_json(path.parent), ensure_ascii=False) for u in utterances]
    atomic_write_text(path, "\n".join(lines) + "\n")
