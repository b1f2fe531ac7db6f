"""`speechopt data ...`: make speech datasets."""

from __future__ import annotations

from pathlib import Path

import typer

from speechopt.cli import app, command

data_app = typer.Typer(help="Make and inspect speech datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@command(data_app, "synth")
def data_synth(
    out: Path = typer.Option(..., "--out", "-o", help="Folder to create (audio/ and manifest.jsonl)."),
    num: int = typer.Option(..., "--num", "-n", help="Number of utterances."),
    seed: int = typer.Option(0, help="Seed: the same command makes the same corpus."),
    split: str = typer.Option("train", help="train (80 voice variants), train-narrow (the first 10 of them), or test (4 variants neither train split uses)."),
    audio_format: str = typer.Option("wav", "--format", help="wav or flac."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Synthesize a speech corpus with espeak-ng (offline, seeded, 16 kHz mono)."""
    from speechopt.data.synth import SynthSettings, synth_corpus
    from speechopt.progress import progress_bar

    with progress_bar(num, f"synthesizing {split}") as advance:
        manifest = synth_corpus(out, SynthSettings(num=num, seed=seed, split=split, audio_format=audio_format),
                                overwrite=overwrite, progress=advance)
    typer.echo(f"wrote {num} utterances: {manifest}")
