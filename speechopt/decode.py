"""CTC decoding, shared by every backend so that drift figures measure the model, not the decoder."""

from __future__ import annotations

import numpy as np


def ctc_greedy(log_probs: np.ndarray, lengths: np.ndarray, tokenizer) -> list[str]:
    """Best path: argmax per frame, collapse repeats, drop blanks. log_probs (B, T, V), lengths (B,)."""
    best = np.asarray(log_probs).argmax(-1)
    texts = []
    for row, n in zip(best, np.asarray(lengths)):
        row = row[: int(n)]
        keep = np.ones(len(row), dtype=bool)
        keep[1:] = row[1:] != row[:-1]
        ids = row[keep]
        texts.append(tokenizer.decode(int(i) for i in ids if i != tokenizer.blank_id).strip())
    return texts
