"""`speechopt data ...`: make speech datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

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
    synth: str = typer.Option("espeak", help="espeak (espeak-ng), festival (Festival's voices: apt package, see "
                              "`make festival`) or mix (each utterance either, even odds)."),
    tts: bool = typer.Option(False, "--tts", help="A single-voice TTS corpus: punctuated sentences with phoneme "
                             "durations and word timings (--split then only names the files)."),
    voice: str = typer.Option("en-us", help="--tts: the espeak-ng voice."),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", metavar="<seed:num>", help="--tts: skip the "
                                                "sentences of the corpus made with this seed and size (repeatable)."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Synthesize a speech corpus with espeak-ng and/or Festival (offline, seeded, 16 kHz mono).

    ASR corpora draw many voices (voice-disjoint splits, for both synthesizers); `--tts` makes one voice's corpus for training a
    synthesizer. The same command makes the same corpus, bit for bit.
    """
    from speechopt.data.synth import SynthSettings, synth_corpus
    from speechopt.progress import progress_bar

    if tts:
        from speechopt.data.tts_corpus import TtsSynthSettings, synth_tts_corpus

        try:
            skip = tuple(tuple(int(x) for x in e.split(":")) for e in exclude or [])
        except ValueError:
            raise typer.BadParameter("--exclude takes SEED:NUM, e.g. 0:4000") from None
        with progress_bar(num, f"synthesizing {split} (tts, {voice})") as advance:
            manifest = synth_tts_corpus(out, TtsSynthSettings(num=num, seed=seed, voice=voice, split=split,
                                                              exclude=skip), overwrite=overwrite, progress=advance)
        typer.echo(f"wrote {num} utterances: {manifest}")
        return

    with progress_bar(num, f"synthesizing {split} ({synth})") as advance:
        manifest = synth_corpus(out, SynthSettings(num=num, seed=seed, split=split, audio_format=audio_format,
                                                   synth=synth), overwrite=overwrite, progress=advance)
    typer.echo(f"wrote {num} utterances: {manifest}")
