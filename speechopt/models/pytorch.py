"""PyTorch artifacts: weights in safetensors, architecture rebuilt from the registry (nothing unpickled).

Every graph of a pytorch artifact lives in its one weights file: the graphs are modules of the rebuilt
model, named by the architecture's export config.
"""

from __future__ import annotations

from speechopt.artifact import Artifact, inherited_fields, write_artifact
from speechopt.errors import SpeechoptError
from speechopt.models.registry import get_architecture

WEIGHTS = "model.safetensors"


def save_pytorch_artifact(out, model, arch: str, config: dict, task_fields: dict, *, parent=None,
                          step=None, settings=None, metrics=None, overwrite=False) -> Artifact:
    """Write `model` as a pytorch artifact. `task_fields` is what the task reads from the manifest
    (ASR: {"frontend": ..., "tokenizer": ...} as dicts)."""
    from safetensors.torch import save_file

    from speechopt.models.export_config import manifest_graphs

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    a = get_architecture(arch)
    full = a.full_config(config)
    manifest = {"task": a.task, "format": "pytorch", "architecture": {"name": arch, "config": full}, **task_fields,
                "metrics": metrics or {}}
    manifest["graphs"] = manifest_graphs(a.export_config(manifest), lambda graph: WEIGHTS)
    return write_artifact(out, manifest, {WEIGHTS: lambda p: save_file(state, str(p))},
                          parent=parent, step=step, settings=settings, overwrite=overwrite)


def task_fields(artifact: Artifact) -> dict:
    """The manifest fields a derived artifact (pruned, fine-tuned) keeps from its parent for the task
    (frontend and tokenizer for ASR, tokenizer and mel settings for TTS); task and architecture are the saver's."""
    return {k: v for k, v in inherited_fields(artifact.manifest).items() if k not in ("task", "architecture")}


def load_pytorch_model(artifact: Artifact):
    """Rebuild the model from the registry and load its weights; returns the module in eval mode."""
    if artifact.format != "pytorch":
        raise SpeechoptError(f"{artifact.path}: expected a pytorch artifact, got {artifact.format}")
    arch = artifact.architecture
    model = get_architecture(arch["name"]).build(arch.get("config", {}))
    files = {g["file"] for g in artifact.graphs.values()}
    if len(files) != 1:
        raise SpeechoptError(f"{artifact.path}: a pytorch artifact keeps its weights in one file, the manifest names "
                             f"{sorted(files) or 'none'}")
    # a file the manifest lists, so load_artifact verified it
    return load_weights(model, artifact.file(files.pop()), arch["name"])


def load_weights(model, path, arch: str):
    """Load a safetensors file into `model` (strictly: every weight, no extra one); the model in eval mode.
    Safetensors holds tensors only, so nothing is unpickled whoever wrote the file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise SpeechoptError(f"{path}: cannot read weights ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise SpeechoptError(f"{path}: weights do not match architecture {arch} ({first})") from None
    return model.eval()


def graph_module(artifact: Artifact, model, graph: str):
    """The module computing `graph` of a pytorch artifact's rebuilt `model`."""
    modules = get_architecture(artifact.architecture["name"]).export_config(artifact.manifest).modules(model)
    if graph not in modules:
        raise SpeechoptError(f"{artifact.path}: architecture {artifact.architecture['name']} has no graph {graph!r}")
    return modules[graph]
