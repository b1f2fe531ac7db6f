"""Export config of FastSpeech: one graph, `model`.

- `model`: tokens (batch, text) int64 (0 = padding), lengths (batch,) int64, duration_scale (batch,) float32
  (multiplies the predicted durations before rounding: 1 = as trained, > 1 slower)
  -> mel (batch, frames, n_mels) float32 (zero past each sentence's length), mel_lengths (batch,) int64,
  durations (batch, text) int64 (frames per token, 0 on padding).

`frames` is data-dependent: the sum of the predicted durations. The length regulator builds it with
CumSum, Range, Less/GreaterOrEqual and MatMul, so ONNX keeps it dynamic; the shape checks use other batch
sizes, text lengths and duration scales than the export (so another frame count) and padded batches.

Exporter: legacy (TorchScript-based) only: torch 2.13's dynamo exporter would need an unbacked symbol for
the data-dependent frame count (`FastSpeech.onnx_exporter`).
"""

from __future__ import annotations

import inspect

import numpy as np

from speechopt.models.export_config import ExportConfig, tensor

EXAMPLE_SHAPE = (2, 7)  # (batch, text)
CHECK_SHAPES = ((1, 3, 1.0), (3, 11, 1.7), (2, 19, 0.6))  # (batch, text, duration scale)


def default_config() -> dict:
    from speechopt.models.tts.fastspeech import FastSpeech

    sig = inspect.signature(FastSpeech.__init__)
    return {k: p.default for k, p in sig.parameters.items() if k != "self"}


class FastSpeechExportConfig(ExportConfig):
    tolerance = 1e-4  # one graph, no feedback loop: measured differences ~1e-6

    def __init__(self, manifest: dict):
        super().__init__(manifest)
        self.config = {**default_config(), **self.config}

    @property
    def n_mels(self) -> int:
        return int(self.config["n_mels"])

    def graphs(self):
        inputs = [tensor("tokens", "int64", "batch", "text"), tensor("lengths", "int64", "batch"),
                  tensor("duration_scale", "float32", "batch")]
        outputs = [tensor("mel", "float32", "batch", "frames", self.n_mels), tensor("mel_lengths", "int64", "batch"),
                   tensor("durations", "int64", "batch", "text")]
        return {"model": (inputs, outputs)}

    def modules(self, model):
        return model.export_modules()

    def _inputs(self, batch: int, length: int, scale: float, seed: int) -> dict[str, np.ndarray]:
        """The first sentence full length, the others shorter (padded with 0); ids >= 2, each ending in EOS (1)."""
        rng = np.random.default_rng(seed)
        lengths = np.array([max(1, length - (length * i) // 3) for i in range(batch)], np.int64)
        tokens = rng.integers(2, int(self.config["vocab_size"]), (batch, length)).astype(np.int64)
        tokens[np.arange(batch), lengths - 1] = 1
        tokens[np.arange(length)[None, :] >= lengths[:, None]] = 0
        scales = (scale * (1.0 + 0.25 * np.arange(batch))).astype(np.float32)
        return {"tokens": tokens, "lengths": lengths, "duration_scale": scales}

    def example_inputs(self, graph: str) -> tuple:
        import torch

        return tuple(torch.from_numpy(v) for v in self._inputs(*EXAMPLE_SHAPE, 1.0, seed=0).values())

    def check_inputs(self, graph: str) -> list[dict[str, np.ndarray]]:
        return [self._inputs(b, n, s, seed=1 + i) for i, (b, n, s) in enumerate(CHECK_SHAPES)]

    def describe(self, graph, inputs):
        b, n = inputs["tokens"].shape
        return f"{graph} batch {b} x text {n}, duration scale {np.round(inputs['duration_scale'], 2).tolist()}"

    def check_record(self, graph, inputs):
        b, n = inputs["tokens"].shape
        return {"batch": int(b), "text": int(n), "duration_scale": [round(float(s), 4) for s in inputs["duration_scale"]]}

    def onnx_exporters(self, model):
        return ["legacy"], ("FastSpeech's frame count is data-dependent (the sum of predicted durations): the legacy "
                            "exporter keeps it dynamic (CumSum/Range/MatMul); torch 2.13's dynamo exporter needs an "
                            "unbacked symbol for it")


__all__ = ["FastSpeechExportConfig", "default_config"]
