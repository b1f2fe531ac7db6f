"""`speechopt synth`: text -> WAV through a TTS artifact (any format) and a vocoder; thin over tasks/tts/synth.py.
`speechopt tts griffin-lim` and `speechopt tts pipeline`: vocoder and pipeline artifacts, thin over
models/tts/vocoder.py and models/tts/pipeline.py."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from speechopt.cli import app, command
from speechopt.cli.options import threads_option


@command(app, "synth")
def synth_cmd(
    artifact: str = typer.Argument(..., help="TTS artifact folder or zoo:NAME (pytorch, torchscript or onnx), or a "
                                   "pipeline (`speechopt tts pipeline`: an acoustic model with its vocoder)."),
    text: Optional[str] = typer.Option(None, "--text", help="One sentence to synthesize."),
    texts: Optional[Path] = typer.Option(None, "--texts", help="A text file (one sentence a line) or a TTS manifest "
                                         "(JSONL with `text`)."),
    out: Path = typer.Option(..., "-o", "--out", help="OUT.wav for one sentence, or a folder (one WAV per sentence)."),
    vocoder: Optional[str] = typer.Option(None, help="griffin-lim (the default: 32 iterations of fast Griffin-Lim "
                                          "with the acoustic model's mel settings, zero initial phase: deterministic) "
                                          "or a vocoder artifact (`speechopt tts griffin-lim`), refused if its mel "
                                          "settings differ. Not with a pipeline, which has its own."),
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


tts_app = typer.Typer(help="Make TTS vocoder and pipeline artifacts.", no_args_is_help=True)
app.add_typer(tts_app, name="tts")


@command(tts_app, "griffin-lim")
def griffin_lim_cmd(
    like: str = typer.Option(..., "--like", help="The acoustic (tts) artifact whose mel settings the vocoder takes."),
    out: Path = typer.Option(..., "-o", "--out", help="The vocoder artifact to write."),
    n_iter: int = typer.Option(32, min=0, help="Griffin-Lim iterations."),
    momentum: float = typer.Option(0.99, help="Fast Griffin-Lim momentum in [0, 1) (0: the original Griffin "
                                   "and Lim algorithm)."),
    init_seed: Optional[int] = typer.Option(None, help="Seed of a random initial phase (default: zero phase). "
                                            "Either way the output is deterministic."),
    overwrite: bool = typer.Option(False, help="Replace an existing artifact."),
) -> None:
    """Make a Griffin-Lim vocoder artifact (no weights): its settings and the mel settings it expects.

    Two artifacts made with the same settings from acoustic models with the same mel settings are identical
    (the same checksum) and give the same samples.
    """
    from speechopt.models.tts.griffin_lim import GriffinLimSettings
    from speechopt.models.tts.vocoder import griffin_lim_like, load_vocoder

    settings = GriffinLimSettings(n_iter, momentum, "zeros" if init_seed is None else init_seed)
    voc = load_vocoder(griffin_lim_like(like, out, settings, overwrite=overwrite))
    typer.echo(f"{voc.path}: vocoder griffin-lim ({n_iter} iterations, momentum {momentum:g}, "
               f"{'zero' if init_seed is None else f'seed {init_seed}'} initial phase) for mels of "
               f"{voc.mel_config.describe()}")


@command(tts_app, "pipeline")
def pipeline_cmd(
    acoustic: str = typer.Argument(..., help="The acoustic (tts) artifact folder or zoo:NAME."),
    vocoder: str = typer.Argument(..., help="The vocoder artifact folder (`speechopt tts griffin-lim`)."),
    out: Path = typer.Option(..., "-o", "--out", help="The pipeline artifact to write."),
    overwrite: bool = typer.Option(False, help="Replace an existing artifact."),
) -> None:
    """Tie one acoustic model to one vocoder, both referenced by checksum; `speechopt synth PIPELINE` runs both.

    A vocoder whose mel settings differ from the acoustic model's is refused. Component paths are relative when
    the components sit beside the pipeline (move the folder together), absolute otherwise.
    """
    from speechopt.models.tts.pipeline import make_pipeline

    art = make_pipeline(acoustic, vocoder, out, overwrite=overwrite)
    parts = ", ".join(f"{role} {c['path']}" for role, c in art.components.items())
    typer.echo(f"{art.path}: tts pipeline ({parts}; checksum {art.checksum[:12]})")
