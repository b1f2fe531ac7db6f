"""Build TensorRT engines from ONNX artifacts (or, through Torch-TensorRT, from PyTorch artifacts).

What is verified where: the pure parts (optimization profiles from a dataset's durations, shape checks,
the precision plan per TensorRT major version, ONNX precision detection, engine compatibility rules,
the Torch-TensorRT partition summary and compile/save settings per release, the torch.export step of the
Torch-TensorRT path) are unit-tested on CPU. The calls into TensorRT and Torch-TensorRT (`_build_native`,
`_build_torch_tensorrt`) were written against NVIDIA's sources for TensorRT 10.x/11.x and Torch-TensorRT
2.x (see docs/gpu.md) but have **not been run on a GPU** in this repository's CI: they run in the GPU
lane (`make test-gpu`).

Speech-specific choices:

* Profiles come from the data: min = the shortest utterance (never below what the exported model
  accepts), opt = the median, max = the longest rounded up. An engine tuned for a 30 s max that only
  ever sees 3 s clips wastes memory and picks worse kernels.
* Precision is a property of the ONNX model on TensorRT 11 (strong typing only: no FP16/INT8 builder
  flags): fp16 needs an fp16-converted ONNX, int8 a Q/DQ ONNX. TensorRT 10.x may still add the
  (deprecated) FP16 flag to an fp32 model.
* An engine runs only on the TensorRT version and GPU that built it (unless built version- or
  hardware-compatible); the manifest records both and the runner refuses a mismatch with one line.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from speechopt.artifact import Artifact, library_versions, load_artifact, write_artifact
from speechopt.errors import BackendUnavailable, SpeechoptError

_LOG = logging.getLogger("speechopt.build")

PRECISIONS = ("fp32", "fp16", "int8")
VIAS = ("tensorrt", "torch-tensorrt")
# speechopt name -> trt.HardwareCompatibilityLevel member
HARDWARE_LEVELS = {"none": "NONE", "ampere_plus": "AMPERE_PLUS", "same_compute_capability": "SAME_COMPUTE_CAPABILITY"}
ENGINE_FILE = "model.engine"
TORCH_TRT_FILE = "model.ep"
DEFAULT_BATCH = (1, 8, 16)
SUBSAMPLING = 2  # every bundled ASR model halves the time axis: T' = (T - 1) // 2 + 1


def min_valid_frames(subsampling: int = SUBSAMPLING, min_out_frames: int = 2) -> int:
    """The shortest input (frames) the exported model accepts.

    torch.export, and so the ONNX exporter, treats a size-1 dimension as static; a model whose
    subsampled time axis could be 1 fails to export with a dynamic frame axis (exporting the CRNN with
    frames >= 1 is refused with "guard 3 <= frames"). So the subsampled axis needs >= 2 frames.
    """
    return (min_out_frames - 1) * subsampling + 1


MIN_FRAMES = min_valid_frames()


def model_min_frames(manifest: dict) -> int:
    """The shortest input this artifact was exported and validated for (at least MIN_FRAMES).

    The export step bounds the dynamic frame axis from below (speechopt.steps.export.MIN_FRAMES); a
    profile must not ask TensorRT to optimize for inputs shorter than what the export was checked on.
    """
    bound = MIN_FRAMES
    export = manifest.get("export") or {}
    if "min_frames" in export:
        return max(bound, int(export["min_frames"]))
    spec = str(((export.get("dynamic_shapes") or {}).get("features") or {}).get("1", ""))
    if ">=" in spec:
        return max(bound, int(spec.split(">=")[1]))
    if "export" in (manifest.get("lineage") or {}).get("history", []):
        from speechopt.steps.export import MIN_FRAMES as EXPORT_MIN_FRAMES

        bound = max(bound, EXPORT_MIN_FRAMES)
    return bound


# ------------------------------------------------------------------------------------------- profiles
def frames_for_seconds(seconds: float, frontend_config) -> int:
    return int(frontend_config.num_frames(int(round(seconds * frontend_config.sample_rate))))


def validate_shapes(min_shape: Sequence[int], opt_shape: Sequence[int], max_shape: Sequence[int],
                    min_frames: int = MIN_FRAMES) -> dict:
    """Check (batch, frames) min/opt/max shapes; returns {"min": (b, t), "opt": ..., "max": ...}."""
    shapes = {}
    for kind, shape in (("min", min_shape), ("opt", opt_shape), ("max", max_shape)):
        try:
            b, t = (int(x) for x in shape)
        except (TypeError, ValueError):
            raise SpeechoptError(f"{kind} shape must be (batch, frames), got {shape!r}") from None
        if b < 1 or t < 1:
            raise SpeechoptError(f"{kind} shape {b}x{t}: batch and frames must be positive")
        shapes[kind] = (b, t)
    for axis, name in ((0, "batch"), (1, "frames")):
        lo, opt, hi = (shapes[k][axis] for k in ("min", "opt", "max"))
        if not lo <= opt <= hi:
            raise SpeechoptError(f"profile {name}: need min <= opt <= max, got {lo}, {opt}, {hi}")
    if shapes["min"][1] < min_frames:
        raise SpeechoptError(f"profile min frames {shapes['min'][1]} is below the {min_frames} frames the model "
                             "was exported and validated for")
    return shapes


def profile_from_durations(durations_s: Iterable[float], frontend_config, subsampling_min_frames: int = MIN_FRAMES,
                           batch: Sequence[int] = DEFAULT_BATCH, opt_percentile: float = 50.0,
                           round_max_to: int = 100) -> dict:
    """A TensorRT optimization profile (batch, frames) from a dataset's utterance durations.

    min = the shortest utterance's frames, but at least `subsampling_min_frames`; opt = the
    `opt_percentile` of frames (median by default: where most of the traffic is); max = the longest
    utterance's frames rounded up to `round_max_to` (100 frames = 1 s at a 10 ms hop), so a slightly
    longer utterance than any seen still fits.
    """
    d = np.asarray(list(durations_s), dtype=np.float64)
    if d.size == 0:
        raise SpeechoptError("cannot derive a profile from no utterances")
    bad = int(np.sum(~np.isfinite(d) | (d <= 0)))
    if bad:
        raise SpeechoptError(f"{bad} of {d.size} utterances have no positive duration; "
                             "the manifest needs a duration (seconds) on every line")
    if len(batch) != 3:
        raise SpeechoptError(f"batch must be (min, opt, max), got {tuple(batch)}")
    frames = np.array([frames_for_seconds(x, frontend_config) for x in d])
    lo = max(int(frames.min()), subsampling_min_frames)
    hi = max(int(math.ceil(frames.max() / round_max_to) * round_max_to), lo)
    opt = min(max(int(round(float(np.percentile(frames, opt_percentile)))), lo), hi)
    b = tuple(int(x) for x in batch)
    shapes = validate_shapes((b[0], lo), (b[1], opt), (b[2], hi), subsampling_min_frames)
    return {**shapes, "source": {
        "utterances": int(d.size), "opt_percentile": opt_percentile,
        "seconds": {"min": float(d.min()), "median": float(np.median(d)), "max": float(d.max())},
        "frames": {"min": int(frames.min()), "median": float(np.median(frames)), "max": int(frames.max())},
    }}


def parse_shape(text: str) -> tuple[int, int]:
    """'8x500' (batch x frames, as trtexec writes shapes) -> (8, 500)."""
    parts = str(text).lower().replace(",", "x").split("x")
    try:
        b, t = (int(p) for p in parts)
    except ValueError:
        raise SpeechoptError(f"a shape is BATCHxFRAMES, e.g. 8x500; got {text!r}") from None
    return b, t


def tensor_shapes(profile: dict, n_features: int) -> dict:
    """Per-input min/opt/max shapes for the ASR signature: features (B, T, F) and lengths (B,)."""
    return {
        "features": {k: [profile[k][0], profile[k][1], int(n_features)] for k in ("min", "opt", "max")},
        "lengths": {k: [profile[k][0]] for k in ("min", "opt", "max")},
    }


def normalize_hardware(value) -> str:
    """False/None/'none' -> 'none'; True/'ampere-plus' -> 'ampere_plus'; 'same-compute-capability'."""
    if value in (None, False, "", "none", "NONE"):
        return "none"
    if value is True:
        return "ampere_plus"
    name = str(value).lower().replace("-", "_")
    aliases = {"same_cc": "same_compute_capability", "ampere": "ampere_plus"}
    name = aliases.get(name, name)
    if name not in HARDWARE_LEVELS:
        raise SpeechoptError(f"unknown hardware compatibility {value!r}; choose none, ampere-plus or same-compute-capability")
    return name


# ------------------------------------------------------------------------------------------ precision
_DYNAMIC_INT8_OPS = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeLSTM"}


def onnx_precision(path) -> str:
    """What the ONNX graph itself carries: fp32, fp16, bf16, int8 (Q/DQ), fp8 (Q/DQ), int8-dynamic or
    int8-qoperator (ONNX Runtime formats that TensorRT cannot build). Weights are not loaded."""
    import onnx
    from onnx import TensorProto

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    ops = {n.op_type for n in graph.node}
    inits = {i.name: i for i in graph.initializer}
    if ops & _DYNAMIC_INT8_OPS:
        return "int8-dynamic"
    if any(op.startswith("QLinear") for op in ops):
        return "int8-qoperator"
    if "QuantizeLinear" in ops or "DequantizeLinear" in ops:
        zp_types = set()
        for n in graph.node:
            if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2 and n.input[2] in inits:
                zp_types.add(inits[n.input[2]].data_type)
            if n.op_type == "QuantizeLinear":
                for a in n.attribute:
                    if a.name == "output_dtype" and a.i:
                        zp_types.add(a.i)
        fp8 = {getattr(TensorProto, t) for t in ("FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ")
               if hasattr(TensorProto, t)}
        return "fp8" if zp_types and zp_types <= fp8 else "int8"
    types = {i.data_type for i in graph.initializer}
    types |= {v.type.tensor_type.elem_type for v in list(graph.input) + list(graph.output)}
    for n in graph.node:
        for a in n.attribute:
            if n.op_type == "Cast" and a.name == "to":
                types.add(a.i)
            if n.op_type == "Constant" and a.name == "value":
                types.add(a.t.data_type)
    if TensorProto.FLOAT16 in types:
        return "fp16"
    if TensorProto.BFLOAT16 in types:
        return "bf16"
    return "fp32"


def plan_precision(requested: str, model_precision: str, trt_major: int) -> dict:
    """How to build `requested` from an ONNX carrying `model_precision` on TensorRT `trt_major`.

    Returns {"strongly_typed": bool, "flags": [BuilderFlag names], "mode": str}. TensorRT 11 has only
    strongly typed networks (BuilderFlag.FP16/INT8 were removed); 10.x still has the FP16 flag
    (deprecated since 10.12), which is used only to make fp16 from an fp32 model.
    """
    if requested not in PRECISIONS:
        raise SpeechoptError(f"unknown precision {requested!r}; choose {', '.join(PRECISIONS)}")
    if model_precision == "int8-dynamic":
        raise SpeechoptError("the ONNX model is dynamically quantized (MatMulInteger/DynamicQuantizeLinear), which "
                             "TensorRT cannot build; quantize with `speechopt quantize --method static` (Q/DQ) instead")
    if model_precision == "int8-qoperator":
        raise SpeechoptError("the ONNX model uses ONNX Runtime's QOperator format (QLinear* nodes), which TensorRT "
                             "cannot build; quantize with `speechopt quantize --method static` in Q/DQ format")
    strong = {"strongly_typed": True, "flags": [], "mode": f"strongly typed: precision from the {model_precision} ONNX"}
    if requested == "fp32":
        if model_precision != "fp32":
            raise SpeechoptError(f"the ONNX model is already {model_precision}; build it with --precision "
                                 f"{'int8' if model_precision in ('int8', 'fp8') else model_precision} or build its fp32 parent")
        return strong
    if requested == "fp16":
        if model_precision == "fp16":
            return strong
        if model_precision != "fp32":
            raise SpeechoptError(f"--precision fp16 needs an fp32 or fp16 ONNX model; this one is {model_precision}")
        if trt_major >= 11:
            raise SpeechoptError(f"TensorRT {trt_major} has no FP16 builder flag (strongly typed networks only): "
                                 "convert the model first with `speechopt quantize --method fp16`, then build that artifact")
        return {"strongly_typed": False, "flags": ["FP16"],
                "mode": "weakly typed with BuilderFlag.FP16 (deprecated since TensorRT 10.12; removed in 11)"}
    # int8
    if model_precision == "int8":
        return strong
    raise SpeechoptError(f"--precision int8 needs a Q/DQ ONNX model (this one is {model_precision}): run "
                         "`speechopt quantize --method static` first (TensorRT calibrators are deprecated since "
                         "10.1 and removed in 11)")


# -------------------------------------------------------------------------------------- compatibility
def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for p in str(v).split("+")[0].split("."):
        digits = "".join(c for c in p if c.isdigit())
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def version_compatible_runs(built: str, runtime: str) -> bool:
    """Can a version-compatible engine built by TensorRT `built` run on TensorRT `runtime`?

    NVIDIA: from 8.6 on, on the same or a later version of the same major, plus two cross-major
    pairs: 8 -> 10 and 10 -> 11. Never on an older runtime.
    """
    b, r = _version_tuple(built), _version_tuple(runtime)
    if not b or not r or b < (8, 6) or r < b:
        return False
    return b[0] == r[0] or (b[0], r[0]) in {(8, 10), (10, 11)}


def check_engine_compatible(manifest: dict, trt_version: str, gpu_name: str, compute_capability: str) -> None:
    """Raise one line saying to rebuild unless this TensorRT and GPU can run the engine in `manifest`."""
    info = manifest.get("tensorrt") or {}
    name = manifest.get("name", "engine")
    built_v, built_gpu, built_cc = info.get("version"), info.get("gpu"), info.get("compute_capability")
    if not built_v or not built_cc:
        raise SpeechoptError(f"{name}: the manifest does not say which TensorRT version and GPU built this engine; "
                             "rebuild it with `speechopt build`")
    if built_v != trt_version:
        if not info.get("version_compatible"):
            raise SpeechoptError(f"{name}: built with TensorRT {built_v} but TensorRT {trt_version} is installed, and "
                                 "engines run only on the exact version that built them; rebuild it here with "
                                 "`speechopt build` (or build with --version-compatible)")
        if not version_compatible_runs(built_v, trt_version):
            raise SpeechoptError(f"{name}: this version-compatible engine from TensorRT {built_v} cannot run on "
                                 f"TensorRT {trt_version} (only the same or a later version of the same major, or "
                                 "10 -> 11); rebuild it here with `speechopt build`")
    level = info.get("hardware_compatibility", "none")
    here = f"{gpu_name} (compute capability {compute_capability})"
    built = f"{built_gpu} (compute capability {built_cc})"
    if level == "ampere_plus":
        if _version_tuple(compute_capability)[:1] < (8,):
            raise SpeechoptError(f"{name}: built for Ampere and newer GPUs but this GPU is {here}; "
                                 "rebuild it here with `speechopt build`")
    elif level == "same_compute_capability":
        if compute_capability != built_cc:
            raise SpeechoptError(f"{name}: built for compute capability {built_cc} GPUs but this GPU is {here}; "
                                 "rebuild it here with `speechopt build`")
    elif compute_capability != built_cc or gpu_name != built_gpu:
        raise SpeechoptError(f"{name}: built on {built} but this GPU is {here}, and TensorRT engines are specific "
                             "to the GPU that built them; rebuild it here with `speechopt build` "
                             "(or build with --hardware-compatible ampere-plus)")


# ------------------------------------------------------------------------------ Torch-TensorRT helpers
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
        except Exception as exc:  # noqa: BLE001 - torch.export raises many types; the first line says why
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


# -------------------------------------------------------------------------------- the TensorRT calls
def _gpu():
    import torch

    major, minor = torch.cuda.get_device_capability(0)
    return torch.cuda.get_device_name(0), f"{major}.{minor}"


def _trt_logger(trt):
    """A TensorRT logger that keeps errors (for the one-line message) and forwards warnings."""

    class _Logger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity, msg):
            if severity in (trt.ILogger.INTERNAL_ERROR, trt.ILogger.ERROR):
                self.errors.append(" ".join(str(msg).split()))
            elif severity == trt.ILogger.WARNING:
                _LOG.warning("TensorRT: %s", msg)

    return _Logger()


def _summarize(errors: Sequence[str], limit: int = 3) -> str:
    errors = [e for e in errors if e]
    if not errors:
        return "no error message from TensorRT"
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(errors[:limit]) + more


def _build_native(onnx_path: Path, shapes: dict, plan: dict, precision: str, workspace_mb: int,
                  timing_cache: Path | None, version_compatible: bool, hardware: str, log) -> tuple[bytes, dict]:
    """Parse the ONNX file and build a serialized engine. Needs TensorRT and a GPU (not run in CI)."""
    import tensorrt as trt

    from speechopt.io import atomic_write_bytes

    version = trt.__version__
    logger = _trt_logger(trt)
    builder = trt.Builder(logger)
    flags = 0
    if plan["strongly_typed"] and _version_tuple(version)[0] < 11:
        # 10.x: opt in to strong typing. 11.x: always strongly typed (the flag is deprecated and ignored).
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    log(f"parsing {onnx_path} with TensorRT {version}")
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise SpeechoptError(f"{onnx_path}: TensorRT {version} cannot parse the model: {_summarize(errors + logger.errors)}")
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    if sorted(names) != sorted(shapes):
        raise SpeechoptError(f"{onnx_path}: model inputs {names} do not match the signature {sorted(shapes)}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    for flag in plan["flags"]:
        try:
            config.set_flag(getattr(trt.BuilderFlag, flag))
        except AttributeError:
            raise SpeechoptError(f"BuilderFlag.{flag} is not available on TensorRT {version}") from None
    if precision == "fp32":
        # TF32 is on by default; fp32 here means fp32, so that drift measures the engine, not TF32.
        with contextlib.suppress(AttributeError):
            config.clear_flag(trt.BuilderFlag.TF32)
    profile = builder.create_optimization_profile()
    for name, s in shapes.items():
        try:
            profile.set_shape(name, tuple(s["min"]), tuple(s["opt"]), tuple(s["max"]))
        except ValueError as exc:
            raise SpeechoptError(f"TensorRT refused the profile for {name} {s}: {exc}") from None
    if config.add_optimization_profile(profile) < 0:
        raise SpeechoptError(f"TensorRT refused the optimization profile {shapes}: {_summarize(logger.errors)}")
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if hardware != "none":
        try:
            config.hardware_compatibility_level = getattr(trt.HardwareCompatibilityLevel, HARDWARE_LEVELS[hardware])
        except AttributeError:
            raise SpeechoptError(f"hardware compatibility {hardware} is not available on TensorRT {version}") from None

    cache_note = None
    if timing_cache is not None:
        data = timing_cache.read_bytes() if timing_cache.is_file() else b""
        n_errors = len(logger.errors)
        cache = config.create_timing_cache(data)
        # set_timing_cache returns False for a cache from another device (pyCoreDoc.h); an unreadable blob
        # (other TensorRT version, truncated file) is logged as an ERROR ("The timing cache will not be
        # used", NVIDIA/TensorRT#3566), and the binding returns None if TensorRT returns no cache at all.
        # In every case: start a fresh cache rather than fail the build.
        if cache is None or not config.set_timing_cache(cache, ignore_mismatch=False) or len(logger.errors) > n_errors:
            cache_note = f"{timing_cache} was made on another GPU or TensorRT version; started a new cache"
            _LOG.warning(cache_note)
            del logger.errors[n_errors:]  # not the build's errors: keep them out of a later failure line
            cache = config.create_timing_cache(b"")
            if cache is None or not config.set_timing_cache(cache, ignore_mismatch=False):
                raise SpeechoptError(f"TensorRT {version} could not create a timing cache: {_summarize(logger.errors)}")

    log(f"building a {precision} engine (minutes for a large model)")
    t0 = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - t0  # a blocking call: no device work is left in flight
    if serialized is None:
        raise SpeechoptError(f"TensorRT {version} could not build the engine: {_summarize(logger.errors)}")
    if timing_cache is not None:
        # The builder adds its new timings to the attached cache; get_timing_cache returns it (pyCoreDoc.h).
        atomic_write_bytes(timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))
    return bytes(memoryview(serialized)), {"build_seconds": round(seconds, 2), "timing_cache_note": cache_note}


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


def _build_torch_tensorrt(source: Artifact, profile: dict, shapes: dict, precision: str, workspace_mb: int,
                          timing_cache: Path | None, version_compatible: bool, hardware: str, log):
    """Compile the PyTorch model with Torch-TensorRT (dynamo). Needs TensorRT and a GPU (not run in CI).

    Returns (write(path) callable, info). LSTM/GRU layers have no Torch-TensorRT converter, so they
    run in PyTorch between TensorRT blocks; the manifest records which ops fell back.
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
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SpeechoptError(f"Torch-TensorRT could not compile the model ({type(exc).__name__}: {first})") from None
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


# ------------------------------------------------------------------------------------------ the step
def _require(via: str) -> None:
    """Fail fast, before any real work, when the toolchain for `via` is missing."""
    from speechopt.env import TENSORRT_INSTALL, probe_torch_tensorrt, tensorrt_status

    ok, reason = tensorrt_status()
    if not ok:
        raise BackendUnavailable(f"cannot build TensorRT engines here: {reason}; to enable: {TENSORRT_INSTALL}")
    if via == "torch-tensorrt":
        tt = probe_torch_tensorrt()
        if tt["reason"]:
            raise BackendUnavailable(f"cannot build with Torch-TensorRT here: {tt['reason']}; to enable: {TENSORRT_INSTALL}")


def _torch_source(artifact: Artifact) -> Artifact:
    """The pytorch artifact to compile: this one, or the pytorch parent of an ONNX artifact."""
    if artifact.format == "pytorch":
        return artifact
    parent = (artifact.manifest.get("lineage") or {}).get("parent") or {}
    if artifact.format == "onnx" and parent.get("format") == "pytorch" and Path(parent.get("path", "")).is_dir():
        source = load_artifact(parent["path"])
        if source.checksum != parent.get("checksum"):
            raise SpeechoptError(f"{source.path}: this is not the pytorch parent {artifact.path} was exported from "
                                 "(checksum differs); pass the pytorch artifact itself")
        return source
    raise SpeechoptError(f"{artifact.path}: --via torch-tensorrt compiles a pytorch artifact; pass one (or an ONNX "
                         f"artifact whose pytorch parent still exists)")


def build_engine(artifact, out, *, precision: str = "fp32", min_shape: Sequence[int] | None = None,
                 opt_shape: Sequence[int] | None = None, max_shape: Sequence[int] | None = None,
                 profile_from_data=None, batch: Sequence[int] = DEFAULT_BATCH, workspace_mb: int = 1024,
                 timing_cache=None, version_compatible: bool = False, hardware_compatible=False,
                 via: str = "tensorrt", overwrite: bool = False,
                 log: Callable[[str], None] | None = None) -> Artifact:
    """Build a TensorRT engine artifact (format "tensorrt") from an ONNX (or pytorch) artifact.

    Shapes are (batch, frames): either all of `min_shape`/`opt_shape`/`max_shape`, or
    `profile_from_data` (a manifest) from which frames are derived, with `batch` = (min, opt, max).
    `via="tensorrt"` parses the ONNX artifact with TensorRT's ONNX parser and writes `model.engine`;
    `via="torch-tensorrt"` compiles the pytorch model (or the ONNX artifact's pytorch parent) with
    Torch-TensorRT and writes `model.ep` (a Torch-TensorRT exported program).

    Raises BackendUnavailable at once where TensorRT or a GPU is missing. The TensorRT calls
    themselves have not been run on a GPU in CI (see the module docstring).
    """
    log = log or _LOG.info
    if via not in VIAS:
        raise SpeechoptError(f"unknown --via {via!r}; choose {' or '.join(VIAS)}")
    _require(via)

    out = Path(out)
    if out.exists() and not overwrite:
        raise SpeechoptError(f"{out} already exists (use --overwrite to replace it)")
    if precision not in PRECISIONS:
        raise SpeechoptError(f"unknown precision {precision!r}; choose {', '.join(PRECISIONS)}")
    if int(workspace_mb) < 1:
        raise SpeechoptError("--workspace-mb must be positive")
    hardware = normalize_hardware(hardware_compatible)
    art = artifact if isinstance(artifact, Artifact) else load_artifact(artifact)
    if art.task != "asr":
        raise SpeechoptError(f"{art.path}: TensorRT builds support asr models (this one is {art.task})")

    # Profile: given shapes, or frames from the data's durations.
    given = [s is not None for s in (min_shape, opt_shape, max_shape)]
    if any(given) and profile_from_data is not None:
        raise SpeechoptError("give either --min-shape/--opt-shape/--max-shape or --profile-from-data, not both")
    min_frames = model_min_frames(art.manifest)
    if all(given):
        profile = validate_shapes(min_shape, opt_shape, max_shape, min_frames)
        profile_source = {"given": True}
    elif any(given):
        raise SpeechoptError("give all three of --min-shape, --opt-shape and --max-shape")
    elif profile_from_data is not None:
        from speechopt.data.manifest import read_manifest
        from speechopt.zoo import resolve

        profile_from_data = resolve(profile_from_data)  # zoo:NAME works here as everywhere
        utts = read_manifest(profile_from_data, check_files=False)
        profile = profile_from_durations([u.duration for u in utts], art.frontend(), min_frames, batch=batch)
        profile_source = {"data": str(profile_from_data), **profile.pop("source")}
    else:
        raise SpeechoptError("an engine needs an optimization profile: give --profile-from-data MANIFEST "
                             "(frames from its durations) or --min-shape/--opt-shape/--max-shape BATCHxFRAMES")

    features = art.manifest["signature"]["inputs"][0]
    n_features = features["shape"][-1]
    if features["name"] != "features" or not isinstance(n_features, int):
        raise SpeechoptError(f"{art.path}: expected a features (batch, frames, n) input, got {features}")
    shapes = tensor_shapes(profile, n_features)
    timing_cache = Path(timing_cache) if timing_cache else None

    import tensorrt as trt

    gpu_name, cc = _gpu()
    settings = {"precision": precision, "profile": {k: list(profile[k]) for k in ("min", "opt", "max")},
                "workspace_mb": int(workspace_mb), "version_compatible": bool(version_compatible),
                "hardware_compatibility": hardware, "via": via,
                "timing_cache": str(timing_cache) if timing_cache else None}
    info = {"via": via, "version": trt.__version__, "gpu": gpu_name, "compute_capability": cc,
            "precision": precision, "profile": shapes, "profile_source": profile_source,
            "version_compatible": bool(version_compatible), "hardware_compatibility": hardware,
            "workspace_mb": int(workspace_mb)}

    if via == "tensorrt":
        if art.format != "onnx":
            raise SpeechoptError(f"{art.path}: TensorRT builds from an onnx artifact (this one is {art.format}); "
                                 "export it first with `speechopt export --to onnx`, or use --via torch-tensorrt")
        onnx_path = art.file("model")
        model_precision = onnx_precision(onnx_path)
        plan = plan_precision(precision, model_precision, _version_tuple(trt.__version__)[0])
        engine, extra = _build_native(onnx_path, shapes, plan, precision, workspace_mb, timing_cache,
                                      version_compatible, hardware, log)
        info.update({"model_precision": model_precision, "strongly_typed": plan["strongly_typed"],
                     "builder_flags": plan["flags"], "precision_mode": plan["mode"], **extra})
        parent, filename = art, ENGINE_FILE

        def write(path: Path) -> None:
            path.write_bytes(engine)
    else:
        parent = _torch_source(art)
        write, extra = _build_torch_tensorrt(parent, profile, shapes, precision, workspace_mb, timing_cache,
                                             version_compatible, hardware, log)
        info.update(extra)
        filename = TORCH_TRT_FILE

    manifest = {
        "task": parent.task,
        "format": "tensorrt",
        "architecture": parent.architecture,
        "frontend": parent.manifest["frontend"],
        "tokenizer": parent.manifest["tokenizer"],
        "signature": parent.manifest["signature"],
        "precision": precision,
        "tensorrt": info,
        "versions": library_versions("tensorrt", "onnx", *(("torch-tensorrt",) if via == "torch-tensorrt" else ())),
    }
    return write_artifact(out, manifest, {filename: write}, parent=parent, step="build", settings=settings,
                          overwrite=overwrite)
