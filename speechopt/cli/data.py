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
    voice: Optional[str] = typer.Option(None, help="--tts: the espeak-ng voice (default en-us)."),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", metavar="<seed:num>", help="--tts: skip the "
                                                "sentences of the corpus made with this seed and size (repeatable)."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Synthesize a speech corpus with espeak-ng and/or Festival (offline, seeded, 16 kHz mono).

    ASR corpora draw many voices (voice-disjoint splits, for both synthesizers); `--tts` makes one voice's corpus for training a
    synthesizer. The same command makes the same corpus, bit for bit.
    """
    from speechopt.data.synth import SynthSettings, synth_corpus
    from speechopt.errors import SpeechoptError
    from speechopt.progress import progress_bar

    # An option the corpus kind does not use is refused, not ignored: the user would get another corpus
    # than the one asked for.
    if tts and (synth != "espeak" or audio_format != "wav"):
        raise SpeechoptError("--tts corpora are espeak-ng WAV (the phoneme durations come from espeak-ng); "
                             "leave out --synth and --format")
    if not tts and (voice is not None or exclude):
        raise SpeechoptError("--voice and --exclude are for --tts corpora; an ASR corpus draws its voices from "
                             "--split")
    if tts:
        voice = voice or "en-us"
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


def _range(text: str, name: str) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in text.split(":"))
    except ValueError:
        raise typer.BadParameter(f"{name} takes LOW:HIGH, e.g. 5:30, got {text!r}") from None
    return a, b


@command(data_app, "augment")
def data_augment(
    corpus: str = typer.Argument(..., help="Corpus folder or manifest to degrade (one copy of each utterance)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to create (audio/ as FLAC, manifest.jsonl)."),
    seed: int = typer.Option(0, help="Seed: the same command makes the same corpus."),
    speeds: str = typer.Option("0.9,1.0,1.1", help="Speed factors, one drawn per utterance (tempo and pitch)."),
    p_reverb: float = typer.Option(0.5, help="Probability of reverberation (a synthetic exponential-decay room)."),
    rt60: str = typer.Option("0.2:0.8", help="Reverberation time range, seconds."),
    p_noise: float = typer.Option(0.8, help="Probability of additive noise."),
    snr: str = typer.Option("5:30", help="Signal-to-noise ratio range, dB."),
    noises: str = typer.Option("white,pink,babble", help="Noise kinds, one drawn per noisy utterance (babble: "
                               "other utterances of the corpus)."),
    p_telephone: float = typer.Option(0.1, help="Probability of the telephone band (8 kHz, 300-3400 Hz)."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Write a degraded copy of a corpus: speed, reverberation, noise, telephone band (seeded).

    What was done to each utterance is in its manifest row (`augment`); the settings in augment.json.
    """
    from speechopt.data.augment import AugmentSettings, augment_corpus
    from speechopt.progress import progress_bar
    from speechopt.zoo import resolve

    try:
        factors = tuple(float(x) for x in speeds.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(f"--speeds takes comma-separated factors, got {speeds!r}") from None
    settings = AugmentSettings(seed=seed, speeds=factors, p_reverb=p_reverb, rt60=_range(rt60, "--rt60"),
                               p_noise=p_noise, snr_db=_range(snr, "--snr"),
                               noises=tuple(n.strip() for n in noises.split(",") if n.strip()), p_telephone=p_telephone)
    settings.check()
    source = resolve(corpus)
    rows = (source / "manifest.jsonl" if source.is_dir() else source)
    total = sum(1 for line in rows.read_text().splitlines() if line.strip()) if rows.is_file() else None
    with progress_bar(total, "augmenting") as advance:
        manifest = augment_corpus(source, out, settings, overwrite=overwrite, progress=advance)
    typer.echo(f"wrote {manifest}")
