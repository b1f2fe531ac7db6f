"""Export config of the CTC acoustic models (cnn-ctc, lstm-ctc, crnn-ctc, separable-ctc, hf-wav2vec2-ctc): one graph.

features (batch, frames, F) float32 + lengths (batch,) int64 -> log_probs (batch, out_frames, V) +
out_lengths (batch,). The shape tables count 10 ms frames; a waveform model's time axis is samples, so
its examples and checks are scaled by the samples per 10 ms (37 samples would be shorter than
wav2vec2's first convolution window).
"""

from __future__ import annotations

import numpy as np

from speechopt.errors import SpeechoptError
from speechopt.models.export_config import ExportConfig, tensor

# Exports trace a batch of 2 utterances of different lengths (so no axis is 1 or equal by accident);
# the dynamic-shape check then runs batch sizes and lengths (odd and even) that the export never saw.
EXAMPLE_FRAMES = (160, 117)
DYNAMIC_CHECK_SHAPES = ((1, 37), (3, 101), (3, 263))
# torch.export needs a lower bound on the time axis; 8 frames = 80 ms, shorter than any real utterance.
MIN_FRAMES = 8


class CtcExportConfig(ExportConfig):
    @property
    def n_features(self) -> int:
        return int(self.config["n_features"])

    @property
    def time_scale(self) -> int:
        """Model time steps per 10 ms frame: 1 for spectral features, samples per 10 ms for waveforms."""
        frontend = self.manifest.get("frontend") or {}
        return int(frontend.get("sample_rate", 16000)) // 100 if frontend.get("kind") == "waveform" else 1

    def graphs(self):
        inputs = [tensor("features", "float32", "batch", "frames", self.n_features),
                  tensor("lengths", "int64", "batch")]
        outputs = [tensor("log_probs", "float32", "batch", "out_frames", int(self.config["vocab_size"])),
                   tensor("out_lengths", "int64", "batch")]
        return {"model": (inputs, outputs)}

    def example_inputs(self, graph="model"):
        import torch

        generator = torch.Generator().manual_seed(0)
        steps = [f * self.time_scale for f in EXAMPLE_FRAMES]
        features = torch.randn(len(steps), max(steps), self.n_features, generator=generator)
        lengths = torch.tensor(steps, dtype=torch.int64)
        return features * _frame_mask(lengths, features.shape[1]), lengths

    def min_steps(self, graph="model") -> int:
        return MIN_FRAMES * self.time_scale

    def dynamic_shapes(self, graph, example):
        from torch.export import Dim

        batch, frames = Dim("batch", min=1), Dim("frames", min=self.min_steps(graph))
        return ({0: batch, 1: frames}, {0: batch})

    def check_inputs(self, graph="model"):
        out = []
        for seed, (batch, frames) in enumerate(DYNAMIC_CHECK_SHAPES):
            features, lengths = _random_batch(batch, frames * self.time_scale, self.n_features, seed,
                                              self.min_steps(graph))
            out.append({"features": features, "lengths": lengths})
        return out

    def describe(self, graph, inputs):
        b, t = inputs["features"].shape[:2]
        return f"batch {b} x {t} frames"

    def check_record(self, graph, inputs):
        b, t = inputs["features"].shape[:2]
        return {"batch": int(b), "frames": int(t)}

    def compare(self, graph, inputs, ref, out):
        """Log-probs over each utterance's valid frames; the output lengths must be equal."""
        lp, ref_lp = out["log_probs"], ref["log_probs"]
        if lp.shape != ref_lp.shape or not np.array_equal(out["out_lengths"], ref["out_lengths"]):
            raise SpeechoptError(f"exported model gives shape {lp.shape} for {self.describe(graph, inputs)}, "
                                 f"the source gives {ref_lp.shape}: a dynamic axis was frozen")
        return max(float(np.abs(lp[i, :n] - ref_lp[i, :n]).max()) for i, n in enumerate(ref["out_lengths"]))


class SeparableCtcExportConfig(CtcExportConfig):
    """separable-ctc exports to ONNX in its planar form by default (`speechopt.models.planar`): ONNX Runtime
    then runs its depthwise convs in blocked NCHWc kernels (zoo:separable-ctc-student on zoo:eval at one
    thread: fp32 1.35 ms against 3.02 ms, uint8 static int8 0.69 against 0.90; benchmarks/results/
    separable-ctc-peers.md). `--layout native` traces the model as trained, as other formats always do."""

    def export_form(self, graph, module, to, layout="auto"):
        if layout == "planar" and to != "onnx":
            raise SpeechoptError("--layout planar is for --to onnx (ONNX Runtime's NCHWc kernels)")
        if layout == "native" or to != "onnx":
            return module, None
        return module.to_planar(), "planar: Conv2d (1, k) on (N, C, 1, T), the same weights"


def _frame_mask(lengths, frames: int):
    import torch

    return (torch.arange(frames)[None, :] < lengths[:, None]).unsqueeze(-1).to(torch.float32)


def _random_batch(batch: int, frames: int, n_features: int, seed: int, min_frames: int):
    """Zero-padded features like the frontend's: the first utterance is full length, the others shorter."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([max(min_frames, frames - (frames * i) // 3) for i in range(batch)], dtype=torch.int64)
    features = torch.randn(batch, frames, n_features, generator=generator)
    return (features * _frame_mask(lengths, frames)).numpy(), lengths.numpy()
