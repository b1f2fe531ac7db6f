"""The speechopt command line: one thin command per library function.

A user error (`SpeechoptError`) prints one line and exits with its code (1, or 3 for a broken budget);
set SPEECHOPT_DEBUG=1 or pass --debug to see the traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from speechopt.errors import SpeechoptError

app = typer.Typer(
    help="Export, compress and benchmark trained speech models, and measure what each step costs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Make and inspect speech datasets.", no_args_is_help=True)
train_app = typer.Typer(help="Train reference models.", no_args_is_help=True)
zoo_app = typer.Typer(help="The bundled models and evaluation set.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.add_typer(zoo_app, name="zoo")


_debug_flag = False  # set per invocation by --debug (not through the environment, which would outlive it)


def _debug() -> bool:
    return _debug_flag or os.environ.get("SPEECHOPT_DEBUG", "") not in ("", "0")


def command(group: typer.Typer, name: str | None = None):
    """Register a command whose SpeechoptError becomes one line on stderr and an exit code."""

    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except SpeechoptError as exc:
                if _debug():
                    raise
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(exc.exit_code) from None
            except KeyboardInterrupt:
                typer.echo("interrupted", err=True)
                raise typer.Exit(130) from None

        return group.command(name)(run)

    return decorate


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    global _debug_flag
    _debug_flag = debug
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)


def _parse_kv(items: list[str] | None) -> dict:
    """`k=v` pairs, values parsed as JSON where they parse (numbers, booleans), else strings."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SpeechoptError(f"expected key=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def _write_json(path: Path | None, obj) -> None:
    if path is None:
        return
    from speechopt.io import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------- data
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


# --------------------------------------------------------------------------------------------- train
@command(train_app, "asr")
def train_asr_cmd(
    arch: str = typer.Option(..., help="Architecture: cnn-ctc, lstm-ctc or crnn-ctc."),
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
    config: Optional[list[str]] = typer.Option(None, "--config", help="Architecture option k=v (repeatable)."),
    frontend: Optional[list[str]] = typer.Option(None, "--frontend", help="Frontend option k=v, e.g. kind=mfcc."),
    seed: int = typer.Option(0),
    threads: Optional[int] = typer.Option(None, help="torch threads."),
    max_utterances: Optional[int] = typer.Option(None, help="Use only the first N training utterances."),
    init_from: Optional[str] = typer.Option(None, help="Start from this artifact's weights (same architecture)."),
    freq_warp: float = typer.Option(0.1, help="Augmentation: random frequency-axis stretch of +-this fraction (0: off)."),
    spec_augment: bool = typer.Option(True, help="Augmentation: SpecAugment time and frequency masks."),
    average: int = typer.Option(1, help="Average the weights of the N best validation checkpoints at the end; kept "
                                "only if it validates no worse than the best one (1: off)."),
    resume: bool = typer.Option(False, help="Resume from OUT.train-state if present."),
    overwrite: bool = typer.Option(False),
) -> None:
    """Train a CTC acoustic model on a manifest; writes a pytorch artifact with lineage."""
    from speechopt.train import TrainSettings, train_asr
    from speechopt.zoo import resolve

    settings = TrainSettings(
        arch=arch, config=_parse_kv(config), frontend=_parse_kv(frontend), optimizer=optimizer, lr=lr,
        epochs=epochs, max_steps=max_steps, time_budget_min=time_budget, val_every_min=val_every, batch_frames=batch_frames,
        seed=seed, threads=threads, max_utterances=max_utterances, freq_warp=freq_warp, spec_augment=spec_augment,
        init_from=str(resolve(init_from)) if init_from else None, average=average,
    )
    artifact = train_asr(settings, resolve(data), out, val_data=resolve(val_data), resume=resume, overwrite=overwrite,
                         log=lambda msg: typer.echo(msg, err=True))
    m = artifact.manifest["metrics"]
    typer.echo(f"wrote {out}: validation WER {m['val_wer']:.2%}, CER {m['val_cer']:.2%}")


# ---------------------------------------------------------------------------------------------- eval
@command(app, "eval")
def eval_cmd(
    artifact: str = typer.Argument(..., help="Artifact folder or zoo:NAME."),
    data: str = typer.Option("zoo:eval", help="Manifest (or zoo:NAME)."),
    batch_size: int = typer.Option(16, help="Utterances per batch (length-sorted)."),
    threads: Optional[int] = typer.Option(None, help="torch threads."),
    decoder: str = typer.Option("greedy", help="greedy (best path), or lexicon (beam search spelling only known words)."),
    lexicon: Optional[Path] = typer.Option(None, help="lexicon: word list, whitespace-separated (default: the corpus vocabulary)."),
    beam: int = typer.Option(16, help="lexicon: beam width."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write results as JSON here."),
) -> None:
    """Transcribe a manifest and print WER and CER (after the stated text normalization)."""
    from speechopt.evaluate import evaluate_artifact
    from speechopt.zoo import resolve

    result = evaluate_artifact(resolve(artifact), resolve(data), batch_size=batch_size, threads=threads,
                               decoder=decoder, lexicon=lexicon, beam=beam)
    how = "greedy" if decoder == "greedy" else f"lexicon of {result['lexicon_words']} words, beam {beam}"
    typer.echo(f"{result['artifact']}: WER {result['wer']:.2%}  CER {result['cer']:.2%}  [{how}]  "
               f"({result['utterances']} utterances, {result['ref_words']} words; normalization: {result['normalization']})")
    _write_json(json_out, result)


# ------------------------------------------------------------------------------------------- export
@command(app, "export")
def export_cmd(
    artifact: str = typer.Argument(..., help="A pytorch ASR artifact (or zoo:NAME)."),
    to: str = typer.Option(..., "--to", help="torchscript, onnx or exported-program (torch.export)."),
    out: Path = typer.Option(..., "--out", "-o", help="Artifact folder to write."),
    mode: str = typer.Option("trace", help="torchscript: trace or script."),
    opset: int = typer.Option(17, help="onnx: opset version."),
    exporter: str = typer.Option("auto", help="onnx: auto, dynamo or legacy (auto tests and falls back)."),
    validation_data: str = typer.Option("zoo:eval", help="Real utterances the export is validated on."),
    max_validation_utts: int = typer.Option(32, help="Utterances used for validation."),
    atol: float = typer.Option(1e-3, help="Largest allowed |log-prob difference| against PyTorch."),
    threads: Optional[int] = typer.Option(None),
    overwrite: bool = typer.Option(False),
) -> None:
    """Export with dynamic batch and time axes; validated against PyTorch before it is accepted."""
    from speechopt.steps.export import export_model
    from speechopt.zoo import resolve

    art = export_model(resolve(artifact), to, out, mode=mode, opset=opset, exporter=exporter,
                       validation_data=resolve(validation_data), max_validation_utts=max_validation_utts,
                       atol=atol, threads=threads, overwrite=overwrite)
    v = art.manifest.get("validation", {})
    how = art.manifest.get("export", {}).get("exporter", art.format)
    typer.echo(f"wrote {out} ({art.format} via {how}): max |diff| {v.get('max_abs_diff', float('nan')):.2e} "
               f"on {v.get('utterances', '?')} utterances, transcripts identical: {v.get('transcripts_equal', '?')}")


# ----------------------------------------------------------------------------------------- compress
@command(app, "quantize")
def quantize_cmd(
    artifact: str = typer.Argument(..., help="An onnx (any method) or pytorch (dynamic) ASR artifact."),
    out: Path = typer.Option(..., "--out", "-o", help="Artifact folder to write."),
    method: str = typer.Option("dynamic", help="dynamic (int8 weights), static (int8 QDQ, calibrated) or fp16."),
    weight_type: str = typer.Option("qint8", help="dynamic: qint8 or quint8."),
    per_channel: bool = typer.Option(False, help="Per-channel weight scales."),
    op_types: Optional[list[str]] = typer.Option(None, "--op-type", help="Op types to quantize (repeatable; default by method)."),
    calibration_data: Optional[str] = typer.Option(None, help="static: manifest of real utterances to calibrate on."),
    calibration_size: int = typer.Option(64, help="static: utterances used, spread over the length distribution."),
    calibrate_method: str = typer.Option("minmax", help="static: minmax, percentile or entropy."),
    fp16_ops: Optional[list[str]] = typer.Option(None, "--fp16-op", help="fp16: op types computed in float16."),
    validation_data: str = typer.Option("zoo:eval", help="Utterances the result is checked on."),
    overwrite: bool = typer.Option(False),
) -> None:
    """Dynamic int8, static int8 (QDQ, the form TensorRT takes) or fp16; validated on CPU before it is written."""
    from speechopt.steps.quantize import QuantizeSettings, quantize
    from speechopt.zoo import resolve

    settings = QuantizeSettings(method=method, weight_type=weight_type, per_channel=per_channel,
                                op_types=op_types or [], calibration_data=str(resolve(calibration_data)) if calibration_data else None,
                                calibration_size=calibration_size, calibrate_method=calibrate_method,
                                fp16_ops=fp16_ops or [])
    art = quantize(resolve(artifact), out, settings, validation_data=str(resolve(validation_data)), overwrite=overwrite)
    v = art.manifest["validation"]
    typer.echo(f"wrote {out}: {art.manifest['quantization']['method']} ({art.format}), "
               f"{art.size_bytes() / 1e6:.2f} MB; on {v['utterances']} utterances: max |diff| {v['max_abs_diff']:.4f}, "
               f"identical transcripts {v['identical_transcripts']:.0%}")


@command(app, "prune")
def prune_cmd(
    artifact: str = typer.Argument(..., help="A pytorch ASR artifact (or zoo:NAME)."),
    out: Path = typer.Option(..., "--out", "-o", help="Artifact folder to write."),
    amount: float = typer.Option(..., help="Fraction to remove, in [0, 1)."),
    structured: bool = typer.Option(False, help="Remove whole channels/units and rebuild layers smaller (faster)."),
    scope: str = typer.Option("global", help="Unstructured: one global threshold, or per layer."),
    finetune_steps: int = typer.Option(0, help="Fine-tune this many steps after pruning (needs --data)."),
    data: Optional[str] = typer.Option(None, help="Training manifest for fine-tuning."),
    val_data: Optional[str] = typer.Option(None, help="Validation manifest for fine-tuning (held out: not the data you report on)."),
    lr: float = typer.Option(5e-4, help="Fine-tuning peak learning rate."),
    threads: Optional[int] = typer.Option(None),
    overwrite: bool = typer.Option(False),
) -> None:
    """Magnitude or structured pruning, optionally followed by a short fine-tuning to recover WER."""
    from speechopt.steps.prune import PruneSettings, prune
    from speechopt.zoo import resolve

    if finetune_steps and not (data and val_data):
        # the best checkpoint is picked on --val-data: defaulting it to the evaluation set would tune on the test
        raise SpeechoptError("--finetune-steps needs --data (a training manifest) and --val-data (a held-out one)")
    settings = PruneSettings(amount=amount, structured=structured, scope=scope)
    if not finetune_steps:
        art = prune(resolve(artifact), out, settings, overwrite=overwrite)
    else:
        import tempfile

        from speechopt.train import TrainSettings, train_asr

        with tempfile.TemporaryDirectory(prefix="speechopt-prune-", dir=Path(out).parent if Path(out).parent.exists() else None) as tmp:
            pruned = prune(resolve(artifact), Path(tmp) / "pruned", settings)
            ts = TrainSettings(arch=pruned.architecture["name"], config=pruned.architecture["config"],
                               frontend=pruned.manifest["frontend"], lr=lr, max_steps=finetune_steps,
                               warmup=0.05, threads=threads, init_from=str(pruned.path))
            art = train_asr(ts, resolve(data), out, val_data=resolve(val_data), overwrite=overwrite,
                            log=lambda m: typer.echo(m, err=True))
    info = art.manifest["metrics"].get("prune") or {}
    typer.echo(f"wrote {out}: {json.dumps(info) if info else 'pruned and fine-tuned'}")


@command(app, "distill")
def distill_cmd(
    teacher: str = typer.Argument(..., help="Teacher: a pytorch ASR artifact (or zoo:NAME)."),
    student_arch: Optional[str] = typer.Option(None, help="Student architecture (cnn-ctc, lstm-ctc, crnn-ctc)."),
    student_config: Optional[list[str]] = typer.Option(None, "--student-config", help="Student option k=v (repeatable)."),
    data: str = typer.Option(..., help="Training manifest."),
    val_data: str = typer.Option(..., help="Validation manifest (held out: the best checkpoint is picked on it)."),
    out: Path = typer.Option(..., "--out", "-o"),
    temperature: float = typer.Option(2.0, help="Softening temperature of both posteriors."),
    alpha: float = typer.Option(0.5, help="Weight of the KL term (1 - alpha weighs CTC)."),
    epochs: Optional[int] = typer.Option(None),
    max_steps: Optional[int] = typer.Option(None),
    time_budget: Optional[float] = typer.Option(None, help="Minutes."),
    val_every: float = typer.Option(5.0, help="Minutes between validations in a time-budgeted run."),
    lr: float = typer.Option(2e-3),
    init_from: Optional[str] = typer.Option(None, help="Start the student from these weights (e.g. a structured-pruned "
                                            "teacher); its architecture and configuration become the student's."),
    average: int = typer.Option(1, help="Average the N best validation checkpoints at the end (kept only if no worse)."),
    seed: int = typer.Option(0),
    threads: Optional[int] = typer.Option(None),
    resume: bool = typer.Option(False),
    overwrite: bool = typer.Option(False),
) -> None:
    """Train a smaller student from a teacher (CTC + KL on frame posteriors); the student keeps lineage."""
    from speechopt.steps.distill import DistillSettings, distill
    from speechopt.train import TrainSettings
    from speechopt.zoo import resolve

    ts = TrainSettings(arch=student_arch, lr=lr, epochs=epochs, max_steps=max_steps, time_budget_min=time_budget,
                       val_every_min=val_every, seed=seed, threads=threads, average=average,
                       init_from=str(resolve(init_from)) if init_from else None)
    art = distill(resolve(teacher), DistillSettings(student_arch, _parse_kv(student_config), temperature, alpha), ts,
                  resolve(data), resolve(val_data), out, resume=resume, overwrite=overwrite,
                  log=lambda m: typer.echo(m, err=True))
    m = art.manifest["metrics"]
    typer.echo(f"wrote {out}: validation WER {m['val_wer']:.2%}, CER {m['val_cer']:.2%}")


# --------------------------------------------------------------------------------------------- bench
@command(app, "bench")
def bench_cmd(
    artifacts: list[str] = typer.Argument(..., help="Artifact folders (or zoo:NAME) to measure."),
    backend: list[str] = typer.Option(["cpu"], "--backend", "-b", help="cpu, onnxruntime, cuda or tensorrt (repeatable)."),
    data: str = typer.Option("zoo:eval", help="Manifest of real utterances (or zoo:NAME)."),
    reference: Optional[str] = typer.Option(None, help="Reference artifact for drift and speedup (default: the first)."),
    batch_sizes: str = typer.Option("1,16", help="Comma-separated; 1 gives latency, larger ones throughput/RTFx."),
    threads: Optional[int] = typer.Option(None, help="Intra-op threads for every runtime."),
    min_seconds: float = typer.Option(3.0, help="Minimum measuring time per configuration and batch size."),
    min_iters: int = typer.Option(100, help="Minimum batch-1 timed calls."),
    max_utterances: Optional[int] = typer.Option(None, help="Use only the first N utterances."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full report (raw timings included)."),
    markdown_out: Optional[Path] = typer.Option(None, "--markdown", help="Write a Markdown table (CI summary)."),
    html_out: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained HTML report with a plot."),
    max_wer_drift: Optional[float] = typer.Option(None, help="Budget: WER drift in absolute points."),
    max_latency_ms: Optional[float] = typer.Option(None, help="Budget: batch-1 p50 latency in ms."),
    min_speedup: Optional[float] = typer.Option(None, help="Budget: batch-1 speedup over the reference."),
) -> None:
    """Measure latency, throughput, RTFx, memory, size and WER drift; budgets make it a CI gate (exit 3)."""
    from speechopt.bench.budgets import Budgets, check_budgets
    from speechopt.bench.harness import BenchSettings, bench, summary_rows
    from speechopt.bench.report import print_table, write_reports
    from speechopt.zoo import resolve

    try:
        sizes = [int(x) for x in batch_sizes.split(",") if x.strip()]
    except ValueError:
        raise SpeechoptError(f"--batch-sizes takes comma-separated integers, got {batch_sizes!r}") from None
    paths = [str(resolve(a)) for a in artifacts]
    settings = BenchSettings(data=str(resolve(data)), backends=backend, batch_sizes=sizes, threads=threads,
                             min_seconds=min_seconds, min_iters=min_iters, max_utterances=max_utterances)
    report = bench(paths, str(resolve(reference)) if reference else paths[0], settings,
                   log=lambda m: typer.echo(f"measuring {m}", err=True))
    rows = summary_rows(report)
    budgets = Budgets(max_wer_drift, max_latency_ms, min_speedup)
    breaches = check_budgets(rows, budgets) if budgets.any() else None
    print_table(rows, report)
    write_reports(report, rows, breaches, json_out, markdown_out, html_out)
    if breaches:
        for b in breaches:
            typer.echo(f"budget broken: {b}", err=True)
        raise typer.Exit(3)


# ----------------------------------------------------------------------------------------------- run
@command(app, "run")
def run_cmd(
    recipe: Path = typer.Argument(..., help="A recipe YAML (see recipes/)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the step artifacts and the reports."),
) -> None:
    """Run a declarative pipeline: steps that make variants, then a bench with budgets (exit 3 on a breach)."""
    from speechopt.bench.budgets import Budgets, check_budgets
    from speechopt.bench.harness import summary_rows
    from speechopt.bench.report import print_table, write_reports
    from speechopt.recipes import load_recipe, run_recipe

    r = load_recipe(recipe)
    result = run_recipe(r, out, log=lambda m: typer.echo(m, err=True))
    report = result["report"]
    if report is None:
        typer.echo(f"{r.name}: wrote {', '.join(k for k in result if k not in ('model', 'report'))} under {out}")
        return
    rows = summary_rows(report)
    b = (r.bench or {}).get("budgets") or {}
    budgets = Budgets(b.get("max_wer_drift"), b.get("max_latency_ms"), b.get("min_speedup"))
    breaches = check_budgets(rows, budgets) if budgets.any() else None
    print_table(rows, report)
    write_reports(report, rows, breaches, out / "report.json", out / "report.md", out / "report.html")
    typer.echo(f"reports: {out / 'report.json'}  {out / 'report.md'}  {out / 'report.html'}")
    if breaches:
        for line in breaches:
            typer.echo(f"budget broken: {line}", err=True)
        raise typer.Exit(3)


# ----------------------------------------------------------------------------------------------- zoo
@command(zoo_app, "list")
def zoo_list(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List the bundled models and datasets."""
    from speechopt.zoo import list_zoo

    entries = list_zoo()
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    width = max((len(e["name"]) for e in entries), default=0)
    for e in entries:
        if e["kind"] == "model":
            wer = e["metrics"].get("eval_wer")
            figure = f"eval WER {wer:.2%}" if wer is not None else ""
            typer.echo(f"zoo:{e['name']:<{width}} {e['task']} {e['architecture']:<10} {e['size_bytes'] / 1e6:5.1f} MB  {figure}")
        else:
            typer.echo(f"zoo:{e['name']:<{width}} dataset {e['utterances']} utterances, {e['hours']:.2f} h  {e['path']}")


@command(zoo_app, "add")
def zoo_add(
    artifact: str = typer.Argument(..., help="Artifact folder to bundle."),
    name: str = typer.Option(..., help="Zoo name (zoo:NAME)."),
    data: str = typer.Option("zoo:eval", help="Manifest to measure WER/CER on (recorded in the manifest)."),
    overwrite: bool = typer.Option(False),
) -> None:
    """Copy an artifact into the bundled zoo (for maintainers), recording its evaluation WER."""
    from speechopt.zoo import add_to_zoo

    r = add_to_zoo(artifact, name, data, overwrite=overwrite)
    typer.echo(f"zoo:{r['name']}: WER {r['wer']:.2%}  CER {r['cer']:.2%} (greedy); "
               f"WER {r['wer_lexicon']:.2%}  CER {r['cer_lexicon']:.2%} (lexicon)  ({r['path']})")


from speechopt.cli_gpu import register as _register_gpu_commands  # noqa: E402  (env, build)

_register_gpu_commands(app, command)

from speechopt.cli_hf import register as _register_hf_commands  # noqa: E402  (import-hf)

_register_hf_commands(app, command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
