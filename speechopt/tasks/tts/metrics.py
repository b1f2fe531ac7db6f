"""Mel-domain quality figures of TTS outputs (numpy/scipy, no torch): mel L1, MCD with DTW.

mel L1: the mean absolute difference of two mels (frames, n_mels) in the model's own mel scale (the
artifact's `MelConfig`: natural-log magnitudes, normalized as configured) over their common length,
min(T_a, T_b) frames; a length difference is reported separately, not folded in.

MCD (mel-cepstral distortion, dB), stated because the common tools disagree (`tts.md` 5.1):
- cepstrum of a frame: the real cepstrum of its natural-log mel envelope on the (uniform) mel axis,
  c_m = (1/N) sum_{n<N} ln M_n cos(pi m (n + 1/2) / N) for N mel bins (the mel denormalized first), i.e.
  ln M(w) ~ c_0 + 2 sum_m c_m cos(m w), the expansion SPTK's mel-cepstra use; computed as
  `scipy.fft.dct(type=2) / (2 N)`. (An orthonormal DCT would scale every c_m by sqrt(2 N), 12.6 for 80 mels,
  and give MCDs of ~50 dB where the usual scale is ~5);
- cepstral order 13: coefficients c_1..c_13; **c_0 (the frame's energy) is excluded**;
- per frame pair: MCD = 10 / ln(10) * sqrt(2 * sum_{d=1..13} (c_d - c'_d)^2) dB, the constant
  10 * sqrt(2) / ln(10) = 6.1418 of Kubichek 1993;
- averaged over frame pairs: pairs 1:1 when the lengths are equal; when they differ, the pairs of a DTW path
  (steps (1,0), (0,1), (1,1), Euclidean distance on c_1..c_13, every pair on the path counted once).
This is computed from mels, not from waveforms through SPTK's mel-cepstrum (ESPnet: order 23 at 16 kHz
with c0; pymcd: order 13 from WORLD): numbers are comparable between speechopt runs, not across tools.
"""

from __future__ import annotations

import math

import numpy as np

MCD_ORDER = 13
MCD_CONSTANT = 10.0 * math.sqrt(2.0) / math.log(10.0)
MCD_DESCRIPTION = (f"MCD = 10*sqrt(2)/ln(10) * sqrt(sum_d (c_d - c'_d)^2), d = 1..{MCD_ORDER} (c0 excluded), "
                   "c_m = (1/N) sum_n ln(mel_n) cos(pi m (n + 1/2) / N) (real cepstrum of the natural-log mel, N bins); "
                   "mean over frames, DTW-aligned when lengths differ")


def mel_cepstrum(mel, mel_config=None, order: int = MCD_ORDER) -> np.ndarray:
    """(frames, n_mels) log-mel in `mel_config`'s scale -> (frames, order) cepstra c_1..c_order."""
    from scipy.fft import dct

    mel = np.asarray(mel, dtype=np.float64)
    if mel_config is not None:
        mel = np.asarray(mel_config.denormalize_value(mel), dtype=np.float64)
    return dct(mel, type=2, axis=-1)[..., 1 : order + 1] / (2.0 * mel.shape[-1])


def dtw_path(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs of the minimum-cost DTW path between frame sequences a (N, D) and b (M, D), Euclidean."""
    n, m = len(a), len(b)
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):  # row by row: the diagonal and vertical moves vectorized, the horizontal scanned
        row = cost[i - 1] + np.minimum(acc[i - 1, 1:], acc[i - 1, :-1])
        out = acc[i]
        prev = np.inf
        for j in range(m):
            prev = min(row[j], cost[i - 1, j] + prev)
            out[j + 1] = prev
    i, j, ii, jj = n, m, [], []
    while i > 0 and j > 0:
        ii.append(i - 1)
        jj.append(j - 1)
        moves = (acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
        k = int(np.argmin(moves))
        i, j = (i - 1, j - 1) if k == 0 else (i - 1, j) if k == 1 else (i, j - 1)
    return np.array(ii[::-1]), np.array(jj[::-1])


def mcd(ref_mel, mel, mel_config=None, order: int = MCD_ORDER) -> dict:
    """{"mcd_db", "frames", "dtw"}: the MCD of the module docstring between two mels."""
    a, b = mel_cepstrum(ref_mel, mel_config, order), mel_cepstrum(mel, mel_config, order)
    if not len(a) or not len(b):
        return {"mcd_db": None, "frames": 0, "dtw": False}
    if len(a) == len(b):
        ia = ib = np.arange(len(a))
        aligned = False
    else:
        ia, ib = dtw_path(a, b)
        aligned = True
    per_frame = MCD_CONSTANT * np.sqrt(((a[ia] - b[ib]) ** 2).sum(-1))
    return {"mcd_db": float(per_frame.mean()), "frames": int(len(ia)), "dtw": aligned}


def mel_l1(ref_mel, mel) -> float | None:
    """Mean |difference| over the common length (None when either mel is empty)."""
    n = min(len(ref_mel), len(mel))
    if n == 0:
        return None
    return float(np.abs(np.asarray(ref_mel[:n], np.float64) - np.asarray(mel[:n], np.float64)).mean())
