"""Seeded degradations of a speech corpus: speed, additive noise, reverberation, a telephone band.

`augment_corpus(src, out, settings)` writes a new corpus (audio/ and manifest.jsonl) with one degraded copy
of each utterance of `src`, what was done recorded in its manifest row (`augment`). Utterance i draws from
`random.Random(seed * 1_000_003 + i)`, so the same command makes the same corpus, bit for bit, and one
utterance's draws do not depend on another's. In this order, each with its probability:

- speed perturbation (Ko et al. 2015, as Kaldi does it): resampled by a factor from `speeds` (0.9, 1.0, 1.1),
  which changes tempo and pitch together;
- reverberation: a synthetic room impulse response, not a measured or simulated room: a unit direct path,
  then exponentially decaying Gaussian noise (amplitude exp(-6.91 t / RT60), i.e. -60 dB at RT60) starting
  2.5 ms later, RT60 uniform in `rt60` (0.2-0.8 s), the tail scaled to a direct-to-reverberant ratio
  uniform in `drr_db` (0-10 dB); the output is rescaled to the input's peak;
- additive noise at an SNR uniform in `snr_db` (5-30 dB over the whole utterance's power): white, pink
  (1/f power, shaped in the frequency domain) or babble (three to five other utterances of the corpus,
  summed, looped to length);
- a telephone band: down to 8 kHz, a 4th-order Butterworth band-pass of 300-3400 Hz, back to 16 kHz.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from speechopt.errors import SpeechoptError

SAMPLE_RATE = 16000
NOISES = ("white", "pink", "babble")


@dataclass(frozen=True)
class AugmentSettings:
    seed: int = 0
    speeds: tuple = (0.9, 1.0, 1.1)
    p_reverb: float = 0.5
    rt60: tuple = (0.2, 0.8)
    drr_db: tuple = (0.0, 10.0)
    p_noise: float = 0.8
    snr_db: tuple = (5.0, 30.0)
    noises: tuple = NOISES
    p_telephone: float = 0.1

    def check(self) -> None:
        for name in ("p_reverb", "p_noise", "p_telephone"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise SpeechoptError(f"{name.replace('_', '-')} is a probability in [0, 1], got {v}")
        if not self.speeds or any(not 0.5 <= s <= 2.0 for s in self.speeds):
            raise SpeechoptError(f"speed factors must lie in [0.5, 2], got {list(self.speeds)}")
        for name, lo, hi in (("rt60", 0.05, 3.0), ("snr_db", -10.0, 60.0), ("drr_db", -20.0, 30.0)):
            a, b = getattr(self, name)
            if not lo <= a <= b <= hi:
                raise SpeechoptError(f"{name.replace('_', '-')} range must satisfy {lo} <= low <= high <= {hi}, "
                                     f"got {a}:{b}")
        unknown = [n for n in self.noises if n not in NOISES]
        if unknown or not self.noises:
            raise SpeechoptError(f"unknown noise {unknown[0] if unknown else '(none)'!r}; choose from {', '.join(NOISES)}")


def speed(audio: np.ndarray, factor: float) -> np.ndarray:
    from speechopt.audio.io import resample

    if factor == 1.0:
        return audio
    # played `factor` times faster: resample to SR / factor, read back at SR
    return resample(audio, SAMPLE_RATE, int(round(SAMPLE_RATE / factor)))


def room_impulse_response(rng: np.random.Generator, rt60: float, drr_db: float) -> np.ndarray:
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.91 * t / rt60)
    tail[: int(0.0025 * SAMPLE_RATE)] = 0.0
    tail *= 10 ** (-drr_db / 20) / max(np.sqrt(np.sum(tail**2)), 1e-12)
    tail[0] = 1.0  # the direct path
    return tail.astype(np.float32)


def reverberate(audio: np.ndarray, rir: np.ndarray) -> np.ndarray:
    from scipy.signal import fftconvolve

    out = fftconvolve(audio, rir)[: len(audio)]
    peak = float(np.abs(out).max()) or 1.0
    return (out * (float(np.abs(audio).max()) / peak)).astype(np.float32)


def noise(rng: np.random.Generator, kind: str, n: int, babble_sources=None) -> np.ndarray:
    if kind == "white":
        return rng.standard_normal(n).astype(np.float32)
    if kind == "pink":
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.arange(len(spec), dtype=np.float64)
        spec[1:] /= np.sqrt(f[1:])
        spec[0] = 0.0
        return np.fft.irfft(spec, n).astype(np.float32)
    out = np.zeros(n, np.float32)
    for src in babble_sources:
        out += np.resize(src / (np.sqrt(np.mean(src**2)) + 1e-12), n)
    return out


def add_noise(audio: np.ndarray, noise_signal: np.ndarray, snr_db: float) -> np.ndarray:
    power = float(np.mean(audio**2)) or 1e-12
    scale = np.sqrt(power / (10 ** (snr_db / 10)) / (float(np.mean(noise_signal**2)) or 1e-12))
    return (audio + scale * noise_signal).astype(np.float32)


def telephone(audio: np.ndarray) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    from speechopt.audio.io import resample

    narrow = resample(audio, SAMPLE_RATE, 8000)
    sos = butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
    return resample(sosfiltfilt(sos, narrow).astype(np.float32), 8000, SAMPLE_RATE)


def augment_one(audio: np.ndarray, index: int, settings: AugmentSettings, others) -> tuple[np.ndarray, dict]:
    """(degraded audio, what was done) for utterance `index`; `others(rng, k)` gives k other utterances."""
    rng = random.Random(settings.seed * 1_000_003 + index)
    nrng = np.random.default_rng(rng.randrange(2**32))
    done: dict = {}
    factor = rng.choice(list(settings.speeds))
    if factor != 1.0:
        audio, done["speed"] = speed(audio, factor), factor
    if rng.random() < settings.p_reverb:
        rt60, drr = rng.uniform(*settings.rt60), rng.uniform(*settings.drr_db)
        audio = reverberate(audio, room_impulse_response(nrng, rt60, drr))
        done["reverb"] = {"rt60": round(rt60, 3), "drr_db": round(drr, 2), "rir": "synthetic exponential decay"}
    if rng.random() < settings.p_noise:
        kind, snr = rng.choice(list(settings.noises)), rng.uniform(*settings.snr_db)
        sources = others(rng, rng.randint(3, 5)) if kind == "babble" else None
        audio = add_noise(audio, noise(nrng, kind, len(audio), sources), snr)
        done["noise"] = {"kind": kind, "snr_db": round(snr, 2)}
    if rng.random() < settings.p_telephone:
        audio, done["telephone"] = telephone(audio), "8 kHz, 300-3400 Hz"
    peak = float(np.abs(audio).max())
    if peak > 0.99:  # noise on a loud utterance: scale down rather than clip
        audio = audio * (0.99 / peak)
    return audio.astype(np.float32), done


def augment_corpus(src, out, settings: AugmentSettings, overwrite: bool = False, progress=None) -> Path:
    """A degraded copy of every utterance of the corpus `src` (a manifest or its folder) under `out`."""
    from speechopt.audio.io import load_audio, write_audio
    from speechopt.io import atomic_dir, atomic_write_text

    settings.check()
    src = Path(src)
    manifest = src / "manifest.jsonl" if src.is_dir() else src
    if not manifest.is_file():
        raise SpeechoptError(f"{manifest}: manifest not found")
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        raise SpeechoptError(f"{manifest}: no utterances")

    def path_of(row):
        p = Path(row["audio_filepath"])
        return p if p.is_absolute() else manifest.parent / p

    def others(rng, k):  # babble: other utterances of the corpus, chosen by the utterance's own generator
        return [load_audio(path_of(rows[rng.randrange(len(rows))]), SAMPLE_RATE) for _ in range(k)]

    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        lines = []
        for i, row in enumerate(rows):
            audio, done = augment_one(load_audio(path_of(row), SAMPLE_RATE), i, settings, others)
            rel = Path("audio") / (Path(row["audio_filepath"]).stem + ".flac")
            write_audio(tmp / rel, audio, SAMPLE_RATE)
            lines.append(json.dumps({**row, "audio_filepath": str(rel), "duration": round(len(audio) / SAMPLE_RATE, 4),
                                     "augment": done}, ensure_ascii=False))
            if progress is not None:
                progress(1)
        atomic_write_text(tmp / "manifest.jsonl", "\n".join(lines) + "\n")
        atomic_write_text(tmp / "augment.json", json.dumps({"source": str(manifest), **asdict(settings)}, indent=1) + "\n")
    return Path(out) / "manifest.jsonl"


__all__ = ["AugmentSettings", "augment_corpus", "augment_one", "room_impulse_response", "speed", "telephone",
           "add_noise", "noise", "NOISES"]
