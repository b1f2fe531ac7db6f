"""Reading and writing audio with checks: every problem is one clear line naming the file."""

from __future__ import annotations

import logging
from math import gcd
from pathlib import Path

import numpy as np

from speechopt.errors import SpeechoptError

log = logging.getLogger(__name__)

# Peak amplitude below which a recording counts as silent (about -80 dBFS).
SILENCE_PEAK = 1e-4


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased) of float32 mono audio."""
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = gcd(int(orig_sr), int(target_sr))
    return resample_poly(audio, target_sr // g, orig_sr // g).astype(np.float32)


def load_audio(path: str | Path, sample_rate: int, allow_silent: bool = False) -> np.ndarray:
    """Load `path` as float32 mono at `sample_rate`.

    Stereo is downmixed and another sample rate is resampled (both logged once per file);
    a file that is not audio, is empty or is silent raises SpeechoptError.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise SpeechoptError(f"{path}: audio file does not exist")
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError or TypeError
        raise SpeechoptError(f"{path}: not a readable audio file ({str(exc).splitlines()[0]})") from None
    if audio.shape[0] == 0:
        raise SpeechoptError(f"{path}: audio is empty (0 samples)")
    if audio.shape[1] > 1:
        log.info("%s: %d channels, downmixed to mono", path, audio.shape[1])
    audio = audio.mean(axis=1)
    if sr != sample_rate:
        log.info("%s: resampled from %d Hz to %d Hz", path, sr, sample_rate)
        audio = resample(audio, sr, sample_rate)
    if not allow_silent and float(np.abs(audio).max()) < SILENCE_PEAK:
        raise SpeechoptError(f"{path}: audio is silent (peak below {SILENCE_PEAK:g})")
    return audio


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM; the format follows the suffix (.wav or .flac)."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16")


def iter_utterance_audio(utterances, sample_rate: int, progress: str | None = None, chunk: int = 64):
    """Waveforms of `utterances`, `chunk` at a time: a caller that keeps only features never holds them all."""
    from speechopt.progress import progress_bar

    with progress_bar(len(utterances), progress or "loading audio") as advance:
        for start in range(0, len(utterances), chunk):
            audios = [load_audio(u.audio_filepath, sample_rate) for u in utterances[start : start + chunk]]
            advance(len(audios))
            yield audios


def load_utterance_audio(utterances, sample_rate: int, progress: str | None = None) -> list[np.ndarray]:
    return [a for audios in iter_utterance_audio(utterances, sample_rate, progress) for a in audios]
