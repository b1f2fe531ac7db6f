"""CPU study: every deployment variant of a model, measured side by side, repeated, medians reported.

    .venv/bin/python benchmarks/cpu_variants.py --model zoo:crnn-ctc --repeats 3 --out benchmarks/results/crnn-cpu

Variants are made fresh from the model (export, quantization, pruning), plus any ready-made artifacts
given with --extra (a distilled student, a fine-tuned pruned model). Each repeat is one full `speechopt
bench` run (one process per configuration, the reference measured in the same run), and ratios are
taken within a run before the median over runs, so machine drift between runs cancels out.
Writes OUT.md (the table, with the machine description) and OUT.json (every run's raw report).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from speechopt.bench.harness import BenchSettings, bench, summary_rows
from speechopt.bench.machine import cpu_label
from speechopt.zoo import resolve

VARIANTS = ["torchscript", "onnx", "onnx-int8-dynamic-default", "onnx-int8-dynamic", "onnx-int8-static",
            "onnx-int8-static-u8", "onnx-fp16", "torch-int8-dynamic", "pruned-unstructured", "pruned-structured",
            # a model with a planar export form (separable-ctc): the same, traced in its native 1-D form
            "onnx-native", "onnx-native-int8-static-u8"]


def make_variants(model: Path, work: Path, wanted: list[str], data: str, calibration: str,
                  prefix: str = "") -> dict[str, Path]:
    from speechopt.steps.export import export_model
    from speechopt.steps.prune import PruneSettings, prune
    from speechopt.steps.quantize import QuantizeSettings, quantize

    made: dict[str, Path] = {}
    onnx: dict[str, object] = {}

    def need_onnx(layout="auto"):
        if layout not in onnx:
            name = "onnx" if layout == "auto" else f"onnx-{layout}"
            onnx[layout] = export_model(model, "onnx", work / f"{prefix}{name}", validation_data=data, layout=layout)
        return onnx[layout]

    # static int8 with uint8 activations and per-channel weights: ONNX Runtime's fast CPU form
    static_u8 = dict(method="static", calibration_data=calibration, activation_type="quint8", per_channel=True)
    for name in wanted:
        t0 = time.time()
        if name == "torchscript":
            art = export_model(model, "torchscript", work / f"{prefix}{name}", validation_data=data)
        elif name == "onnx":
            art = need_onnx()
        elif name == "onnx-native":
            art = need_onnx("native")
        elif name == "onnx-int8-static-u8":
            art = quantize(need_onnx(), work / f"{prefix}{name}", QuantizeSettings(**static_u8), validation_data=data)
        elif name == "onnx-native-int8-static-u8":
            art = quantize(need_onnx("native"), work / f"{prefix}{name}", QuantizeSettings(**static_u8),
                           validation_data=data)
        elif name == "onnx-int8-dynamic-default":  # the recipe a user copies: every op type, library defaults
            art = quantize(need_onnx(), work / f"{prefix}{name}", QuantizeSettings(method="dynamic", op_types=[
                "Conv", "MatMul", "Gemm", "LSTM", "GRU", "Attention"]), validation_data=data)
        elif name == "onnx-int8-dynamic":
            art = quantize(need_onnx(), work / f"{prefix}{name}", QuantizeSettings(method="dynamic"), validation_data=data)
        elif name == "onnx-int8-static":
            art = quantize(need_onnx(), work / f"{prefix}{name}", QuantizeSettings(method="static", calibration_data=calibration),
                           validation_data=data)
        elif name == "onnx-fp16":
            art = quantize(need_onnx(), work / f"{prefix}{name}", QuantizeSettings(method="fp16"), validation_data=data)
        elif name == "torch-int8-dynamic":
            art = quantize(model, work / f"{prefix}{name}", QuantizeSettings(method="dynamic"), validation_data=data)
        elif name == "pruned-unstructured":
            art = prune(model, work / f"{prefix}{name}", PruneSettings(amount=0.5))
        elif name == "pruned-structured":
            art = prune(model, work / f"{prefix}{name}", PruneSettings(amount=0.3, structured=True))
        else:
            raise SystemExit(f"unknown variant {name}; known: {', '.join(VARIANTS)}")
        print(f"made {prefix}{name} in {time.time() - t0:.1f} s", file=sys.stderr)
        made[prefix + name] = art.path
    return made


def median_table(runs: list[list[dict]]) -> list[dict]:
    """Per variant x backend: medians over runs of p50, speedup, RTFx; accuracy from the last run."""
    keyed: dict[tuple, list[dict]] = {}
    for rows in runs:
        for r in rows:
            keyed.setdefault((r["artifact"], r["backend"], r.get("threads")), []).append(r)
    table = []
    for _, rs in keyed.items():
        last = rs[-1]
        table.append({
            "name": last["name"], "format": last["format"], "backend": last["backend"], "reference": last["reference"],
            "threads": last.get("threads"),
            # each variant at its own fastest thread count against the reference at its own (best-vs-best)
            "best_speedup": statistics.median(r["best_speedup"] for r in rs) if last.get("best_speedup") else None,
            "best_threads": last.get("best_threads"),
            "p50_ms": statistics.median(r["latency_ms"]["p50"] for r in rs),
            "p90_ms": statistics.median(r["latency_ms"]["p90"] for r in rs),
            "speedup": statistics.median(r["speedup"] for r in rs),
            "rtfx": statistics.median(r["rtfx"] for r in rs),
            "size_mb": last["size_mb"], "compressed_mb": last["compressed_mb"], "peak_rss_mb": last["peak_rss_mb"],
            "wer": last["wer"], "wer_drift": last["wer_drift"],
            "long_drift": last["drift_by_length"].get("long"),
            "identical": last["identical_transcripts"], "runs": len(rs),
        })
    return table


def to_markdown(table: list[dict], report: dict, args) -> str:
    m = report["machine"]
    batch = max(args.batch_sizes)
    lines = [f"# CPU variants of `{args.model}`", "",
             f"Measured {time.strftime('%Y-%m-%d')} with `benchmarks/cpu_variants.py --repeats {args.repeats}` "
             f"on {cpu_label(m)} ({m['cpu_count']} cores, ISA {', '.join(m.get('isa', [])) or '?'}), "
             f"thread(s) {args.threads}, torch {m.get('torch')}, onnxruntime {m.get('onnxruntime')}.", "",
             f"Data: `{args.data}` ({report['results'][0]['utterances']} utterances"
             + (f"; static int8 calibrated on `{args.calibration_data or args.data}`"
                if any("static" in r["name"] for r in table) else "")
             + "). Latency: batch 1, p50 over real "
             f"utterances (median over {args.repeats} runs). Speedup: reference p50 / variant p50 within each run, "
             f"median over runs. RTFx: audio seconds per wall second at batch {batch} (length-sorted batches). "
             "WER drift in absolute points against the reference; 'long' is the drift on the longest third. "
             "Size: the artifact's files on disk; zip: the same after zlib (what sparsity saves). With several "
             "thread counts, 'speedup' compares the same count and 'best' each variant at its fastest count "
             "against the reference at its own.", "",
             "| variant | format | threads | p50 ms | p90 ms | speedup vs eager | best (threads) | RTFx | size MB | zip MB | RSS MB | WER | drift | long drift | same text |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(table, key=lambda r: (-(r["best_speedup"] or r["speedup"]), r["threads"] or 0)):
        best = "" if r["best_speedup"] is None else f"{r['best_speedup']:.2f}x ({r['best_threads']})"
        lines.append(
            f"| {r['name']}{' (ref)' if r['reference'] else ''} | {r['format']} | {r['threads'] or 'default'} | "
            f"{r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['speedup']:.2f}x | {best} | {r['rtfx']:.0f} | {r['size_mb']:.2f} | {r['compressed_mb']:.2f} | {r['peak_rss_mb']:.0f} | {r['wer'] * 100:.2f}% | "
            f"{r['wer_drift'] * 100:+.2f} | {'' if r['long_drift'] is None else format(r['long_drift'] * 100, '+.2f')} | "
            f"{r['identical'] * 100:.0f}% |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="zoo:crnn-ctc")
    p.add_argument("--data", default="zoo:eval")
    p.add_argument("--variants", default="torchscript,onnx", help=f"comma-separated from: {','.join(VARIANTS)} or 'all'")
    p.add_argument("--extra", nargs="*", default=[], help="ready-made artifacts to include")
    p.add_argument("--extra-variants", default="onnx-int8-dynamic",
                   help="variants also made from each --extra artifact (e.g. a distilled student in int8)")
    p.add_argument("--calibration-data", default=None,
                   help="manifest that static int8 calibrates on (default: --data; pass a held-out set so that "
                        "calibration never sees the utterances the WER is measured on)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", default="1", help="a thread count, or a list (1,2): every variant at each")
    p.add_argument("--batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16])
    p.add_argument("--min-seconds", type=float, default=3.0)
    p.add_argument("--out", required=True, help="output path without suffix")
    args = p.parse_args()
    model, data = resolve(args.model), str(resolve(args.data))
    calibration = str(resolve(args.calibration_data)) if args.calibration_data else data
    wanted = VARIANTS if args.variants == "all" else [v for v in args.variants.split(",") if v]
    with tempfile.TemporaryDirectory(prefix="speechopt-study-") as tmp:
        made = make_variants(model, Path(tmp), wanted, data, calibration)
        extra_wanted = [v for v in args.extra_variants.split(",") if v]
        from speechopt.artifact import load_artifact
        from speechopt.steps.quantize import is_quantized

        for e in args.extra:
            path = resolve(e)
            made[path.name] = path
            if not is_quantized(load_artifact(path)):  # a peer's quantized model is measured as it is
                made.update(make_variants(path, Path(tmp), extra_wanted, data, calibration, prefix=f"{path.name}+"))
        artifacts = [str(model)] + [str(p) for p in made.values()]
        counts = [int(t) for t in str(args.threads).split(",")]
        settings = BenchSettings(data=data, backends=["cpu"], batch_sizes=args.batch_sizes,
                                 threads=counts if len(counts) > 1 else counts[0],
                                 min_seconds=args.min_seconds)
        runs, reports = [], []
        for i in range(args.repeats):
            print(f"run {i + 1}/{args.repeats}", file=sys.stderr)
            report = bench(artifacts, str(model), settings, log=lambda m: print("  " + m, file=sys.stderr))
            for r in report["results"]:  # tmp paths mean nothing later: name variants by their folder
                r["name"] = Path(r["artifact"]).name
            runs.append(summary_rows(report))
            for r in report["results"]:  # keep raw timings, drop per-utterance text to keep the file small
                for key in ("hypotheses", "references", "durations"):
                    r.pop(key, None)
            reports.append(report)
    table = median_table(runs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(to_markdown(table, reports[-1], args))
    out.with_suffix(".json").write_text(json.dumps({"table": table, "runs": reports}, indent=1) + "\n")
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
