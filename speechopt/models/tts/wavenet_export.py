"""Export config of the WaveNet vocoder: two graphs, the sample loop that drives them lives in the vocoder task.

- `conditioning`: mel (batch, frames, n_mels) float32 -> upsampled (batch, cond_channels, samples) float32,
  samples = frames x hop (the frame-rate conv and the learned upsampling; run once per utterance).
- `step`: one sample. prev_class (batch,) int64 (the class of the sample before; the silence class first),
  cond (batch, cond_channels) (the upsampled conditioning at this sample), u (batch,) float32 (a uniform
  draw: the randomness is an input, so two backends given the same draws can give the same samples),
  temperature (batch,) float32, queues (batch, sum of dilations, residual_channels) (layer after layer, each
  layer's inputs of the last dilation_i samples, oldest first; zeros at the start; `wavenet.split_queues`)
  -> sample (batch,) int64 (drawn in-graph by inverse CDF, `wavenet.draw`), logits (batch, classes) and
  new_queues.

Exporter: legacy (TorchScript-based): the dynamo exporter ties `samples` to `frames` by the hop (a derived
dimension), which the manifest's independent axes do not express; ONNX Runtime runs both graphs with
batch, frames and samples dynamic.
"""

from __future__ import annotations

import inspect

import numpy as np

from speechopt.errors import SpeechoptError
from speechopt.models.export_config import ExportConfig, tensor


def default_config() -> dict:
    from speechopt.models.tts.wavenet import WaveNet

    sig = inspect.signature(WaveNet.__init__)
    return {k: (list(p.default) if isinstance(p.default, tuple) else p.default)
            for k, p in sig.parameters.items() if k != "self"}


class WaveNetExportConfig(ExportConfig):
    tolerance = 1e-4

    def __init__(self, manifest: dict):
        super().__init__(manifest)
        self.config = {**default_config(), **self.config}

    @property
    def hop(self) -> int:
        return int(np.prod(self.config["upsample_scales"]))

    @property
    def dilations(self) -> list[int]:
        c = self.config
        return [2 ** (i % int(c["dilation_cycle"])) for i in range(int(c["layers"]))]

    def queue_tensor(self, prefix: str = "") -> dict:
        return tensor(f"{prefix}queues", "float32", "batch", sum(self.dilations), int(self.config["residual_channels"]))

    def graphs(self):
        c = self.config
        n_mels, classes, cc = int(c["n_mels"]), int(c["classes"]), int(c["cond_channels"])
        step_in = [tensor("prev_class", "int64", "batch"), tensor("cond", "float32", "batch", cc),
                   tensor("u", "float32", "batch"), tensor("temperature", "float32", "batch"), self.queue_tensor()]
        step_out = [tensor("sample", "int64", "batch"), tensor("logits", "float32", "batch", classes),
                    self.queue_tensor("new_")]
        return {"conditioning": ([tensor("mel", "float32", "batch", "frames", n_mels)],
                                 [tensor("upsampled", "float32", "batch", cc, "samples")]),
                "step": (step_in, step_out)}

    def modules(self, model):
        return model.export_modules()

    def _inputs(self, graph: str, batch: int, length: int, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        c = self.config
        if graph == "conditioning":
            mean, std = float(c["mel_mean"]), float(c["mel_std"])
            return {"mel": rng.normal(mean, std, (batch, length, int(c["n_mels"]))).astype(np.float32)}
        out = {"prev_class": rng.integers(0, int(c["classes"]), batch).astype(np.int64),
               "cond": rng.standard_normal((batch, int(c["cond_channels"]))).astype(np.float32),
               "u": rng.random(batch).astype(np.float32),
               "temperature": np.full(batch, 1.0, np.float32)}
        q = self.queue_tensor()
        out[q["name"]] = (0.5 * rng.standard_normal((batch, q["shape"][1], q["shape"][2]))).astype(np.float32)
        return out

    def example_inputs(self, graph: str) -> tuple:
        import torch

        return tuple(torch.from_numpy(v) for v in self._inputs(graph, 2, 3, seed=0).values())

    def check_inputs(self, graph: str) -> list[dict[str, np.ndarray]]:
        return [self._inputs(graph, 1, 2, seed=1), self._inputs(graph, 3, 5, seed=2)]

    def describe(self, graph, inputs):
        if graph == "conditioning":
            b, f, _ = inputs["mel"].shape
            return f"conditioning batch {b} x frames {f}"
        return f"step batch {inputs['prev_class'].shape[0]}"

    def check_record(self, graph, inputs):
        if graph == "conditioning":
            return {"batch": int(inputs["mel"].shape[0]), "frames": int(inputs["mel"].shape[1])}
        return {"batch": int(inputs["prev_class"].shape[0])}

    def compare(self, graph, inputs, ref, out):
        """Largest |difference| of the float outputs; the drawn sample may differ only where float rounding moves
        a class boundary past the draw (the logits then agree within the tolerance)."""
        worst = 0.0
        for name, a in ref.items():
            b = out[name]
            if a.shape != b.shape:
                raise SpeechoptError(f"output {name} of {graph} has shape {b.shape}, the source gives {a.shape}: "
                                     "a dynamic axis was frozen")
            if name == "sample":
                if np.mean(a == b) < 0.5:
                    raise SpeechoptError(f"{graph}: the drawn samples differ from the source's on "
                                         f"{np.mean(a != b):.0%} of the rows")
                continue
            if a.size:
                worst = max(worst, float(np.abs(a.astype(np.float64) - b).max()))
        return worst

    def onnx_exporters(self, model):
        return ["legacy"], ("WaveNet's sample axis is frames x hop, a derived dimension torch 2.13's dynamo exporter "
                            "would tie to frames; the legacy exporter keeps both dynamic")


__all__ = ["WaveNetExportConfig", "default_config"]
