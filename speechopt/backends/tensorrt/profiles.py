"""Optimization profiles: min/opt/max shapes for every dynamic input of a graph.

A profile is given as named dimension ranges, e.g. {"batch": (1, 8, 16), "frames": (51, 201, 1100)};
`graph_shapes` turns them into per-input min/opt/max shapes for one graph's inputs (tensors with `name`,
`dtype` and a `shape` whose strings are named dynamic dimensions and whose ints are fixed), so one set of
ranges serves every graph of an artifact that uses those names. A named dimension the ranges do not
cover fails with one line.

The ASR profile is (batch, frames), from a dataset's utterance durations: min = the shortest utterance
(never below what the exported model accepts), opt = the median, max = the longest rounded up. An engine
tuned for a 30 s max that only ever sees 3 s clips wastes memory and picks worse kernels.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from speechopt.errors import SpeechoptError

DEFAULT_BATCH = (1, 8, 16)
SUBSAMPLING = 2  # every bundled ASR model halves the time axis: T' = (T - 1) // 2 + 1
# Mirrors the export step's lower bound on the ASR frame axis (MIN_FRAMES = 8 frames = 80 ms, in
# speechopt.models.asr_export; backends import nothing from the steps): the fallback for an exported
# artifact whose manifest states no bound of its own (`export.min_frames` or `export.dynamic_shapes`).
EXPORT_MIN_FRAMES = 8


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

    Read from the manifest: `export.min_frames` if present, else the frame bound in
    `export.dynamic_shapes` ("frames>=N"), else, for an artifact made by the export step,
    EXPORT_MIN_FRAMES. A profile must not ask TensorRT to optimize for inputs shorter than what the export
    was checked on.
    """
    bound = MIN_FRAMES
    export = manifest.get("export") or {}
    if "min_frames" in export:
        return max(bound, int(export["min_frames"]))
    spec = str(((export.get("dynamic_shapes") or {}).get("features") or {}).get("1", ""))
    if ">=" in spec:
        return max(bound, int(spec.split(">=")[1]))
    if "export" in (manifest.get("lineage") or {}).get("history", []):
        bound = max(bound, EXPORT_MIN_FRAMES)
    return bound


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


# ----------------------------------------------------------------------- named dimensions -> shapes
def dim_ranges(profile: dict) -> dict[str, tuple[int, int, int]]:
    """A (batch, frames) profile {"min": (b, t), "opt": ..., "max": ...} as named dimension ranges."""
    return {name: tuple(int(profile[k][axis]) for k in ("min", "opt", "max"))
            for axis, name in ((0, "batch"), (1, "frames"))}


def _check_ranges(ranges: dict) -> dict[str, tuple[int, int, int]]:
    out = {}
    for dim, r in ranges.items():
        try:
            lo, opt, hi = (int(x) for x in r)
        except (TypeError, ValueError):
            raise SpeechoptError(f"profile {dim}: need (min, opt, max), got {r!r}") from None
        if lo < 1:
            raise SpeechoptError(f"profile {dim}: sizes must be positive, got {lo}, {opt}, {hi}")
        if not lo <= opt <= hi:
            raise SpeechoptError(f"profile {dim}: need min <= opt <= max, got {lo}, {opt}, {hi}")
        out[dim] = (lo, opt, hi)
    return out


def graph_shapes(inputs: list[dict], ranges: dict, where: str = "graph") -> dict[str, dict[str, list[int]]]:
    """{input name: {"min": [...], "opt": [...], "max": [...]}} for one graph's inputs.

    A string dimension takes its range from `ranges` (by name), an int dimension is fixed. `where` names
    the graph in the one-line error for a dimension the ranges do not cover.
    """
    ranges = _check_ranges(ranges)
    shapes = {}
    for t in inputs:
        per_kind: dict[str, list[int]] = {"min": [], "opt": [], "max": []}
        for axis, d in enumerate(t["shape"]):
            if isinstance(d, str):
                if d not in ranges:
                    raise SpeechoptError(
                        f"{where}: input {t['name']} has dynamic dimension {d!r} (axis {axis}), which the "
                        f"optimization profile does not cover (it gives {', '.join(ranges) or 'no dimensions'})")
                for i, k in enumerate(("min", "opt", "max")):
                    per_kind[k].append(ranges[d][i])
            else:
                for k in per_kind:
                    per_kind[k].append(int(d))
        shapes[t["name"]] = per_kind
    return shapes


def plan_graph_shapes(graphs: dict[str, dict], ranges: dict, where="artifact") -> dict[str, dict]:
    """{graph name: graph_shapes(...)} for every graph of an artifact (manifest `graphs`), in order."""
    return {name: graph_shapes(g["inputs"], ranges, f"{where}: graph {name}") for name, g in graphs.items()}


def tensor_shapes(profile: dict, n_features: int) -> dict:
    """Per-input min/opt/max shapes for the ASR signature: features (B, T, F) and lengths (B,)."""
    inputs = [{"name": "features", "shape": ["batch", "frames", int(n_features)]},
              {"name": "lengths", "shape": ["batch"]}]
    return graph_shapes(inputs, dim_ranges(profile), "asr")
