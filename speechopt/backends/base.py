"""The runner interface every backend implements.

A runner is made from an artifact, one of its graphs and a device; `activate()` loads that graph (imports
happen there, so `speechopt --help` stays instant and a missing runtime fails with one clear line),
`infer()` runs one call of named numpy inputs and returns named numpy outputs, `synchronize()` waits for
queued device work. A runner knows nothing of tasks: what the inputs mean and how several graphs are
driven (a decoder loop) belongs to `speechopt.tasks`.
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

    def __init__(self, artifact, device: str = "cpu", threads: int | None = None, graph: str | None = None):
        self.artifact = artifact
        self.device = device
        self.threads = threads
        self.spec = artifact.graph(graph)  # {file, inputs, outputs, dynamic_axes}
        self.graph = graph or next(n for n, g in artifact.graphs.items() if g is self.spec)
        self.active = False

    @property
    def path(self):
        """The graph's file: one the manifest lists, so load_artifact verified it."""
        return self.artifact.graph_path(self.graph)

    @property
    def input_dtypes(self) -> dict[str, np.dtype]:
        return {t["name"]: np.dtype(t["dtype"]) for t in self.spec["inputs"]}

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
        return [t["name"] for t in self.spec["inputs"]]

    @property
    def output_names(self) -> list[str]:
        return [t["name"] for t in self.spec["outputs"]]

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not self.active:
            raise RuntimeError(f"{type(self).__name__}.infer() called before activate()")
        missing = set(self.input_names) - set(inputs)
        if missing:
            raise SpeechoptError(f"{self.artifact.path}: graph {self.graph} is missing inputs {sorted(missing)}")
        return self._infer_impl({k: inputs[k] for k in self.input_names})

    def synchronize(self) -> None:
        """Wait until queued device work is done (no-op on CPU)."""

    def describe(self) -> dict:
        """What actually ran (provider lists, precision, ...) for the report."""
        return {"backend": self.backend, "device": self.device, "threads": self.threads, "graph": self.graph}

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


def create_runner(artifact, device: str = "cpu", threads: int | None = None, graph: str | None = None,
                  **options) -> Runner:
    """The runner for one graph (default: the only one) of this artifact on `device`; activation is left
    to the caller. `options` go to the runner class (e.g. a TensorRT profile for ONNX Runtime)."""
    target = _RUNNERS.get((artifact.format, device))
    if target is None:
        known = ", ".join(f"{f}@{d}" for f, d in sorted(_RUNNERS))
        hint = ("; for TensorRT, export to onnx (ONNX Runtime's TensorRT provider) or build an engine with "
                "`speechopt build`") if device == "tensorrt" else ""
        raise SpeechoptError(f"no runner for a {artifact.format} artifact on {device}{hint}; available: {known}")
    module, cls = target.split(":")
    runner_cls: Callable = getattr(importlib.import_module(module), cls)
    return runner_cls(artifact, device=device, threads=threads, graph=graph, **options)


def create_runners(artifact, device: str = "cpu", threads: int | None = None, options=None) -> dict[str, Runner]:
    """One runner per graph, in manifest order; `options(graph name) -> dict` gives per-graph runner options."""
    return {name: create_runner(artifact, device, threads, graph=name, **(options(name) if options else {}))
            for name in artifact.graphs}
