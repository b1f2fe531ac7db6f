"""The Torch-TensorRT path: torch.export the PyTorch model, compile it with Torch-TensorRT (dynamo), save it.

Single-graph (an ASR model: features (B, T, F) and lengths (B,)). The pure parts (the torch.export step,
the partition summary, the compile and save settings per release) are unit-tested on CPU; the calls into
Torch-TensorRT (`build_torch_tensorrt`) were written against pytorch/TensorRT's sources for 2.x (see
docs/gpu.md) but have **not been run on a GPU** in this repository's CI.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from pathlib import Path
from typing import Iterable

from speechopt.errors import BackendUnavailable, SpeechoptError, first_line


def example_sizes(profile: dict) -> tuple[int, int]:
    """(batch, frames) of the example inputs for torch.export: the opt shape, but >= 2 where the range allows.

    torch.export specializes a dimension whose example size is 1 (it becomes static), so a dynamic axis
    needs an example of at least 2. Used both for the export and for Torch-TensorRT's re-export on save.
    """
    (b1, t1), (b2, t2) = profile["opt"], profile["max"]
    return min(max(b1, 2), b2), min(max(t1, 2), t2)


def export_for_tensorrt(model, profile: dict, n_features: int, device: str = "cuda"):
    """torch.export the model with a shared dynamic batch and a dynamic frame axis bounded by `profile`.

    The batch Dim is shared by features and lengths (the model multiplies them together; per-input Dims
    would violate that constraint). LSTM/GRU layers are exported through torch's while_loop
    decomposition (a private torch API, used when present), without which torch.export specializes the
    frame axis to the example length. Runs on CPU too (unit-tested there).
    """
    import torch

    (b0, t0), (b2, t2) = profile["min"], profile["max"]
    Dim = torch.export.Dim
    frames = Dim("frames", min=t0, max=t2)
    eb, et = example_sizes(profile)
    batch = Dim("batch", min=b0, max=b2) if b2 > b0 else None
    dynamic = {"features": {1: frames, **({0: batch} if batch else {})}, "lengths": ({0: batch} if batch else {})}
    features = torch.randn(eb, et, n_features, device=device)
    lengths = torch.full((eb,), et, dtype=torch.int64, device=device)
    with contextlib.ExitStack() as stack:
        try:
            from torch.export import _patches

            for cls, name in ((torch.nn.LSTM, "register_lstm_while_loop_decomposition"),
                              (torch.nn.GRU, "register_gru_while_loop_decomposition")):
                if hasattr(_patches, name) and any(isinstance(m, cls) for m in model.modules()):
                    stack.enter_context(getattr(_patches, name)())
        except ImportError:
            pass
        try:
            # Deferred runtime asserts: lstm-ctc's frame-stacking reshape yields guards the solver cannot
            # prove for every T; as runtime asserts they hold and T stays dynamic.
            return torch.export.export(model, (features, lengths), dynamic_shapes=dynamic,
                                       prefer_deferred_runtime_asserts_over_guards=True)
        except Exception as exc:  # noqa: BLE001 - torch.export raises many types; the first lines say why
            first = str(exc).strip().splitlines()
            raise SpeechoptError(f"torch.export cannot export this model with a dynamic frame axis "
                                 f"({type(exc).__name__}: {' '.join(first[:2])})") from None


def partition_summary(graph_module) -> dict:
    """Which parts of a Torch-TensorRT module run in TensorRT and which fell back to PyTorch.

    Torch-TensorRT names its TensorRT submodules `_run_on_acc_N` and the PyTorch ones `_run_on_gpu_N`
    (names checked in pytorch/TensorRT's dynamo compiler and partitioner).
    """
    acc, fallback, ops = [], [], set()
    for name, child in graph_module.named_children():
        if "_run_on_acc" in name:
            acc.append(name)
        elif name.startswith("_run_on_"):
            fallback.append(name)
            graph = getattr(child, "graph", None)
            for node in (graph.nodes if graph is not None else []):
                if node.op == "call_function":
                    ops.add(getattr(node.target, "__name__", str(node.target)))
    return {"tensorrt_subgraphs": len(acc), "pytorch_subgraphs": len(fallback), "fallback": bool(fallback),
            "fallback_ops": sorted(ops)[:20]}


def torch_tensorrt_compile_settings(precision: str, accepted: Iterable[str], *, workspace_mb: int,
                                    timing_cache: Path | None, version_compatible: bool, hardware: str,
                                    version: str = "") -> dict:
    """Keyword arguments for `torch_tensorrt.dynamo.compile` on the installed release.

    `accepted` is that function's parameter names. fp16: releases with `enable_autocast` cast the graph
    to fp16 (strongly typed, the only mode on TensorRT 11); the "Autocast and Precision Management"
    docs pair it with use_explicit_typing=True where that switch exists. Older releases use weak typing,
    enabled_precisions={fp16} with use_explicit_typing=False where the switch exists (releases defaulting
    it to True refuse enabled_precisions: pytorch/TensorRT#4070). fp32 disables TF32, as the native build
    clears BuilderFlag.TF32. A setting the release does not take is an error, not silently dropped.
    """
    import torch

    accepted = set(accepted)
    wanted = {"workspace_size": int(workspace_mb) << 20, "version_compatible": bool(version_compatible),
              "hardware_compatible": hardware == "ampere_plus"}
    if timing_cache is not None:
        wanted["timing_cache_path"] = str(timing_cache)
    if precision == "fp32":
        wanted["disable_tf32"] = True
    elif precision == "fp16":
        if "enable_autocast" in accepted:
            wanted.update(enable_autocast=True, autocast_low_precision_type=torch.float16)
            if "use_explicit_typing" in accepted:
                wanted["use_explicit_typing"] = True
        else:
            wanted["enabled_precisions"] = {torch.float16}
            if "use_explicit_typing" in accepted:
                wanted["use_explicit_typing"] = False
    missing = sorted(set(wanted) - accepted)
    if missing:
        raise SpeechoptError(f"torch-tensorrt {version or '(installed)'} does not accept {', '.join(missing)}")
    return wanted


def torch_tensorrt_save_settings(save_params: Iterable[str], profile: dict, n_features: int,
                                 device: str = "cuda") -> dict:
    """Keyword arguments for `torch_tensorrt.save` that keep the saved program's batch and frame axes dynamic.

    `save` re-exports the compiled module from the example inputs (retrace=True is the default since
    pytorch/TensorRT#3875); releases that take `dynamic_shapes` get the profile's Dims, and the examples
    use >= 2 where the range allows (a size-1 example is specialized, see `example_sizes`). A release
    with `retrace` but no `dynamic_shapes` would re-export static shapes, so there retrace=False
    serializes the compiled graph's own symbolic shapes instead (save docstring).
    """
    import torch

    save_params = set(save_params)
    eb, et = example_sizes(profile)
    example = [torch.randn(eb, et, int(n_features), device=device),
               torch.full((eb,), et, dtype=torch.int64, device=device)]
    kwargs = {"output_format": "exported_program", "arg_inputs": example}
    if "dynamic_shapes" in save_params:
        (b0, t0), (b2, t2) = profile["min"], profile["max"]
        batch = torch.export.Dim("batch", min=b0, max=b2) if b2 > b0 else None
        frames = torch.export.Dim("frames", min=t0, max=t2)
        # Positional form (one entry per forward argument): independent of placeholder names.
        kwargs["dynamic_shapes"] = ({1: frames, **({0: batch} if batch else {})}, ({0: batch} if batch else {}))
    elif "retrace" in save_params:
        kwargs["retrace"] = False
    return kwargs


def build_torch_tensorrt(source, profile: dict, shapes: dict, precision: str, workspace_mb: int,
                         timing_cache: Path | None, version_compatible: bool, hardware: str, log):
    """Compile the PyTorch model with Torch-TensorRT (dynamo). Needs TensorRT and a GPU (not run in CI).

    `source` is the pytorch artifact, `profile` its (batch, frames) profile and `shapes` the per-input
    shapes (profiles.tensor_shapes). Returns (write(path) callable, info). LSTM/GRU layers have no
    Torch-TensorRT converter, so they run in PyTorch between TensorRT blocks; the manifest records which
    ops fell back.
    """
    import torch
    import torch_tensorrt

    from speechopt.env import torch_tensorrt_pairing
    from speechopt.models.pytorch import load_pytorch_model

    pairing = torch_tensorrt_pairing(torch.__version__, torch_tensorrt.__version__)
    if pairing:
        raise BackendUnavailable(pairing)
    if precision == "int8":
        raise SpeechoptError("int8 through Torch-TensorRT needs ModelOpt quantization, which speechopt does not do; "
                             "build a Q/DQ ONNX model with --via tensorrt instead")
    if hardware == "same_compute_capability":
        raise SpeechoptError("Torch-TensorRT offers only ampere-plus hardware compatibility; use --via tensorrt")
    n_features = shapes["features"]["min"][2]
    kwargs = torch_tensorrt_compile_settings(
        precision, inspect.signature(torch_tensorrt.dynamo.compile).parameters, workspace_mb=workspace_mb,
        timing_cache=timing_cache, version_compatible=version_compatible, hardware=hardware,
        version=torch_tensorrt.__version__)
    model = load_pytorch_model(source).to("cuda").eval()
    log("exporting with torch.export")
    program = export_for_tensorrt(model, profile, n_features, device="cuda")
    inputs = [
        torch_tensorrt.Input(min_shape=tuple(shapes[name]["min"]), opt_shape=tuple(shapes[name]["opt"]),
                             max_shape=tuple(shapes[name]["max"]), dtype=dtype, name=name)
        for name, dtype in (("features", torch.float32), ("lengths", torch.int64))
    ]
    log(f"compiling with Torch-TensorRT {torch_tensorrt.__version__} (minutes)")
    t0 = time.perf_counter()
    try:
        # dynamo.compile is the documented entry point for an ExportedProgram ("Compiling Exported Programs"
        # docs), and the function whose parameters `kwargs` was checked against; torch_tensorrt.compile's
        # handling of an ExportedProgram and of enabled_precisions changed between releases.
        compiled = torch_tensorrt.dynamo.compile(program, inputs, **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise SpeechoptError(f"Torch-TensorRT could not compile the model ({first_line(exc)})") from None
    seconds = time.perf_counter() - t0  # host-blocking: the engines are built when compile returns
    summary = partition_summary(compiled)
    has_rnn = any(isinstance(m, (torch.nn.LSTM, torch.nn.GRU)) for m in model.modules())
    if summary["fallback"]:
        # A PyTorch block is an op without a converter, or a run of convertible ops shorter than
        # min_block_size (default 5, dynamo.compile docs), which Torch-TensorRT also leaves to PyTorch.
        summary["note"] = ("LSTM/GRU run in PyTorch (Torch-TensorRT has no converter for them); only the other "
                           "layers run in TensorRT" if has_rnn else
                           "some ops run in PyTorch (no converter, or a block shorter than min_block_size)")
    save_kwargs = torch_tensorrt_save_settings(inspect.signature(torch_tensorrt.save).parameters, profile, n_features)

    def write(path: Path) -> None:
        torch_tensorrt.save(compiled, str(path), **save_kwargs)

    return write, {"build_seconds": round(seconds, 2), "torch_tensorrt": {"version": torch_tensorrt.__version__,
                                                                         **summary}}
