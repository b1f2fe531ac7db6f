"""ASR inputs: audio loaded and featurized once, by the torch frontend, the same for every backend."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np



def frontend_config(artifact):
    from speechopt.audio.features import FrontendConfig

    return FrontendConfig.from_dict(artifact.required("frontend", "`frontend` settings"))


def tokenizer(artifact):
    from speechopt.text import CharTokenizer

    return CharTokenizer.from_dict(artifact.required("tokenizer", "a `tokenizer`"))


@dataclass
class AsrData:
    """Per-utterance model inputs, plus what scoring needs; `batch(idx)` pads a group for throughput."""

    names: list[str]  # file names, for messages
    audios: list[np.ndarray]
    items: list[dict]  # {"features": (1, T, F) float32, "lengths": (1,) int64}, one per utterance
    references: list[str] | None  # transcripts (None for plain audio files)
    durations: list[float]  # audio seconds
    frontend: object = field(repr=False, default=None)

    def __len__(self) -> int:
        return len(self.items)

    def batch(self, idx: list[int]) -> dict:
        feats, frames = self.frontend.from_arrays([self.audios[i] for i in idx])
        return {"features": feats.numpy(), "lengths": frames.numpy()}

    def subset(self, idx: list[int]) -> "AsrData":
        pick = lambda xs: None if xs is None else [xs[i] for i in idx]  # noqa: E731
        return AsrData(pick(self.names), pick(self.audios), pick(self.items), pick(self.references),
                       pick(self.durations), self.frontend)

    @property
    def lengths(self) -> list[int]:
        return [len(a) for a in self.audios]


def featurize(audios: list[np.ndarray], names: list[str], references, frontend) -> AsrData:
    items = []
    for audio in audios:
        feats, frames = frontend.from_arrays([audio])
        items.append({"features": feats.numpy(), "lengths": frames.numpy()})
    rate = frontend.config.sample_rate
    return AsrData(names, audios, items, references, [len(a) / rate for a in audios], frontend)


def load_manifest_data(artifact, manifest, max_items: int | None = None, progress: str | None = None) -> AsrData:
    """The utterances of a manifest (the first `max_items`), featurized for this artifact."""
    from speechopt.audio.features import Frontend
    from speechopt.audio.io import load_utterance_audio
    from speechopt.data.manifest import read_manifest

    utts = read_manifest(manifest)[:max_items]
    frontend = Frontend(frontend_config(artifact))
    audios = load_utterance_audio(utts, frontend.config.sample_rate, progress=progress)
    return featurize(audios, [u.audio_filepath.name for u in utts], [u.text for u in utts], frontend)


def load_audio_files(artifact, paths) -> AsrData:
    """Audio files at any rate (resampled), stereo downmixed: what `speechopt transcribe` reads."""
    from pathlib import Path

    from speechopt.audio.features import Frontend
    from speechopt.audio.io import load_audio

    frontend = Frontend(frontend_config(artifact))
    audios = [load_audio(p, frontend.config.sample_rate) for p in paths]
    return featurize(audios, [Path(p).name for p in paths], None, frontend)


def manifest_fields(frontend, tokenizer) -> dict:
    """What an asr artifact's manifest says for its task: frontend settings and the tokenizer."""
    return {"frontend": frontend.to_dict(), "tokenizer": tokenizer.to_dict()}
