"""torch's intra-op thread count for the length of a `with` block."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Set torch's intra-op threads to `threads` (None: leave them) and restore the previous count after."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)
