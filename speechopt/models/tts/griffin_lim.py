"""Griffin-Lim in torch: log-mel -> waveform, deterministic, shared by every backend (no graph, no weights).

Settings (`GriffinLimSettings` defaults), stated once here:
- the mel (T, n_mels), in the acoustic model's `MelConfig` (denormalized, exp of the natural log), is turned
  into a linear spectrogram by the filterbank's pseudo-inverse (`MelExtractor.mel_to_linear`, clamped at 0)
  and, if the mel was of |STFT|**power, taken to the 1/power: the magnitude S (T, n_fft//2+1);
- fast Griffin-Lim (Perraudin, Balazs and Sondergaard 2013): for `n_iter` 32 iterations,
  x = istft(S * phase); rebuilt = stft(x); phase = rebuilt - m/(1+m) * previous rebuilt; phase /= |phase|,
  momentum m 0.99 (0 is the original Griffin and Lim 1983 algorithm), as torchaudio.functional.griffinlim;
- the STFT is the mel front end's own (n_fft, hop, Hann window of win_length, centred, reflect padding),
  so T frames give (T - 1) * hop samples;
- the initial phase is fixed: `init` "zeros" (phase 0 everywhere) or an int seed (uniform random phase from
  a torch generator with that seed): two runs of the same mel give the same samples;
- the waveform is returned as float32 without normalization (a model's absolute level is part of what it
  learned); callers writing 16-bit PCM clip to [-1, 1].
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np

from speechopt.errors import SpeechoptError


@dataclass(frozen=True)
class GriffinLimSettings:
    n_iter: int = 32
    momentum: float = 0.99
    init: str | int = "zeros"  # "zeros" or an int seed for a random initial phase

    def __post_init__(self) -> None:
        if self.n_iter < 0:
            raise SpeechoptError(f"Griffin-Lim n_iter must be >= 0, got {self.n_iter}")
        if not 0.0 <= self.momentum < 1.0:
            raise SpeechoptError(f"Griffin-Lim momentum must be in [0, 1), got {self.momentum}")
        if self.init != "zeros" and not isinstance(self.init, int):
            raise SpeechoptError(f"Griffin-Lim init must be 'zeros' or an integer seed, got {self.init!r}")

    def to_dict(self) -> dict:
        return {**asdict(self), "algorithm": "fast Griffin-Lim (Perraudin et al. 2013)",
                "mel_inversion": "filterbank pseudo-inverse, clamped at 0"}


@functools.lru_cache(maxsize=8)
def _extractor(mel_config):
    """One MelExtractor per mel settings: its filterbank pseudo-inverse costs ~0.2 s to compute."""
    from speechopt.audio.mel import MelExtractor

    return MelExtractor(mel_config)


def griffin_lim(mel, mel_config=None, settings: GriffinLimSettings | None = None, threads: int | None = 1,
                linear=None) -> np.ndarray:
    """Log-mel (T, n_mels) numpy or torch, in `mel_config`'s scale -> float32 waveform of (T - 1) * hop samples.
    With `linear` (T, n_fft / 2 + 1), ln of the linear magnitude (Tacotron's post-net), that magnitude is
    inverted instead of the mel's filterbank pseudo-inverse (the mel then only checks the shape).

    `threads`: torch intra-op threads while it runs (restored after; None leaves torch's setting). Default 1:
    the FFTs are small, and on this 2-core machine with the other core busy, 2 threads made a 2.5 s clip take
    6 s instead of 0.12 s."""
    from speechopt.threads import torch_threads

    with torch_threads(threads):
        return _griffin_lim(mel, mel_config, settings, linear)


def _griffin_lim(mel, mel_config, settings, linear=None) -> np.ndarray:
    import torch

    from speechopt.audio.mel import MelConfig

    mel_config = mel_config or MelConfig()
    settings = settings or GriffinLimSettings()
    mel = torch.as_tensor(np.asarray(mel, dtype=np.float32))
    if mel.ndim != 2 or mel.shape[1] != mel_config.n_mels:
        raise SpeechoptError(f"Griffin-Lim needs a mel of shape (frames, {mel_config.n_mels}), got {tuple(mel.shape)}")
    if mel.shape[0] < 2:
        raise SpeechoptError(f"Griffin-Lim needs at least 2 mel frames, got {mel.shape[0]}")
    c = mel_config
    extractor = _extractor(c)
    frames = mel.shape[0]
    length = (frames - 1) * c.hop_length
    # a clip shorter than half an FFT cannot be reflect-padded: pad with silence frames, trim at the end
    short = max(0, c.n_fft // (2 * c.hop_length) + 2 - frames)
    if short:
        mel = torch.cat([mel, torch.full((short, mel.shape[1]), float(c.floor))])
    with torch.no_grad():
        if linear is not None:
            lin = torch.as_tensor(np.asarray(linear, dtype=np.float32))
            if lin.shape != (frames, c.n_fft // 2 + 1):
                raise SpeechoptError(f"Griffin-Lim needs a linear magnitude of shape ({frames}, {c.n_fft // 2 + 1}), "
                                     f"got {tuple(lin.shape)}")
            if short:
                lin = torch.cat([lin, torch.full((short, lin.shape[1]), float(np.log(c.clamp)))])
            magnitude = torch.exp(lin).T  # ln|STFT| -> |STFT|, (freq, T)
        else:
            magnitude = extractor.mel_to_linear(mel).T  # (freq, T)
            if c.magnitude_power != 1.0:
                magnitude = magnitude.pow(1.0 / c.magnitude_power)
        padded_length = (mel.shape[0] - 1) * c.hop_length
        window = torch.hann_window(c.win_length)

        def stft(x):
            return torch.stft(x, c.n_fft, c.hop_length, c.win_length, window=window, center=True,
                              pad_mode="reflect", return_complex=True)

        def istft(spec):
            return torch.istft(spec, c.n_fft, c.hop_length, c.win_length, window=window, center=True,
                               length=padded_length)

        if settings.init == "zeros":
            angles = torch.ones_like(magnitude, dtype=torch.complex64)
        else:
            gen = torch.Generator().manual_seed(int(settings.init))
            phase = 2 * np.pi * torch.rand(magnitude.shape, generator=gen)
            angles = torch.polar(torch.ones_like(phase), phase)
        alpha = settings.momentum / (1.0 + settings.momentum)
        previous = torch.zeros_like(angles)
        for _ in range(settings.n_iter):
            rebuilt = stft(istft(magnitude * angles))
            angles = rebuilt - alpha * previous
            angles = angles / (angles.abs() + 1e-16)
            previous = rebuilt
        audio = istft(magnitude * angles)[:length]
    return audio.numpy().astype(np.float32)


class GriffinLim:
    """The `griffin-lim` vocoder as a registry architecture: no weights, settings only.

    `GriffinLim(**settings)(mel, mel_config)` -> waveform. It takes the acoustic model's mel settings, so
    it cannot mismatch them."""

    def __init__(self, n_iter: int = 32, momentum: float = 0.99, init="zeros"):
        self.settings = GriffinLimSettings(int(n_iter), float(momentum), init)

    def __call__(self, mel, mel_config=None) -> np.ndarray:
        return griffin_lim(mel, mel_config, self.settings)

    def state_dict(self) -> dict:  # no weights
        return {}


class GriffinLimExportConfig:
    """Griffin-Lim has no graphs: it stays a torch computation outside them, shared by every backend."""

    def __init__(self, manifest: dict):
        self.manifest = manifest

    def graphs(self) -> dict:
        return {}

    def modules(self, model) -> dict:
        return {}
