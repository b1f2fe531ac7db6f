"""Progress bars for long work (rich), quiet when output is not a terminal or when disabled."""

from __future__ import annotations

import contextlib
import os
import sys


def _enabled() -> bool:
    return sys.stderr.isatty() and not os.environ.get("SPEECHOPT_NO_PROGRESS")


@contextlib.contextmanager
def progress_bar(total: int | None, description: str | bool):
    """Yield `advance(n=1)`; draws a bar on stderr when it is a terminal (never for `description=False`)."""
    if description is False or not _enabled():
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
