"""Bench reports: a terminal table, JSON, Markdown (CI job summary / PR comment) and self-contained HTML."""

from __future__ import annotations

import base64
import html
import io
import json
import sys
from pathlib import Path

from speechopt.bench.harness import cpu_label
from speechopt.io import atomic_write_text

COLUMNS = ["variant", "backend", "p50 ms", "p90 ms", "p99 ms", "speedup", "RTFx", "size MB", "zip MB", "RSS MB",
           "WER", "drift", "long drift", "same text"]


def _fmt(v, spec: str, none: str = "-") -> str:
    return none if v is None else format(v, spec)


def table_rows(rows: list[dict]) -> list[list[str]]:
    out = []
    for r in rows:
        long_drift = r["drift_by_length"].get("long")
        out.append([
            r["name"] + (" (ref)" if r["reference"] else ""), r["backend"],
            _fmt(r["latency_ms"]["p50"], ".2f"), _fmt(r["latency_ms"]["p90"], ".2f"), _fmt(r["latency_ms"]["p99"], ".2f"),
            _fmt(r["speedup"], ".2f") + "x", _fmt(r["rtfx"], ".0f"),
            _fmt(r["size_mb"], ".2f"), _fmt(r.get("compressed_mb"), ".2f"), _fmt(r["peak_rss_mb"], ".0f"),
            _fmt(r["wer"] * 100, ".2f") + "%", _fmt(r["wer_drift"] * 100, "+.2f"),
            _fmt(None if long_drift is None else long_drift * 100, "+.2f"),
            _fmt(r["identical_transcripts"] * 100, ".1f") + "%",
        ])
    return out


def print_table(rows: list[dict], report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m = report["machine"]
    batch = rows[0]["throughput_batch"] if rows else None
    table = Table(title=f"speechopt bench: {cpu_label(m)}, threads {m['threads'] or 'default'}; "
                        f"latency at batch 1, RTFx at batch {batch or 1}; drift in WER points vs reference")
    for c in COLUMNS:
        table.add_column(c, justify="left" if c in ("variant", "backend") else "right")
    for row in table_rows(rows):
        table.add_row(*row)
    # a CI log is no terminal: give the table room instead of folding every cell
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table)
    for w in report.get("warnings") or []:
        console.print(f"[yellow]warning:[/yellow] {w}")


def markdown(rows: list[dict], report: dict, breaches: list[str] | None = None) -> str:
    m = report["machine"]
    lines = ["## speechopt bench", "",
             f"Machine: {cpu_label(m)} ({m['cpu_count']} cores, threads {m['threads'] or 'default'}), "
             f"torch {m.get('torch', '-')}, onnxruntime {m.get('onnxruntime', m.get('onnxruntime-gpu', '-'))}.  ",
             f"Data: `{report['settings']['data']}`; reference: `{report['settings']['reference']}`.  ",
             f"Latency at batch 1 (p50/p90/p99 over real utterances); RTFx (audio seconds per wall second) at batch "
             f"{rows[0]['throughput_batch'] if rows else 1}; accuracy: {report['settings']['accuracy_mode']}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(rows)]
    for w in report.get("warnings") or []:
        lines += ["", f"> **Warning:** {w}"]
    if breaches is not None:
        lines += ["", "**Budgets: all met.**" if not breaches else "**Budgets broken:**"]
        lines += [f"- {b}" for b in breaches]
    return "\n".join(lines) + "\n"


def _plot_png(rows: list[dict]) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for r in rows:
        ax.scatter(r["rtfx"], r["wer"] * 100, s=60, marker="*" if r["reference"] else "o")
        ax.annotate(f"{r['name']} [{r['backend']}]", (r["rtfx"], r["wer"] * 100), fontsize=8,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("RTFx (audio seconds per wall second, log scale)")
    ax.set_ylabel("WER (%)")
    ax.set_title("Accuracy against speed")
    ax.grid(True, alpha=0.3)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def html_report(rows: list[dict], report: dict, breaches: list[str] | None = None) -> str:
    png = _plot_png(rows)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in table_rows(rows))
    plot = (f'<img alt="WER against RTFx" src="data:image/png;base64,{png}">' if png
            else "<p>(plot unavailable: matplotlib is not installed; pip install 'speechopt[report]')</p>")
    budget = ""
    if breaches is not None:
        budget = "<p><b>Budgets: all met.</b></p>" if not breaches else (
            "<p><b>Budgets broken:</b></p><ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in breaches) + "</ul>")
    machine = html.escape(json.dumps(report["machine"], indent=1))
    budget += "".join(f"<p><b>Warning:</b> {html.escape(w)}</p>" for w in report.get("warnings") or [])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>speechopt bench</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:4px 8px;text-align:right}}td:first-child,td:nth-child(2){{text-align:left}}</style></head><body>
<h1>speechopt bench</h1><p>Reference: <code>{html.escape(report['settings']['reference'])}</code>;
data: <code>{html.escape(report['settings']['data'])}</code>. Latency at batch 1; RTFx at the largest batch;
drift in WER points against the reference. {html.escape(report['settings']['accuracy_mode'])}.</p>
<table><tr>{head}</tr>{body}</table>{budget}{plot}<h2>Machine</h2><pre>{machine}</pre></body></html>
"""


def write_reports(report: dict, rows: list[dict], breaches: list[str] | None, json_path: Path | None,
                  md_path: Path | None, html_path: Path | None) -> None:
    if json_path:
        atomic_write_text(json_path, json.dumps({"rows": rows, "breaches": breaches or [], **report}, indent=2) + "\n")
    if md_path:
        atomic_write_text(md_path, markdown(rows, report, breaches))
    if html_path:
        atomic_write_text(html_path, html_report(rows, report, breaches))
