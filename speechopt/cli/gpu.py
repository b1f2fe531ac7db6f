"""`speechopt env` and `speechopt build`: what this machine can run, and TensorRT engines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from speechopt.cli import app, command
from speechopt.cli.options import check_int_list, parse_ints, to_stderr


@command(app, "env")
def env_cmd(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Show what this machine can run.

    torch/CUDA, ONNX Runtime providers, TensorRT, Torch-TensorRT.
    """
    from speechopt.env import format_environment, probe_environment

    env = probe_environment()
    if as_json:
        typer.echo(json.dumps(env, indent=2))
        return
    for line in format_environment(env):
        typer.echo(line)


@command(app, "build")
def build_cmd(
    artifact: str = typer.Argument(..., help="ONNX artifact (or a pytorch one with --via torch-tensorrt)."),
    out: Path = typer.Option(..., "--out", "-o", help="Engine artifact folder to write."),
    precision: str = typer.Option("fp32", help="fp32, fp16 (an fp16 ONNX on TensorRT 11) or int8 (a Q/DQ ONNX)."),
    profile_from_data: Optional[str] = typer.Option(
        None, "--profile-from-data", help="Manifest (or zoo:NAME) whose durations set min/opt/max frames."),
    batch: Optional[str] = typer.Option(None, callback=check_int_list, help="Batch min,opt,max with "
                                        "--profile-from-data (default 1,8,16; TTS 1,1,1: one sentence at a time)."),
    min_shape: Optional[str] = typer.Option(None, "--min-shape", help="BATCHxFRAMES, e.g. 1x16."),
    opt_shape: Optional[str] = typer.Option(None, "--opt-shape", help="BATCHxFRAMES, e.g. 8x500."),
    max_shape: Optional[str] = typer.Option(None, "--max-shape", help="BATCHxFRAMES, e.g. 16x3000."),
    workspace_mb: int = typer.Option(1024, help="Builder workspace memory pool limit, MiB."),
    timing_cache: Optional[Path] = typer.Option(None, help="Timing cache file: read if present, updated after."),
    version_compatible: bool = typer.Option(False, help="Engine runs on later TensorRT versions (slower)."),
    hardware_compatible: str = typer.Option("none", help="none, ampere-plus or same-compute-capability."),
    via: str = typer.Option("tensorrt", help="tensorrt (ONNX parser) or torch-tensorrt."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Build a TensorRT engine for this GPU.

    Its optimization profile is fitted to your data.
    """
    from speechopt.steps.build import build_engine, parse_shape
    from speechopt.zoo import resolve

    shapes = [parse_shape(s) if s else None for s in (min_shape, opt_shape, max_shape)]
    batches = tuple(parse_ints(batch)) if batch else None
    result = build_engine(
        str(resolve(artifact)), out, precision=precision, min_shape=shapes[0], opt_shape=shapes[1],
        max_shape=shapes[2], profile_from_data=str(resolve(profile_from_data)) if profile_from_data else None,
        batch=batches, workspace_mb=workspace_mb, timing_cache=timing_cache, version_compatible=version_compatible,
        hardware_compatible=hardware_compatible, via=via, overwrite=overwrite, log=to_stderr,
    )
    info = result.manifest["tensorrt"]
    if "features" not in (info.get("profile") or {}):  # TTS and vocoders: several graphs, named dimensions
        dims = ", ".join(f"{k} {'..'.join(str(x) for x in v)}" for k, v in info["dims"].items())
        typer.echo(f"wrote {out}: {precision} engines ({', '.join(result.graphs)}), TensorRT {info['version']} on "
                   f"{info['gpu']}, {dims}")
        return
    prof = info["profile"]["features"]
    typer.echo(f"wrote {out}: {precision} engine, TensorRT {info['version']} on {info['gpu']}, "
               f"frames {prof['min'][1]}..{prof['opt'][1]}..{prof['max'][1]}, batch {prof['min'][0]}..{prof['max'][0]}")
