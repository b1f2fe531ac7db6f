"""`speechopt synth`: text -> WAV through a TTS artifact (any format) and a vocoder; thin over tasks/tts/synth.py."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from speechopt.cli import app, command
from speechopt.cli.options import threads_option


@command(app, "synth")
def synth_cmd(
    artifact: str = typer.Argument(..., help="TTS artifact folder or zoo:NAME (pytorch, torchscript or onnx)."),
    text: Optional[str] = typer.Option(None, "--text", help="One sentence to synthesize."),
    texts: Optional[Path] = typer.Option(None, "--texts", help="A text file (one sentence a line) or a TTS manifest "
                                         "(JSONL with `text`)."),
    out: Path = typer.Option(..., "-o", "--out", help="OUT.wav for one sentence, or a folder (one WAV per sentence)."),
    vocoder: str = typer.Option("griffin-lim", help="griffin-lim (32 iterations of fast Griffin-Lim, zero initial "
                                "phase: deterministic)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    threads: Optional[int] = threads_option("Intra-op threads of the runtime."),
    prenet_seed: int = typer.Option(0, help="Seed of the prenet dropout masks (Tacotron 2 keeps the dropout on at "
                                    "inference); negative turns the dropout off."),
    gate_threshold: float = typer.Option(0.5, min=0.0, max=1.0, help="Stop when sigmoid(gate) exceeds this."),
    max_steps: Optional[int] = typer.Option(None, min=1, help="Decoder step cap (default: by text length)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results instead of text lines."),
) -> None:
    """Synthesize speech to 16-bit WAV files and print the time and real-time factor.

    Real-time factor here is audio seconds per wall second (higher is faster, the same direction as RTFx);
    NVIDIA's Tacotron 2 scripts and sherpa-onnx report the inverse (compute seconds per audio second).
    A sentence whose stop gate never fires is cut at the step cap, with a warning (gate_fired false in --json).
    """
    import json

    from speechopt.tasks.tts.synth import synthesize

    result = synthesize(artifact, texts=[text] if text is not None else None, texts_file=texts, out=out,
                        vocoder=vocoder, device=device, threads=threads,
                        prenet_seed=None if prenet_seed < 0 else prenet_seed, gate_threshold=gate_threshold,
                        max_steps=max_steps, warn=lambda msg: typer.echo(msg, err=True))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for r in result["results"]:
        mark = "" if r["gate_fired"] else "  [stop gate never fired: cut at the cap]"
        typer.echo(f"{r['file']}: {r['audio_seconds']:.2f} s of audio in {r['seconds'] * 1000:.0f} ms "
                   f"(acoustic {r['acoustic_seconds'] * 1000:.0f} ms, vocoder {r['vocoder_seconds'] * 1000:.0f} ms), "
                   f"real-time factor {r['rtf']:.2f}{mark}")
    typer.echo(f"total: {result['audio_seconds']:.2f} s of audio in {result['total_seconds']:.2f} s, real-time "
               f"factor {result['rtf']:.2f} (audio seconds per wall second)")


@command(app, "import-tts")
def import_tts_cmd(
    run_dir: Path = typer.Argument(..., help="A run folder of `python -m speechopt.train_tts` (model.safetensors + "
                                   "config.json)."),
    out: Path = typer.Option(..., "-o", "--out", help="The pytorch artifact to write."),
    overwrite: bool = typer.Option(False, help="Replace an existing artifact."),
) -> None:
    """Make a TTS pytorch artifact from a training run folder (weights read with safetensors only).

    The manifest records the text front end and the mel settings, which a vocoder checks against its own.
    """
    from speechopt.models.tts.artifact import artifact_from_run

    art = artifact_from_run(run_dir, out, overwrite=overwrite)
    typer.echo(f"{art.path}: tts {art.architecture['name']} (graphs {', '.join(art.graphs)})")
