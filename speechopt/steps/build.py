"""The build step: TensorRT engines from ONNX artifacts (or, through Torch-TensorRT, from PyTorch artifacts).

A thin step: it turns the user's options into named dimension ranges, then builds with the TensorRT
knowledge in `speechopt.backends.tensorrt` (profiles, precision, compat, builder, torch_trt) and writes the
engine artifact. The ASR options (`--min-shape/--opt-shape/--max-shape BATCHxFRAMES`, or
`--profile-from-data` with `--batch`) give {"batch", "frames"} ranges, which apply to every graph's inputs
that use those dimension names. A TTS or vocoder artifact's ranges (batch, text, frames, and the in-graph
loop's cap) come from the sentences of `--profile-from-data` through its task (`speechopt.tasks.tts.profiles`).

One engine per graph of the ONNX artifact (`<graph>.engine`: `model.engine` for the one graph of an ASR
model); the engine manifest lists each under `graphs` with the ONNX graph's inputs and outputs, and records
each graph's profile under `tensorrt.profiles` (and, for one graph, `tensorrt.profile`), the TensorRT
version and GPU that built it, and the compatibility flags. Torch-TensorRT builds one graph (`model.ep`).

What is verified where: the pure parts are unit-tested on CPU (tests/test_build.py); the calls into
TensorRT and Torch-TensorRT have **not been run on a GPU** in this repository's CI: they run in the GPU
lane (`make test-gpu`, see docs/gpu.md).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

from speechopt.artifact import Artifact, check_file_name, graph_entry, library_versions, load_artifact, write_artifact
from speechopt.backends.tensorrt.compat import current_gpu, normalize_hardware, version_tuple
from speechopt.backends.tensorrt.precision import PRECISIONS, onnx_precision, plan_precision
from speechopt.backends.tensorrt.profiles import (
    DEFAULT_BATCH,
    dim_ranges,
    model_min_frames,
    parse_shape,
    plan_graph_shapes,
    profile_from_durations,
    tensor_shapes,
    validate_shapes,
)
from speechopt.errors import BackendUnavailable, SpeechoptError

__all__ = ["build_engine", "parse_shape", "engine_file", "PRECISIONS", "VIAS", "DEFAULT_BATCH"]

_LOG = logging.getLogger("speechopt.build")

VIAS = ("tensorrt", "torch-tensorrt")
TORCH_TRT_FILE = "model.ep"
_GRAPH_KEYS = ("file", "inputs", "outputs", "dynamic_axes")
TASK_FIELDS = ("frontend", "tokenizer", "mel", "inference", "export_loop")


def engine_file(graph: str) -> str:
    """The engine file of `graph`: `<graph>.engine` (`model.engine` for a single-graph model)."""
    return f"{graph}.engine"


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


def _asr_profile(art: Artifact, min_shape, opt_shape, max_shape, profile_from_data, batch) -> tuple[dict, dict]:
    """The (batch, frames) profile from the ASR options: given shapes, or frames from the data's durations."""
    given = [s is not None for s in (min_shape, opt_shape, max_shape)]
    if any(given) and profile_from_data is not None:
        raise SpeechoptError("give either --min-shape/--opt-shape/--max-shape or --profile-from-data, not both")
    min_frames = model_min_frames(art.manifest)
    if all(given):
        return validate_shapes(min_shape, opt_shape, max_shape, min_frames), {"given": True}
    if any(given):
        raise SpeechoptError("give all three of --min-shape, --opt-shape and --max-shape")
    if profile_from_data is not None:
        from speechopt.audio.features import FrontendConfig
        from speechopt.data.manifest import read_manifest
        from speechopt.zoo import resolve

        profile_from_data = resolve(profile_from_data)  # zoo:NAME works here as everywhere
        utts = read_manifest(profile_from_data, check_files=False)
        profile = profile_from_durations([u.duration for u in utts], FrontendConfig.from_dict(art.manifest["frontend"]),
                                         min_frames, batch=batch)
        return profile, {"data": str(profile_from_data), **profile.pop("source")}
    raise SpeechoptError("an engine needs an optimization profile: give --profile-from-data MANIFEST "
                         "(frames from its durations) or --min-shape/--opt-shape/--max-shape BATCHxFRAMES")


def _task_profile(art: Artifact, given: bool, profile_from_data, batch) -> tuple[dict, dict]:
    """Named dimension ranges for a TTS or vocoder artifact, from the data it will run (the task knows how)."""
    from speechopt.tasks import task_of
    from speechopt.zoo import resolve

    if given:
        raise SpeechoptError(f"{art.path}: --min-shape/--opt-shape/--max-shape are an ASR model's BATCHxFRAMES; a "
                             f"{art.task} engine's profile comes from --profile-from-data (sentences) and --batch")
    if profile_from_data is None:
        raise SpeechoptError(f"a {art.task} engine needs an optimization profile: give --profile-from-data MANIFEST "
                             "(the sentences it will synthesize; zoo:tts-eval for the bundled ones)")
    data = resolve(profile_from_data)
    ranges, source = task_of(art).profile_dims(art, data, tuple(batch) if batch else None)
    return ranges, {"data": str(data), **source}


def _copy_graph(spec: dict, file: str) -> dict:
    """The engine's `graphs` entry: the source graph's inputs, outputs (and extra keys), another file."""
    return graph_entry(file, spec["inputs"], spec["outputs"], **{k: v for k, v in spec.items() if k not in _GRAPH_KEYS})


def _merge_builds(builds: dict[str, dict]) -> dict:
    """The top-level build keys: one graph's as they are; for several, the total time and the agreed values."""
    if len(builds) == 1:
        return dict(next(iter(builds.values())))
    notes = [b["timing_cache_note"] for b in builds.values() if b["timing_cache_note"]]
    merged = {"build_seconds": round(sum(b["build_seconds"] for b in builds.values()), 2),
              "timing_cache_note": notes[0] if notes else None}
    for key in ("model_precision", "strongly_typed", "builder_flags", "precision_mode"):
        values = [b[key] for b in builds.values()]
        if all(v == values[0] for v in values):
            merged[key] = values[0]
    return merged


def _build_native_engines(art: Artifact, plan: dict, precision: str, trt_version: str, workspace_mb: int,
                          timing_cache, version_compatible: bool, hardware: str, log) -> tuple[dict, dict, dict]:
    """One engine per graph: (files {name: writer}, graphs {graph: entry}, build info)."""
    from speechopt.backends.tensorrt.builder import build_native

    if not plan:
        raise SpeechoptError(f"{art.path}: the manifest lists no graph to build an engine from")
    precisions = {}
    for name in plan:  # every graph's precision is checked before minutes of building
        check_file_name(engine_file(name), art.path)
        model_precision = onnx_precision(art.graph_path(name))
        precisions[name] = (model_precision, plan_precision(precision, model_precision, version_tuple(trt_version)[0]))
    files, graphs, builds = {}, {}, {}
    for name, shapes in plan.items():
        model_precision, p = precisions[name]
        engine, extra = build_native(art.graph_path(name), shapes, p, precision, workspace_mb, timing_cache,
                                     version_compatible, hardware, log)
        builds[name] = {"model_precision": model_precision, "strongly_typed": p["strongly_typed"],
                        "builder_flags": p["flags"], "precision_mode": p["mode"], **extra}
        files[engine_file(name)] = lambda path, data=engine: path.write_bytes(data)
        graphs[name] = _copy_graph(art.graph(name), engine_file(name))
    return files, graphs, {**_merge_builds(builds), "builds": builds}


def build_engine(artifact, out, *, precision: str = "fp32", min_shape: Sequence[int] | None = None,
                 opt_shape: Sequence[int] | None = None, max_shape: Sequence[int] | None = None,
                 profile_from_data=None, batch: Sequence[int] | None = None, workspace_mb: int = 1024,
                 timing_cache=None, version_compatible: bool = False, hardware_compatible=False,
                 via: str = "tensorrt", overwrite: bool = False,
                 log: Callable[[str], None] | None = None) -> Artifact:
    """Build a TensorRT engine artifact (format "tensorrt") from an ONNX (or pytorch) artifact.

    ASR shapes are (batch, frames): either all of `min_shape`/`opt_shape`/`max_shape`, or
    `profile_from_data` (a manifest) from which frames are derived, with `batch` = (min, opt, max) (default
    DEFAULT_BATCH); they become the "batch" and "frames" ranges of every graph's inputs. A TTS or vocoder
    artifact's ranges (batch, text, frames, cap) come from `profile_from_data` through its task
    (`Task.profile_dims`; TTS batch default (1, 1, 1): its drivers run one sentence at a time). `via="tensorrt"` parses each graph of
    the ONNX artifact with TensorRT's ONNX parser and writes `<graph>.engine` (`model.engine`);
    `via="torch-tensorrt"` compiles the pytorch model (or the ONNX artifact's pytorch parent) with
    Torch-TensorRT and writes `model.ep` (a Torch-TensorRT exported program; one graph only).

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
    if art.task not in ("asr", "tts", "vocoder"):
        raise SpeechoptError(f"{art.path}: TensorRT builds support asr, tts and vocoder models (this one is "
                             f"{art.task})")
    if art.task != "asr" and via == "torch-tensorrt":
        raise SpeechoptError(f"{art.path}: --via torch-tensorrt compiles one-graph ASR models; build a {art.task} "
                             "artifact's graphs with --via tensorrt (one engine per graph)")
    if via == "torch-tensorrt" and len(art.graphs) > 1:
        raise SpeechoptError(f"{art.path}: --via torch-tensorrt compiles one graph, and this artifact has "
                             f"{len(art.graphs)} ({', '.join(art.graphs)}); build it with --via tensorrt")

    if art.task == "asr":
        profile, profile_source = _asr_profile(art, min_shape, opt_shape, max_shape, profile_from_data,
                                               batch or DEFAULT_BATCH)
        ranges = dim_ranges(profile)
        profile_setting = {k: list(profile[k]) for k in ("min", "opt", "max")}
    else:  # every graph's named dimensions (text, frames, ...) from the data
        given = any(x is not None for x in (min_shape, opt_shape, max_shape))
        ranges, profile_source = _task_profile(art, given, profile_from_data, batch)
        profile_setting = {k: list(v) for k, v in ranges.items()}
    if via == "tensorrt":
        plan = plan_graph_shapes(art.graphs, ranges, str(art.path))
    else:
        graph, spec = next(iter(art.graphs.items()), (None, None))
        if spec is None:
            raise SpeechoptError(f"{art.path}: the manifest lists no graph to build an engine from")
        features = spec["inputs"][0]
        n_features = features["shape"][-1]
        if features["name"] != "features" or not isinstance(n_features, int):
            raise SpeechoptError(f"{art.path}: expected a features (batch, frames, n) input, got {features}")
        plan = {graph: tensor_shapes(profile, n_features)}
    timing_cache = Path(timing_cache) if timing_cache else None

    import tensorrt as trt

    gpu_name, cc = current_gpu()
    settings = {"precision": precision, "profile": profile_setting,
                "workspace_mb": int(workspace_mb), "version_compatible": bool(version_compatible),
                "hardware_compatibility": hardware, "via": via,
                "timing_cache": str(timing_cache) if timing_cache else None}
    info = {"via": via, "version": trt.__version__, "gpu": gpu_name, "compute_capability": cc,
            "precision": precision, **({"profile": next(iter(plan.values()))} if len(plan) == 1 else {}),
            "profiles": plan, "dims": {k: list(v) for k, v in ranges.items()}, "profile_source": profile_source,
            "version_compatible": bool(version_compatible), "hardware_compatibility": hardware,
            "workspace_mb": int(workspace_mb)}

    if via == "tensorrt":
        if art.format != "onnx":
            raise SpeechoptError(f"{art.path}: TensorRT builds from an onnx artifact (this one is {art.format}); "
                                 "export it first with `speechopt export --to onnx`, or use --via torch-tensorrt")
        files, graphs, extra = _build_native_engines(art, plan, precision, trt.__version__, workspace_mb, timing_cache,
                                                     version_compatible, hardware, log)
        parent = art
    else:
        from speechopt.backends.tensorrt.torch_trt import build_torch_tensorrt

        parent = _torch_source(art)
        write, extra = build_torch_tensorrt(parent, profile, plan[graph], precision, workspace_mb, timing_cache,
                                            version_compatible, hardware, log)
        source_graph, source_spec = next(iter(parent.graphs.items()), (graph, spec))
        files, graphs = {TORCH_TRT_FILE: write}, {source_graph: _copy_graph(source_spec, TORCH_TRT_FILE)}
        if source_graph != graph:  # the profile is recorded under the engine's graph name
            info["profiles"] = {source_graph: plan[graph]}
    info.update(extra)

    manifest = {
        "task": parent.task,
        "format": "tensorrt",
        "architecture": parent.architecture,
        # what the task reads to feed and score the graphs (ASR: frontend, tokenizer; TTS: tokenizer, mel, ...)
        **{k: parent.manifest[k] for k in TASK_FIELDS if k in parent.manifest},
        "graphs": graphs,
        "precision": precision,
        "tensorrt": info,
        "versions": library_versions("tensorrt", "onnx", *(("torch-tensorrt",) if via == "torch-tensorrt" else ())),
    }
    return write_artifact(out, manifest, files, parent=parent, step="build", settings=settings,
                          overwrite=overwrite)
