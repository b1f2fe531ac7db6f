"""Mel spectrograms for the TTS models (acoustic model targets and vocoder inputs), in plain torch.

Choices (`MelConfig` defaults), stated once here; an acoustic model and a vocoder record them in their
manifests and must agree:

- 16 kHz mono; STFT with a Hann window of `win_length` 800 samples (50 ms) zero-padded to `n_fft` 1024,
  hop 200 samples (12.5 ms, 80 frames a second); centred frames with reflect padding, so an utterance of
  N samples has N // hop + 1 frames.
- Magnitude (not power) spectrum, `n_mels` 80 HTK-style triangular filters from `f_min` 0 Hz to `f_max`
  8000 Hz without area normalization (`speechopt.audio.features.mel_filterbank`, the same filters as the
  ASR front end).
- Log compression: natural log of the mel magnitudes clamped below at `clamp` 1e-5 (values in [-11.5, ~3]).
- Normalization: "none" (the log-mel values as they are); "scale" maps [log(clamp), `scale_max`] linearly
  to [-1, 1] (`normalize` / `denormalize`). No per-utterance statistics: a TTS model must produce absolute
  levels.

Griffin-Lim needs the linear magnitude spectrogram back: `MelExtractor.filterbank` is the (n_fft//2+1,
n_mels) matrix and `mel_to_linear` applies its pseudo-inverse (clamped at zero).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from speechopt.audio.features import mel_filterbank
from speechopt.errors import SpeechoptError

NORMALIZATIONS = ("none", "scale")


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 800
    hop_length: int = 200
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float = 8000.0
    magnitude_power: float = 1.0  # 1: magnitude, 2: power
    log: str = "ln_clamp"  # natural log of max(mel, clamp)
    clamp: float = 1e-5
    normalize: str = "none"  # none | scale
    scale_max: float = 3.0  # for normalize="scale": log value mapped to +1

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZATIONS:
            raise SpeechoptError(f"unknown mel normalization {self.normalize!r} ({', '.join(NORMALIZATIONS)})")
        if self.log != "ln_clamp":
            raise SpeechoptError(f"unknown mel log compression {self.log!r} (ln_clamp)")
        if self.win_length > self.n_fft:
            raise SpeechoptError(f"win_length {self.win_length} is longer than n_fft {self.n_fft}")

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def num_frames(self, num_samples: int) -> int:
        return int(num_samples) // self.hop_length + 1

    @property
    def floor(self) -> float:
        """The (normalized) value of silence."""
        return self.normalize_value(math.log(self.clamp))

    def normalize_value(self, x):
        if self.normalize == "scale":
            lo = math.log(self.clamp)
            return (x - lo) / (self.scale_max - lo) * 2.0 - 1.0
        return x

    def denormalize_value(self, x):
        if self.normalize == "scale":
            lo = math.log(self.clamp)
            return (x + 1.0) / 2.0 * (self.scale_max - lo) + lo
        return x

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MelConfig":
        return cls(**d)

    def describe(self) -> str:
        return (f"{self.sample_rate} Hz, n_fft {self.n_fft}, win {self.win_length}, hop {self.hop_length}, "
                f"{self.n_mels} mels {self.f_min:g}-{self.f_max:g} Hz, power {self.magnitude_power:g}, "
                f"{self.log} {self.clamp:g}, normalize {self.normalize}")


class MelExtractor:
    """float32 waveform(s) (N,) or (B, N) -> log-mel (T, n_mels) or (B, T, n_mels)."""

    def __init__(self, config: MelConfig | None = None):
        import torch

        self.config = config or MelConfig()
        c = self.config
        self.window = torch.hann_window(c.win_length)
        fb = mel_filterbank(c.sample_rate, c.n_fft, c.n_mels, c.f_min, c.f_max or c.sample_rate / 2)
        self.filterbank = torch.from_numpy(fb)  # (n_fft//2+1, n_mels)
        self._pinv = None

    def magnitude(self, audio):
        """Linear |STFT|**power, (B, T, n_fft//2+1)."""
        import torch

        c = self.config
        spec = torch.stft(audio, c.n_fft, c.hop_length, c.win_length, window=self.window, center=True,
                          pad_mode="reflect", return_complex=True)
        return spec.abs().pow(c.magnitude_power).transpose(-1, -2)

    def __call__(self, audio):
        import torch

        if isinstance(audio, np.ndarray):
            audio = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        c = self.config
        with torch.no_grad():
            mel = self.magnitude(audio) @ self.filterbank
            return self.config.normalize_value(torch.log(mel.clamp(min=c.clamp)))

    def mel_to_linear(self, mel):
        """Log-mel (normalized as configured) -> linear magnitude spectrogram (..., T, n_fft//2+1), through
        the filterbank's pseudo-inverse, clamped at zero. The starting point of Griffin-Lim."""
        import torch

        if self._pinv is None:
            self._pinv = torch.linalg.pinv(self.filterbank)  # (n_mels, n_fft//2+1)
        m = torch.exp(self.config.denormalize_value(mel))
        return (m @ self._pinv).clamp(min=0.0)
