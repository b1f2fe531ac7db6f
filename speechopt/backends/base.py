"""The runner interface every backend implements.

A runner is made from an artifact and a device; `activate()` loads the model (imports happen there, so
`speechopt --help` stays instant and a missing runtime fails with one clear line), `infer()` runs one
batch of named numpy inputs and returns named numpy outputs, `synchronize()` waits for queued device work.
Runners do not time anything: the bench harness does, around `infer()` + `synchronize()`.
Public methods check state; subclasses implement the `_impl` methods (the Polygraphy runner pattern).
"""

from __future__ import annotations

import importlib
from typing import Callable

import numpy as np

from speechopt.errors import SpeechoptError


class Runner:
    backend: str = "base"

    def __init__(self, artifact, device: str = "cpu", threads: int | None = None):
        self.artifact = artifact
        self.device = device
        self.threads = threads
        self.active = False

    # -- lifecycle -----------------------------------------------------------------------------------
    def activate(self) -> "Runner":
        if not self.active:
            self._activate_impl()
            self.active = True
        return self

    def deactivate(self) -> None:
        if self.active:
            self._deactivate_impl()
            self.active = False

    def __enter__(self) -> "Runner":
        return self.activate()

    def __exit__(self, *exc) -> None:
        self.deactivate()

    # -- inference -----------------------------------------------------------------------------------
    @property
    def input_names(self) -> list[str]:
        return [t["name"] for t in self.artifact.manifest["signature"]["inputs"]]

    @property
    def output_names(self) -> list[str]:
        return [t["name"] for t in self.artifact.manifest["signature"]["outputs"]]

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not self.active:
            raise RuntimeError(f"{type(self).__name__}.infer() called before activate()")
        missing = set(self.input_names) - set(inputs)
        if missing:
            raise SpeechoptError(f"{self.artifact.path}: missing inputs {sorted(missing)}")
        return self._infer_impl({k: inputs[k] for k in self.input_names})

    def synchronize(self) -> None:
        """Wait until queued device work is done (no-op on CPU)."""

    def describe(self) -> dict:
        """What actually ran (provider lists, precision, ...) for the report."""
        return {"backend": self.backend, "device": self.device, "threads": self.threads}

    # -- to implement --------------------------------------------------------------------------------
    def _activate_impl(self) -> None:
        raise NotImplementedError

    def _deactivate_impl(self) -> None:
        pass

    def _infer_impl(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError


# (artifact format, device) -> "module:Class". A device is "cpu" or "cuda"; the backend names the user
# gives to `bench --backend` map onto these in `resolve_backend`.
_RUNNERS: dict[tuple[str, str], str] = {}


def register_runner(fmt: str, devices: tuple[str, ...], target: str) -> None:
    for device in devices:
        _RUNNERS[(fmt, device)] = target


def list_backends() -> list[tuple[str, str]]:
    return sorted(_RUNNERS)


def create_runner(artifact, device: str = "cpu", threads: int | None = None) -> Runner:
    """The runner for this artifact's format on `device`; activation is left to the caller."""
    target = _RUNNERS.get((artifact.format, device))
    if target is None:
        known = ", ".join(f"{f}@{d}" for f, d in sorted(_RUNNERS))
        hint = ("; for TensorRT, export to onnx (ONNX Runtime's TensorRT provider) or build an engine with "
                "`speechopt build`") if device == "tensorrt" else ""
        raise SpeechoptError(f"no runner for a {artifact.format} artifact on {device}{hint}; available: {known}")
    module, cls = target.split(":")
    runner_cls: Callable = getattr(importlib.import_module(module), cls)
    return runner_cls(artifact, device=device, threads=threads)
