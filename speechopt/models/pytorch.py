"""PyTorch artifacts: weights in safetensors, architecture rebuilt from the registry (nothing unpickled)."""

from __future__ import annotations

from pathlib import Path

from speechopt.artifact import Artifact, write_artifact
from speechopt.errors import SpeechoptError
from speechopt.models.registry import get_architecture

WEIGHTS = "model.safetensors"


def asr_signature(n_features: int, vocab_size: int) -> dict:
    return {
        "inputs": [
            {"name": "features", "dtype": "float32", "shape": ["batch", "frames", n_features]},
            {"name": "lengths", "dtype": "int64", "shape": ["batch"]},
        ],
        "outputs": [
            {"name": "log_probs", "dtype": "float32", "shape": ["batch", "out_frames", vocab_size]},
            {"name": "out_lengths", "dtype": "int64", "shape": ["batch"]},
        ],
    }


def save_pytorch_artifact(out, model, arch: str, config: dict, frontend, tokenizer, *, parent=None,
                          step=None, settings=None, metrics=None, overwrite=False) -> Artifact:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    a = get_architecture(arch)
    full = a.full_config(config)
    manifest = {
        "task": a.task,
        "format": "pytorch",
        "architecture": {"name": arch, "config": full},
        "frontend": frontend.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "signature": asr_signature(full["n_features"], full["vocab_size"]),
        "metrics": metrics or {},
    }
    return write_artifact(out, manifest, {WEIGHTS: lambda p: save_file(state, str(p))},
                          parent=parent, step=step, settings=settings, overwrite=overwrite)


def load_pytorch_model(artifact: Artifact):
    """Rebuild the model from the registry and load its weights; returns the module in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if artifact.format != "pytorch":
        raise SpeechoptError(f"{artifact.path}: expected a pytorch artifact, got {artifact.format}")
    arch = artifact.architecture
    model = get_architecture(arch["name"]).build(arch.get("config", {}))
    path = Path(artifact.path) / WEIGHTS
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise SpeechoptError(f"{path}: cannot read weights ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise SpeechoptError(f"{path}: weights do not match architecture {arch['name']} ({first})") from None
    return model.eval()
