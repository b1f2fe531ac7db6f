"""`speechopt bench` and `speechopt run`: measure variants, and gate CI on budgets (exit 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from speechopt.cli import app, command
from speechopt.cli.options import check_int_list, check_thread_list, parse_ints, parse_threads, to_stderr

BUDGET_BROKEN = 3  # the exit code of a broken budget (see EXIT_CODES)


def _check_drift_budgets(items: list[str] | None) -> list[str] | None:
    """`--max-drift METRIC=VALUE`: the form is a usage error; whether the task has METRIC, the bench's to say."""
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            float(value)
        except ValueError:
            sep = ""
        if not (sep and name.strip()):
            raise typer.BadParameter(f"takes METRIC=VALUE (e.g. wer=0.5), got {item!r}")
    return items


def publish_and_gate(report: dict, json_path: Path | None, md_path: Path | None, html_path: Path | None,
                     announce: bool = False) -> None:
    """The tail both commands share: table and report files, then one stderr line per breach and exit 3."""
    from speechopt.bench.publish import publish

    breaches = publish(report, json_path, md_path, html_path)
    if announce:
        typer.echo(f"reports: {'  '.join(str(p) for p in (json_path, md_path, html_path) if p)}")
    for line in breaches:
        to_stderr(f"budget broken: {line}")
    if breaches:
        raise typer.Exit(BUDGET_BROKEN)


@command(app, "bench")
def bench_cmd(
    artifacts: list[str] = typer.Argument(..., help="Artifact folders (or zoo:NAME) to measure."),
    backend: list[str] = typer.Option(["cpu"], "--backend", "-b", metavar="<backend>",
                                      help="cpu, onnxruntime, cuda or tensorrt (repeatable)."),
    data: Optional[str] = typer.Option(None, help="Manifest of real utterances or sentences (or zoo:NAME); default: "
                                       "the reference's task's bundled set, zoo:eval (ASR) or zoo:tts-eval (TTS, "
                                       "vocoders)."),
    also_data: Optional[list[str]] = typer.Option(
        None, "--also-data", metavar="<data>",
        help="A further data set (or zoo:NAME) whose quality is measured too, not its speed; its drift is "
             "budgeted as METRIC@NAME (--max-drift wer@eval-hard=1.0). Repeatable."),
    reference: Optional[str] = typer.Option(None, help="Reference artifact for drift and speedup (default: the first)."),
    batch_sizes: str = typer.Option("1,16", callback=check_int_list, help="Comma-separated; 1 gives latency, larger ones throughput/RTFx."),
    threads: Optional[str] = typer.Option(
        None, "--threads", metavar="<n[,n...]>", callback=check_thread_list,
        help="Intra-op threads for every runtime; a list (1,2) measures every variant at each count and adds "
             "best-vs-best ratios (each at its own fastest count)."),
    min_seconds: float = typer.Option(3.0, help="Minimum measuring time per configuration and batch size."),
    min_iters: int = typer.Option(100, help="Minimum batch-1 timed calls."),
    max_utterances: Optional[int] = typer.Option(None, help="Use only the first N utterances."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full report (raw timings included)."),
    markdown_out: Optional[Path] = typer.Option(None, "--markdown", help="Write a Markdown table (CI summary)."),
    html_out: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained HTML report with a plot."),
    max_drift: Optional[list[str]] = typer.Option(
        None, "--max-drift", metavar="<metric=value>", callback=_check_drift_budgets,
        help="Budget: drift of a quality metric against the reference, in its unit (wer=0.5: half a WER point). "
             "Repeatable."),
    max_wer_drift: Optional[float] = typer.Option(None, help="Budget: WER drift in absolute points (= --max-drift wer=)."),
    max_latency_ms: Optional[float] = typer.Option(None, help="Budget: batch-1 p50 latency in ms."),
    min_speedup: Optional[float] = typer.Option(None, help="Budget: batch-1 speedup over the reference."),
) -> None:
    """Measure speed, size and quality drift against a reference.

    Latency, throughput, RTFx, memory, size and quality drift; budgets make it a CI gate (exit 3).
    """
    from speechopt.bench.budgets import Budgets
    from speechopt.bench.harness import BenchSettings, bench, quality_set
    from speechopt.zoo import resolve

    sizes = parse_ints(batch_sizes)
    budgets = Budgets.from_options(max_drift=max_drift, max_wer_drift=max_wer_drift, max_latency_ms=max_latency_ms,
                                   min_speedup=min_speedup)
    paths = [str(resolve(a)) for a in artifacts]
    # no --data: the harness takes the reference's task's bundled set
    settings = BenchSettings(data=str(resolve(data)) if data else None, backends=backend, batch_sizes=sizes,
                             threads=parse_threads(threads),
                             min_seconds=min_seconds, min_iters=min_iters, max_utterances=max_utterances,
                             also_data=[quality_set(d) for d in also_data or []])
    report = bench(paths, str(resolve(reference)) if reference else paths[0], settings,
                   budgets=budgets if budgets.any() else None, log=lambda m: to_stderr(f"measuring {m}"))
    publish_and_gate(report, json_out, markdown_out, html_out)


@command(app, "run")
def run_cmd(
    recipe: Path = typer.Argument(..., help="A recipe YAML (see recipes/)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the step artifacts and the reports."),
    resume: bool = typer.Option(False, "--resume", help="Keep the steps an earlier run into OUT finished "
                                "(same options, same source, files verified); run the rest."),
) -> None:
    """Run a recipe: steps that make variants, then a bench.

    The recipe's budgets make it a CI gate (exit 3 on a breach).
    """
    from speechopt.recipes import load_recipe, run_recipe

    r = load_recipe(recipe)
    result = run_recipe(r, out, log=to_stderr, resume=resume)
    report = result["report"]
    if report is None:
        typer.echo(f"{r.name}: wrote {', '.join(k for k in result if k not in ('model', 'report'))} under {out}")
        return
    publish_and_gate(report, out / "report.json", out / "report.md", out / "report.html", announce=True)
