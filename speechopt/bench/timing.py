"""Latency measurement: warm-up, then repeats until both a minimum count and a minimum duration.

Raw timings are kept so every percentile a report prints can be traced back. The harness times
`runner.infer()` followed by `runner.synchronize()`, so asynchronous device work is included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)

    def percentiles_ms(self) -> dict:
        if not self.seconds:
            return {"p50": None, "p90": None, "p99": None, "mean": None}
        ms = np.asarray(self.seconds) * 1000.0
        return {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
                "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())}


def measure(fn: Callable[[int], None], n_items: int, warmup: int, min_iters: int, min_seconds: float,
            max_seconds: float = 600.0) -> Timings:
    """Call `fn(i)` for i cycling over `n_items` inputs; warm-up calls are not recorded."""
    for i in range(warmup):
        fn(i % n_items)
    timings = Timings()
    start = time.perf_counter()
    i = 0
    while True:
        t0 = time.perf_counter()
        fn(i % n_items)
        timings.seconds.append(time.perf_counter() - t0)
        i += 1
        elapsed = time.perf_counter() - start
        if (i >= min_iters and elapsed >= min_seconds) or elapsed >= max_seconds:
            return timings
