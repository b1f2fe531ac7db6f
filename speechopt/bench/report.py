"""Bench reports: a terminal table, JSON, Markdown (CI job summary / PR comment) and self-contained HTML."""

from __future__ import annotations

import base64
import html
import io
import json
import sys
from pathlib import Path

from speechopt.bench.machine import cpu_label
from speechopt.io import atomic_write_text

def _fmt(v, spec: str, none: str = "-") -> str:
    return none if v is None else format(v, spec)


def _task(report: dict):
    from speechopt.tasks import get_task

    return get_task(report.get("task", "asr"))


# (header, row -> cell): the columns every task shares; the task adds its quality columns after them.
SPEED_COLUMNS = [
    ("variant", lambda r: r["name"] + (" (ref)" if r["reference"] else "")),
    ("backend", lambda r: r["backend"]),
    ("p50 ms", lambda r: _fmt(r["latency_ms"]["p50"], ".2f")),
    ("p90 ms", lambda r: _fmt(r["latency_ms"]["p90"], ".2f")),
    ("p99 ms", lambda r: _fmt(r["latency_ms"]["p99"], ".2f")),
    ("speedup", lambda r: _fmt(r["speedup"], ".2f") + "x" + ("~" if r.get("noisy") else "")),
    ("RTFx", lambda r: _fmt(r["rtfx"], ".0f")),
    ("size MB", lambda r: _fmt(r["size_mb"], ".2f")),
    ("zip MB", lambda r: _fmt(r.get("compressed_mb"), ".2f")),
    ("RSS MB", lambda r: _fmt(r["peak_rss_mb"], ".0f")),
]
COMPACT = ("variant", "backend", "p50 ms", "speedup", "RTFx", "size MB")
NOISY_NOTE = "~ timings too noisy to trust the ratio (see the warnings)"


# with several thread counts (`bench --threads 1,2`): each row's count, and its best-vs-best ratio (each
# configuration at its own fastest count against the reference at its own)
THREAD_COLUMNS = [("thr", lambda r: _fmt(r.get("threads"), "d", "default")),
                  ("best", lambda r: _fmt(r.get("best_speedup"), ".2f") + "x" + (f"@{r['best_threads']}"
                                                                                if r.get("best_threads") else ""))]


def _thread_lists(report: dict) -> bool:
    return isinstance((report.get("settings") or {}).get("threads"), (list, tuple))


def columns(report: dict, compact: bool = False) -> list[tuple[str, object]]:
    speed = [c for c in SPEED_COLUMNS if not compact or c[0] in COMPACT]
    if _thread_lists(report):
        at = [h for h, _ in speed].index("speedup") + 1
        speed = speed[:2] + THREAD_COLUMNS[:1] + speed[2:at] + THREAD_COLUMNS[1:] + speed[at:]
    task = _task(report)
    return speed + task.columns(compact=compact) + ([] if compact else also_columns(report, task))


def also_columns(report: dict, task) -> list[tuple[str, object]]:
    """The task's two headline quality columns (ASR: WER and its drift) again for each further set."""
    cols = []
    for label, _ in (report.get("settings") or {}).get("also_data") or []:
        for header, cell in task.columns(compact=True)[:2]:
            cols.append((f"{header}@{label}",
                         lambda r, cell=cell, label=label: cell(r["also"][label]) if label in (r.get("also") or {})
                         else "-"))
    return cols


def table_rows(rows: list[dict], report: dict, compact: bool = False) -> list[list[str]]:
    cols = columns(report, compact)
    return [[cell(r) for _, cell in cols] for r in rows]


def _title(rows: list[dict], report: dict) -> str:
    m = report["machine"]
    batch = rows[0]["throughput_batch"] if rows else None
    return (f"speechopt bench: {cpu_label(m)}, threads {m['threads'] or 'default'}; latency at batch 1, "
            f"RTFx at batch {batch or 1}; {_task(report).describe_quality()}")


def print_table(rows: list[dict], report: dict) -> None:
    """The terminal table: all columns where there is room, the speed and headline quality columns in
    80; the full table is always in --markdown/--json."""
    import os

    from rich import box
    from rich.console import Console
    from rich.table import Table

    # A CI log is no terminal: give the table room, unless COLUMNS says how wide to be.
    console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200)
    full = columns(report)
    compact = console.width < 24 + 10 * len(full)
    table = Table(title=_title(rows, report), box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                  title_justify="left")
    for header, _ in columns(report, compact):
        # names are what a reader looks for: never fold them; numbers are short
        table.add_column(header, justify="left" if header in ("variant", "backend") else "right",
                         no_wrap=header == "variant", overflow="fold")
    for row in table_rows(rows, report, compact):
        table.add_row(*row)
    console.print(table)
    if compact:
        console.print("(more columns: --markdown or --json)")
    if any(r.get("noisy") for r in rows):
        console.print(NOISY_NOTE)
    for w in report.get("warnings") or []:
        console.print(f"[yellow]warning:[/yellow] {w}")


def markdown(rows: list[dict], report: dict, breaches: list[str] | None = None) -> str:
    m = report["machine"]
    headers = [h for h, _ in columns(report)]
    lines = ["## speechopt bench", "",
             f"Machine: {cpu_label(m)} ({m['cpu_count']} cores, threads {m['threads'] or 'default'}), "
             f"torch {m.get('torch', '-')}, onnxruntime {m.get('onnxruntime', m.get('onnxruntime-gpu', '-'))}.  ",
             f"Data: `{report['settings']['data']}`; reference: `{report['settings']['reference']}`.  ",
             f"Latency at batch 1 (p50/p90/p99 over real inputs); RTFx (audio seconds per wall second) at batch "
             f"{(rows[0]['throughput_batch'] if rows else None) or 1}; accuracy: {report['settings']['accuracy_mode']}.", "",
             "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(rows, report)]
    if any(r.get("noisy") for r in rows):
        lines += ["", NOISY_NOTE]
    for w in report.get("warnings") or []:
        lines += ["", f"> **Warning:** {w}"]
    if breaches is not None:
        lines += ["", "**Budgets: all met.**" if not breaches else "**Budgets broken:**"]
        lines += [f"- {b}" for b in breaches]
    return "\n".join(lines) + "\n"


def _plot_png(rows: list[dict], report: dict) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    axis = _task(report).plot_axis()
    if axis is None:
        return None
    label, quality = axis
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for r in rows:
        ax.scatter(r["rtfx"], quality(r), s=60, marker="*" if r["reference"] else "o")
        ax.annotate(f"{r['name']} [{r['backend']}]", (r["rtfx"], quality(r)), fontsize=8,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("RTFx (audio seconds per wall second, log scale)")
    ax.set_ylabel(label)
    ax.set_title("Accuracy against speed")
    ax.grid(True, alpha=0.3)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _listen(report: dict) -> str:
    """Per result, its first sentences: text, mel picture, audio player (embedded, so the file stands alone)."""
    parts = []
    for r in report.get("results", []):
        if not r.get("media"):
            continue
        parts.append(f"<h3>{html.escape(r['name'])} [{html.escape(r['backend'])}]</h3>")
        for m in r["media"]:
            img = (f'<img alt="mel" src="data:image/png;base64,{base64.b64encode(m["png"]).decode()}">'
                   if m.get("png") else "")
            parts.append(f"<p>{html.escape(m['text'])}<br>{img}<br><audio controls "
                         f'src="data:audio/wav;base64,{base64.b64encode(m["wav"]).decode()}"></audio></p>')
    return ("<h2>Listen</h2><p>The first sentences of every variant, vocoded as the round trip hears them.</p>"
            + "".join(parts)) if parts else ""


def html_report(rows: list[dict], report: dict, breaches: list[str] | None = None) -> str:
    png = _plot_png(rows, report)
    head = "".join(f"<th>{html.escape(c)}</th>" for c, _ in columns(report))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in table_rows(rows, report))
    plot = (f'<img alt="quality against RTFx" src="data:image/png;base64,{png}">' if png
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
{html.escape(_task(report).describe_quality())}. {html.escape(report['settings']['accuracy_mode'])}.</p>
<table><tr>{head}</tr>{body}</table>{budget}{plot}{_listen(report)}<h2>Machine</h2><pre>{machine}</pre></body></html>
"""


def write_reports(report: dict, rows: list[dict], breaches: list[str] | None, json_path: Path | None,
                  md_path: Path | None, html_path: Path | None) -> None:
    plain = {**report, "results": [{k: v for k, v in r.items() if k != "media"} for r in report.get("results", [])]}
    if json_path:
        atomic_write_text(json_path, json.dumps({"rows": rows, "breaches": breaches or [], **plain}, indent=2) + "\n")
    if md_path:
        atomic_write_text(md_path, markdown(rows, report, breaches))
    if html_path:
        atomic_write_text(html_path, html_report(rows, report, breaches))
        write_media(report, Path(html_path).with_name(Path(html_path).stem + "-audio"))


def write_media(report: dict, folder: Path) -> None:
    """The HTML report's audio as WAV files beside it: `<n>-<name>-<backend>-<k>.wav`, n the result's index."""
    import re

    from speechopt.io import atomic_write_bytes

    for n, r in enumerate(report.get("results", [])):
        for k, m in enumerate(r.get("media") or [], 1):
            stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{n}-{r['name']}-{r['backend']}-{k}")
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(folder / f"{stem}.wav", m["wav"])
