"""Export config of the WaveNet vocoder: what its pytorch artifact declares.

- `model`: the teacher-forced network, audio_classes (batch, samples) int64 (mu-law classes of the true
  samples) and mel (batch, frames, n_mels) float32 -> logits (batch, classes, samples): the training graph,
  and what the quantization and accuracy checks of a vocoder compare. Generation is a loop over samples
  around the network (`WaveNet.generate`); its one-sample step with explicit per-layer queues is not an
  exported graph yet.
"""

from __future__ import annotations

import inspect

import numpy as np

from speechopt.models.export_config import ExportConfig, tensor


def default_config() -> dict:
    from speechopt.models.tts.wavenet import WaveNet

    sig = inspect.signature(WaveNet.__init__)
    return {k: (list(p.default) if isinstance(p.default, tuple) else p.default)
            for k, p in sig.parameters.items() if k != "self"}


class WaveNetExportConfig(ExportConfig):
    def __init__(self, manifest: dict):
        super().__init__(manifest)
        self.config = {**default_config(), **self.config}

    @property
    def hop(self) -> int:
        return int(np.prod(self.config["upsample_scales"]))

    def graphs(self):
        n_mels, classes = int(self.config["n_mels"]), int(self.config["classes"])
        inputs = [tensor("audio_classes", "int64", "batch", "samples"),
                  tensor("mel", "float32", "batch", "frames", n_mels)]
        return {"model": (inputs, [tensor("logits", "float32", "batch", classes, "samples")])}

    def _inputs(self, batch: int, frames: int, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {"audio_classes": rng.integers(0, int(self.config["classes"]), (batch, frames * self.hop)).astype(np.int64),
                "mel": rng.normal(-5.0, 2.0, (batch, frames, int(self.config["n_mels"]))).astype(np.float32)}

    def example_inputs(self, graph: str) -> tuple:
        import torch

        return tuple(torch.from_numpy(v) for v in self._inputs(2, 3, seed=0).values())

    def check_inputs(self, graph: str) -> list[dict[str, np.ndarray]]:
        return [self._inputs(1, 2, seed=1), self._inputs(3, 5, seed=2)]


__all__ = ["WaveNetExportConfig", "default_config"]
