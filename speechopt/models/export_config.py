"""Per-architecture export configs: which graphs a model is cut into and how each one is fed.

In the manner of Optimum's per-family ONNX configs: a config, registered beside its architecture, names
the graphs (an ASR model is one graph; Tacotron 2 is an encoder, a decoder step with explicit state and a
postnet), each graph's inputs and outputs with dtypes and named dynamic dimensions, the module that
computes it, example inputs to trace it with, inputs of shapes the export never saw (to catch a frozen
dynamic axis), how two of its outputs are compared, and the tolerance. The export step, the torch runner
and the pytorch artifact's manifest all read the graphs from here.
"""

from __future__ import annotations

import numpy as np

from speechopt.errors import SpeechoptError


def tensor(name: str, dtype: str, *shape) -> dict:
    """A graph input or output: strings in `shape` are named dynamic dimensions, integers fixed."""
    return {"name": name, "dtype": dtype, "shape": list(shape)}


class ExportConfig:
    """The interface, with the one-graph defaults; subclasses describe their graphs."""

    tolerance: float = 1e-3  # fp32: exporters reorder float ops; diffs measured here are ~1e-6

    def __init__(self, manifest: dict):
        self.manifest = manifest
        self.config = (manifest.get("architecture") or {}).get("config", {})

    # -- what the graphs are -------------------------------------------------------------------------
    def graphs(self) -> dict[str, tuple[list[dict], list[dict]]]:
        """{graph name: (inputs, outputs)}, in the order a driver runs them."""
        raise NotImplementedError

    def modules(self, model) -> dict:
        """{graph name: torch module computing it} for a model built from the registry."""
        return {"model": model}

    # -- how to export and check them ----------------------------------------------------------------
    def export_form(self, graph: str, module, to: str, layout: str = "auto"):
        """(module handed to the exporter for format `to`, a note for the manifest or None). By default the
        module itself; a model may trace a numerically equivalent form that the target runtime runs faster
        (`layout` auto|native|planar). Export checks always compare against the module as trained."""
        if layout == "planar":
            raise SpeechoptError(f"{self.manifest.get('architecture', {}).get('name', 'this model')} has no planar "
                                 "form; drop --layout")
        return module, None

    def example_inputs(self, graph: str) -> tuple:
        """Torch tensors to trace/export `graph` with (no axis 1 or equal to another by accident)."""
        raise NotImplementedError

    def dynamic_shapes(self, graph: str, example) -> tuple:
        """torch.export's `dynamic_shapes` for `graph`, positional, one entry per input: one Dim per named
        dimension, shared by every input that names it (a time axis needing a lower bound overrides this)."""
        from torch.export import Dim

        inputs, _ = self.graphs()[graph]
        dims: dict = {}
        return tuple({i: dims.setdefault(d, Dim(d)) for i, d in enumerate(t["shape"]) if isinstance(d, str)}
                     for t in inputs)

    def min_steps(self, graph: str) -> int | None:
        """The lower bound of the time axis given to torch.export, recorded in the manifest."""
        return None

    def check_inputs(self, graph: str) -> list[dict[str, np.ndarray]]:
        """Inputs of batch sizes and lengths the export never saw."""
        raise NotImplementedError

    def describe(self, graph: str, inputs: dict) -> str:
        """A shape check's inputs, for messages."""
        return f"{graph} inputs " + ", ".join(f"{k} {list(v.shape)}" for k, v in inputs.items())

    def check_record(self, graph: str, inputs: dict) -> dict:
        """What the manifest records of one shape check's inputs."""
        return {k: list(v.shape) for k, v in inputs.items()}

    def compare(self, graph: str, inputs: dict, ref: dict, out: dict) -> float:
        """Largest |difference| between two outputs of `graph` over what is valid; raises on a shape mismatch."""
        worst = 0.0
        for name, a in ref.items():
            b = out[name]
            if a.shape != b.shape:
                raise SpeechoptError(f"output {name} has shape {b.shape}, the source gives {a.shape}: "
                                     "a dynamic axis was frozen")
            if a.size and np.issubdtype(a.dtype, np.floating):
                worst = max(worst, float(np.abs(a.astype(np.float64) - b).max()))
            elif not np.array_equal(a, b):
                raise SpeechoptError(f"output {name} differs from the source's")
        return worst

    def onnx_exporters(self, model) -> tuple[list[str], str]:
        """The ONNX exporters to try in order, and why.

        Measured with torch 2.13 / onnxscript 0.7.2: dynamo=True fails on LSTM/GRU models with a symbolic
        time axis (ConversionError while decomposing aten.lstm; research notes saw it silently freeze T on
        other RNN layouts), while the legacy exporter keeps batch and time dynamic and emits native ONNX
        LSTM nodes (what TensorRT's parser wants). Without recurrent layers dynamo works (diffs ~1e-6) but
        is ~20x slower, so it goes first with legacy as the fallback.
        """
        from torch import nn

        preferred = getattr(model, "onnx_exporter", None)  # a model that knows which exporter suits it
        if preferred:
            return [preferred], getattr(model, "onnx_exporter_reason", f"{type(model).__name__} prefers {preferred}")
        if any(isinstance(m, nn.RNNBase) for m in model.modules()):
            return ["legacy"], ("model has LSTM/GRU layers: torch 2.13's dynamo exporter cannot keep their time "
                                "axis dynamic")
        return ["dynamo", "legacy"], "no recurrent layers: dynamo first, legacy if it fails the dynamic-shape check"

    def graph_file(self, graph: str, suffix: str) -> str:
        return f"{graph}.{suffix}"


def manifest_graphs(export_config: ExportConfig, file_for) -> dict:
    """The manifest's `graphs` section: `file_for(graph name) -> file name` (a pytorch artifact's graphs
    all live in one weights file)."""
    from speechopt.artifact import graph_entry

    return {name: graph_entry(file_for(name), inputs, outputs)
            for name, (inputs, outputs) in export_config.graphs().items()}
