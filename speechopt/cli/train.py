"""`speechopt train asr`: train a CTC acoustic model."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from speechopt.cli import app, command
from speechopt.cli.options import kv_option, parse_kv, threads_option, to_stderr

train_app = typer.Typer(help="Train reference models.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@command(train_app, "asr")
def train_asr_cmd(
    arch: str = typer.Option(..., help="Architecture: cnn-ctc, lstm-ctc, crnn-ctc or separable-ctc (convolution only)."),
    data: str = typer.Option(..., help="Training manifest (or its folder)."),
    val_data: str = typer.Option(..., help="Validation manifest, ideally of held-out voices."),
    out: Path = typer.Option(..., "--out", "-o", help="Artifact folder to write."),
    optimizer: str = typer.Option("adamw", help="adam, adamw, sgd or rmsprop."),
    lr: float = typer.Option(2e-3, help="Peak learning rate."),
    epochs: Optional[int] = typer.Option(None, help="Train for this many epochs..."),
    max_steps: Optional[int] = typer.Option(None, help="...or this many steps..."),
    time_budget: Optional[float] = typer.Option(None, help="...or for this many minutes (LR schedule over time)."),
    val_every: float = typer.Option(5.0, help="Minutes between validations in a time-budgeted run."),
    batch_frames: int = typer.Option(8000, help="Padded feature frames per batch."),
    config: Optional[list[str]] = kv_option("--config", "Architecture option k=v (repeatable)."),
    frontend: Optional[list[str]] = kv_option("--frontend", "Frontend option k=v, e.g. kind=mfcc."),
    seed: int = typer.Option(0),
    threads: Optional[int] = threads_option("torch threads."),
    max_utterances: Optional[int] = typer.Option(None, help="Use only the first N training utterances."),
    init_from: Optional[str] = typer.Option(None, help="Start from this artifact's weights (same architecture)."),
    freq_warp: float = typer.Option(0.1, help="Augmentation: random frequency-axis stretch of +-this fraction (0: off)."),
    spec_augment: bool = typer.Option(True, help="Augmentation: SpecAugment time and frequency masks."),
    average: int = typer.Option(1, help="Average the weights of the N best validation checkpoints at the end; kept "
                                "only if it validates no worse than the best one (1: off)."),
    precision: str = typer.Option("fp32", help="fp32, or bf16: forward passes under CPU autocast (1.6x faster "
                                  "CRNN steps on an AMX Xeon; weights and losses stay fp32)."),
    resume: bool = typer.Option(False, help="Resume from OUT.train-state if present."),
    overwrite: bool = typer.Option(False),
) -> None:
    """Train a CTC acoustic model on a manifest; writes a pytorch artifact with lineage."""
    from speechopt.train import TrainSettings, train_asr
    from speechopt.zoo import resolve

    settings = TrainSettings(
        arch=arch, config=parse_kv(config), frontend=parse_kv(frontend), optimizer=optimizer,
        lr=lr, epochs=epochs, max_steps=max_steps, time_budget_min=time_budget, val_every_min=val_every,
        batch_frames=batch_frames, seed=seed, threads=threads, max_utterances=max_utterances, freq_warp=freq_warp,
        spec_augment=spec_augment, init_from=str(resolve(init_from)) if init_from else None, average=average,
        precision=precision,
    )
    artifact = train_asr(settings, resolve(data), out, val_data=resolve(val_data), resume=resume, overwrite=overwrite,
                         log=to_stderr)
    m = artifact.manifest["metrics"]
    typer.echo(f"wrote {out}: validation WER {m['val_wer']:.2%}, CER {m['val_cer']:.2%}")


@command(train_app, "tts")
def train_tts_cmd(
    data: str = typer.Option(..., help="Training corpus (from `speechopt data synth --tts`) or its manifest."),
    val_data: str = typer.Option(..., help="Validation corpus: picks the checkpoint (never the evaluation set)."),
    out: Path = typer.Option(..., "--out", "-o", help="Artifact folder to write (the run folder is OUT.train-run)."),
    arch: str = typer.Option("tacotron2", help="Architecture: tacotron2 or tacotron (attention, autoregressive), "
                             "fastspeech (durations from espeak) or wavenet (a vocoder: trained on the corpus "
                             "audio and its mels)."),
    time_budget: Optional[float] = typer.Option(None, help="Minutes of training (LR schedule over time)..."),
    max_steps: Optional[int] = typer.Option(None, help="...or this many steps..."),
    epochs: Optional[int] = typer.Option(None, help="...or this many epochs."),
    config: Optional[list[str]] = kv_option("--config", "Architecture option k=v (repeatable), e.g. reduction=3."),
    frontend: str = typer.Option("chars", help="Text front end of an acoustic model: chars, or phonemes (espeak-ng's, "
                                 "with their exact durations; the corpus voice is recorded)."),
    feedback: float = typer.Option(0.0, help="Attention models (tacotron2, tacotron): scheduled sampling, the share of decoder steps fed the "
                                   "model's own previous frame in training (0: teacher forcing)."),
    select_on: str = typer.Option("l1", help="Attention models: keep the checkpoint with the lowest teacher-forced "
                                  "mel L1 (l1), or the lowest round-trip CER of free-running validation "
                                  "sentences (roundtrip: Griffin-Lim, then zoo:crnn-ctc)."),
    init_from: Optional[str] = typer.Option(None, help="Acoustic models: a pytorch artifact of the same "
                                            "architecture (zoo:NAME or a folder) to train on from."),
    lr: float = typer.Option(1e-3, help="Peak learning rate."),
    batch_size: Optional[int] = typer.Option(None, min=1, help="Sentences per batch (default 32; wavenet: 8 "
                                             "crops of 16 frames)."),
    val_every: float = typer.Option(10.0, help="Minutes between validations."),
    val_sentences: Optional[int] = typer.Option(None, min=1, help="Attention models: validation sentences "
                                                "synthesized free-running at each validation (alignment health, "
                                                "--select-on roundtrip; default 32); more cost time and pick "
                                                "checkpoints on less noise."),
    seed: int = typer.Option(0),
    threads: Optional[int] = threads_option("torch threads (default 1: training beside other work)."),
    resume: bool = typer.Option(False, help="Resume from OUT.train-run if it has a training state."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Train a TTS acoustic model or a WaveNet vocoder; writes a pytorch artifact.

    Time-budgeted, seeded and resumable; validates teacher-forced mel L1 and free-running alignment health.
    """
    from speechopt.errors import SpeechoptError
    from speechopt.models.tts.artifact import artifact_from_run
    from speechopt.train_tts import TtsTrainSettings, train_tts
    from speechopt.zoo import resolve

    if out.exists() and not overwrite:
        raise SpeechoptError(f"{out} already exists (use --overwrite to replace it)")
    if time_budget is None and max_steps is None and epochs is None:
        raise SpeechoptError("give --time-budget, --max-steps or --epochs")
    run = out.with_name(out.name + ".train-run")
    if arch == "wavenet":
        from speechopt.models.tts.vocoder import wavenet_from_run
        from speechopt.train_wavenet import WaveNetTrainSettings, train_wavenet

        if init_from:
            raise SpeechoptError("--init-from is for acoustic models; resume a wavenet run with --resume")
        given = [flag for flag, on in (("--frontend", frontend != "chars"), ("--feedback", feedback),
                                       ("--select-on", select_on != "l1"), ("--val-sentences", val_sentences))
                 if on]
        if given:
            raise SpeechoptError(f"{', '.join(given)}: for acoustic models, not the wavenet vocoder")
        if epochs is not None:
            raise SpeechoptError("wavenet trains for --time-budget or --max-steps (an epoch is one crop an utterance)")
        settings = WaveNetTrainSettings(config=parse_kv(config), lr=lr, batch_size=batch_size or 8,
                                        time_budget_min=time_budget, max_steps=max_steps, val_every_min=val_every,
                                        seed=seed, threads=threads or 1)
        train_wavenet(settings, resolve(data), resolve(val_data), run, resume=resume, log=to_stderr)
        art = wavenet_from_run(run, out, overwrite=overwrite)
        typer.echo(f"wrote {art.path}: wavenet vocoder; run folder {run}")
        return
    settings = TtsTrainSettings(arch=arch, frontend=frontend, feedback=feedback, select_on=select_on,
                                config=parse_kv(config), lr=lr, init_from=init_from,
                                batch_size=batch_size or 32,
                                time_budget_min=time_budget, max_steps=max_steps, epochs=epochs,
                                val_every_min=val_every, val_infer=val_sentences, seed=seed,
                                threads=threads or 1)
    train_tts(settings, resolve(data), resolve(val_data), run, resume=resume, log=to_stderr)
    art = artifact_from_run(run, out, overwrite=overwrite)
    typer.echo(f"wrote {art.path}: {art.architecture['name']} (graphs {', '.join(art.graphs)}); run folder {run}")
