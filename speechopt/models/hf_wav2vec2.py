"""Hugging Face Wav2Vec2ForCTC behind speechopt's ASR interface: raw waveform in, CTC log-probs out.

The architecture's config is the model's own config.json (plus `n_features`, always 1: one sample per
time step), so the module is rebuilt from transformers' code and its weights are loaded from safetensors
like every other architecture's; nothing is fetched from the Hugging Face hub. transformers is imported
only when a model is built.
"""

from __future__ import annotations

import contextlib
import importlib

import torch
from torch import nn

from speechopt.errors import BackendUnavailable

ARCH = "hf-wav2vec2-ctc"
INSTALL_HINT = "pip install 'speechopt[hf]'"


def require_transformers():
    """The transformers module, or one line saying how to install it."""
    try:
        import transformers
    except ImportError:
        raise BackendUnavailable(f"Hugging Face wav2vec2 models need transformers; {INSTALL_HINT}") from None
    return transformers


def hf_config(config: dict):
    """A Wav2Vec2Config from a config.json dict (speechopt's own keys removed)."""
    transformers = require_transformers()
    return transformers.Wav2Vec2Config.from_dict({k: v for k, v in config.items() if k != "n_features"})


def _without_random_init():
    """transformers' context for building a model whose weights are loaded right after: randomly initializing
    a base-size wav2vec2 took 6 s here. A no-op where this transformers version has none."""
    for module in ("transformers.initialization", "transformers.modeling_utils"):  # transformers 5, 4
        with contextlib.suppress(ImportError, AttributeError):
            return importlib.import_module(module).no_init_weights()
    return contextlib.nullcontext()


class HFWav2Vec2CTC(nn.Module):
    """forward(features (B, N, 1) float32 samples, lengths (B,) int64) -> (log_probs (B, T', V), out_lengths (B,))."""

    # Read by speechopt.steps.export for --exporter auto. Measured with torch 2.13 / transformers 5.24 on a
    # 2-layer model: both exporters keep batch and samples dynamic and agree with eager to ~1e-6, but dynamo
    # took 20 s (and failed to down-convert to opset 17) where legacy took 0.7 s.
    onnx_exporter = "legacy"
    onnx_exporter_reason = "transformers model: the legacy exporter keeps batch and samples dynamic, ~30x faster than dynamo"

    def __init__(self, n_features: int = 1, **config):
        super().__init__()
        transformers = require_transformers()
        cfg = hf_config(config)
        # Every caller loads all weights next, strictly (the import refuses a checkpoint with missing ones).
        with _without_random_init():
            self.model = transformers.Wav2Vec2ForCTC(cfg)
        # HF's documented use: models with group-norm feature encoders (wav2vec2-base) were trained without an
        # attention mask and must get zero-padded input and no mask; layer-norm ones (lv60, large) get a mask.
        self.uses_attention_mask = cfg.feat_extract_norm == "layer"

    def forward(self, features: torch.Tensor, lengths: torch.Tensor):
        samples = features.squeeze(-1)
        mask = None
        if self.uses_attention_mask:
            mask = (torch.arange(samples.shape[1], device=samples.device)[None, :] < lengths[:, None]).long()
        logits = self.model(samples, attention_mask=mask).logits
        out_lengths = self.model._get_feat_extract_output_lengths(lengths).clamp(min=0).to(torch.int64)
        return torch.log_softmax(logits, dim=-1), out_lengths
