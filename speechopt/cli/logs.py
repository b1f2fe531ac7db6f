"""Where log lines go: speechopt's own INFO lines always reach stderr, other libraries' only with -v/--debug.

The CLI used to call `logging.basicConfig(level=INFO)`, which set the root logger to INFO and let every
library's chatter into normal output: ONNX Runtime's quantizer ("Performing symbolic shape
inference...", "Quantization parameters for tensor ... not specified", which it logs on the root logger
itself), matplotlib's "generated new fontManager".
"""

from __future__ import annotations

import logging
import sys


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record arrives (test runners swap it between invocations)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler assigns it; the current sys.stderr is always used
        pass


def configure_logging(verbose: bool = False, debug: bool = False) -> None:
    """Set levels for this invocation; the one handler sits on the root logger (installed once).

    A handler on the root logger also keeps `logging.info()` from calling basicConfig() behind our back.
    """
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        root.addHandler(_StderrHandler())
    root.setLevel(logging.INFO if (verbose or debug) else logging.WARNING)
    logging.getLogger("speechopt").setLevel(logging.DEBUG if debug else logging.INFO)
