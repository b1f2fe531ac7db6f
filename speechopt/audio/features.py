"""Log-mel, MFCC and raw-waveform frontends in plain torch (no torchaudio), identical for every backend.

The frontend runs outside the exported acoustic model, so that ONNX, TorchScript and TensorRT variants
all see exactly the features the PyTorch model was trained on. Per-utterance mean/variance normalization
makes the features invariant to recording gain (a gain is an additive constant in the log domain).

The waveform frontend is for models that learn their own front end (wav2vec2): its "features" are the
samples themselves, (B, N, 1), one time step per sample.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class FrontendConfig:
    kind: str = "logmel"  # logmel | mfcc | waveform
    sample_rate: int = 16000
    n_fft: int = 400  # 25 ms window
    hop_length: int = 160  # 10 ms hop
    n_mels: int = 64
    n_mfcc: int = 20
    f_min: float = 0.0
    f_max: float | None = None
    normalize: str = "per_utterance"  # per_utterance | none

    @property
    def num_features(self) -> int:
        return {"mfcc": self.n_mfcc, "waveform": 1}.get(self.kind, self.n_mels)

    def num_frames(self, num_samples):
        """Frames produced for `num_samples` samples (centered STFT, or one per sample for waveform)."""
        if self.kind == "waveform":
            return num_samples
        return num_samples // self.hop_length + 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FrontendConfig":
        return cls(**d)


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


def mel_band_edges(n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """The n_mels + 2 HTK-mel-spaced frequencies (Hz) of the filterbank: filter i spans edges[i]..edges[i + 2]
    and peaks at edges[i + 1]."""
    return _mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """HTK-style triangular filters, shape (n_fft // 2 + 1, n_mels)."""
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_band_edges(n_mels, f_min, f_max)
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lower) / (center - lower)
    down = (upper - freqs[None, :]) / (upper - center)
    return np.maximum(0.0, np.minimum(up, down)).T.astype(np.float32)


def dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """Orthonormal DCT-II, shape (n_mels, n_mfcc)."""
    n = np.arange(n_mels)
    k = np.arange(n_mfcc)[:, None]
    dct = np.cos(math.pi / n_mels * (n + 0.5) * k) * math.sqrt(2.0 / n_mels)
    dct[0] *= 1.0 / math.sqrt(2.0)
    return dct.T.astype(np.float32)


# Wav2Vec2FeatureExtractor's epsilon in zero_mean_unit_var_norm, so imported models see what they were trained on.
WAVEFORM_NORM_EPS = 1e-7
KINDS = ("logmel", "mfcc", "waveform")


class Frontend:
    """Waveforms (B, N) + lengths (B,) -> features (B, T, F) + frame lengths (B,)."""

    def __init__(self, config: FrontendConfig):
        import torch

        self.config = config
        f_max = config.f_max or config.sample_rate / 2
        self._window = torch.hann_window(config.n_fft)
        self._mel = torch.from_numpy(mel_filterbank(config.sample_rate, config.n_fft, config.n_mels, config.f_min, f_max))
        self._dct = torch.from_numpy(dct_matrix(config.n_mfcc, config.n_mels)) if config.kind == "mfcc" else None
        if config.kind not in KINDS:
            from speechopt.errors import SpeechoptError

            raise SpeechoptError(f"unknown frontend kind {config.kind!r} ({', '.join(KINDS)})")

    def __call__(self, waveforms, lengths):
        import torch

        c = self.config
        if c.kind == "waveform":
            return self._waveform(waveforms, lengths)
        with torch.no_grad():
            # Zero (not reflect) centre padding: then an utterance's frames are the same alone or padded
            # in a batch, since batch padding is zeros too.
            spec = torch.stft(waveforms, c.n_fft, c.hop_length, window=self._window, center=True,
                              pad_mode="constant", return_complex=True)
            power = spec.real.square() + spec.imag.square()  # (B, n_fft//2+1, T)
            feats = torch.log(power.transpose(1, 2) @ self._mel + 1e-6)  # (B, T, n_mels)
            if self._dct is not None:
                feats = feats @ self._dct
            frames = c.num_frames(lengths).clamp(max=feats.shape[1])
            mask = (torch.arange(feats.shape[1])[None, :] < frames[:, None]).unsqueeze(-1)
            if c.normalize == "per_utterance":
                count = frames.clamp(min=1).to(feats.dtype)[:, None, None]
                mean = (feats * mask).sum(1, keepdim=True) / count
                var = ((feats - mean).square() * mask).sum(1, keepdim=True) / count
                feats = (feats - mean) / torch.sqrt(var + 1e-5)
            feats = feats * mask  # padding frames are exactly zero
        return feats.contiguous(), frames

    def _waveform(self, waveforms, lengths):
        """The samples as (B, N, 1), each utterance optionally at zero mean and unit variance over its own
        samples (as Wav2Vec2FeatureExtractor does for one utterance); padding stays exactly zero."""
        import torch

        with torch.no_grad():
            mask = torch.arange(waveforms.shape[1])[None, :] < lengths[:, None]
            x = waveforms * mask
            if self.config.normalize == "per_utterance":
                # float64 statistics: float32 sums over hundreds of thousands of samples lose precision
                x64 = x.to(torch.float64)
                count = lengths.clamp(min=1).to(torch.float64)[:, None]
                mean = x64.sum(1, keepdim=True) / count
                var = ((x64 - mean).square() * mask).sum(1, keepdim=True) / count
                x = ((x64 - mean) / torch.sqrt(var + WAVEFORM_NORM_EPS) * mask).to(waveforms.dtype)
        return x.unsqueeze(-1).contiguous(), lengths

    def from_arrays(self, audios: list[np.ndarray]):
        """Pad a list of 1-D float32 arrays into a batch and compute features."""
        import torch

        lengths = torch.tensor([len(a) for a in audios], dtype=torch.int64)
        batch = torch.zeros(len(audios), int(lengths.max()))
        for i, a in enumerate(audios):
            batch[i, : len(a)] = torch.from_numpy(a)
        return self(batch, lengths)
