"""Alignment health of attention TTS models, from one sentence's attention matrix (numpy, no torch).

Definitions (used by training validation and, later, `speechopt eval`):
- path p_t = argmax_n A[t, n] over the generated decoder steps t < S, tokens n < N (N counts the EOS token);
- monotonic: the path never falls more than `max_back` (1) token below the furthest token it has reached
  so far (so a slow backward drift fails too), never jumps forward more than
  `max_jump` (4) tokens in one step, and reaches the last `end_slack` + 1 (3) tokens (it read the whole
  text). A sentence whose attention skips words, repeats or stops reading early is not monotonic;
- diagonality: the share of attention mass within |n/N - t/S| <= `band` (0.2) of the straight diagonal
  (1.0 for a perfectly linear reading; speech with pauses is a little below);
- focus: mean over steps of max_n A[t, n] (1.0 = every step looks at one token).
"""

from __future__ import annotations

import numpy as np


def alignment_health(attention, text_len: int, steps: int | None = None, max_back: int = 1, max_jump: int = 4,
                     end_slack: int = 2, band: float = 0.2, spoken_len: int | None = None) -> dict:
    """`spoken_len`: the tokens up to the last spoken one (default `text_len`): the path must reach the last
    `end_slack` + 1 of those (a duration model gives trailing silent tokens zero frames)."""
    a = np.asarray(attention, dtype=np.float64)
    steps = a.shape[0] if steps is None else int(steps)
    a = a[:steps, :text_len]
    if steps == 0 or text_len == 0:
        return {"monotonic": False, "diagonality": 0.0, "focus": 0.0, "max_back": 0, "max_jump": 0, "reached": 0}
    path = a.argmax(axis=1)
    diff = np.diff(path) if steps > 1 else np.zeros(0, dtype=np.int64)
    back = int((np.maximum.accumulate(path) - path).max())
    jump = int(max(0, diff.max())) if diff.size else 0
    reached = int(path.max())
    t = (np.arange(steps)[:, None] + 0.5) / steps
    n = (np.arange(text_len)[None, :] + 0.5) / text_len
    diag = float((a * (np.abs(n - t) <= band)).sum() / max(a.sum(), 1e-9))
    must_reach = (text_len if spoken_len is None else min(int(spoken_len), text_len)) - 1 - end_slack
    return {"monotonic": bool(back <= max_back and jump <= max_jump and reached >= must_reach),
            "diagonality": diag, "focus": float(a.max(axis=1).mean()), "max_back": back, "max_jump": jump,
            "reached": reached}
