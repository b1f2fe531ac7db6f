"""Tacotron 2's two export modes on CPU, by sentence length: the loop in Python over a step graph, or the
whole loop in one ONNX graph, against PyTorch eager.

    .venv/bin/python benchmarks/tacotron2_loop_modes.py --model zoo:tacotron2 --sentences 60 --repeats 5 \
        --threads 1 --out benchmarks/results/tacotron2-loop-modes

Exports the model both ways (validated against PyTorch as `speechopt export` does), then times the acoustic
model of each sentence (encoder, decoder loop, postnet; no vocoder) through the TTS task's driver, the same
loop every backend shares, one sentence at a time in this one process, `--repeats` times, interleaved
(eager, step, graph for each sentence in turn, so drift of a shared machine hits all three alike).
Per-sentence medians, then grouped into thirds by decoder steps: which mode wins at which length.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="zoo:tacotron2")
    p.add_argument("--data", default="zoo:tts-eval")
    p.add_argument("--sentences", type=int, default=60)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    a = p.parse_args()

    import numpy as np
    import torch

    from speechopt.artifact import load_artifact
    from speechopt.bench.machine import cpu_label, machine_description
    from speechopt.steps.export import export_model
    from speechopt.tasks import get_task
    from speechopt.zoo import resolve

    torch.set_num_threads(a.threads)
    src = load_artifact(resolve(a.model))
    task = get_task("tts")
    with tempfile.TemporaryDirectory() as tmp:
        arts = {"eager": src,
                "step": load_artifact(export_model(src.path, "onnx", Path(tmp) / "step", threads=a.threads).path),
                "graph": load_artifact(export_model(src.path, "onnx", Path(tmp) / "graph", threads=a.threads,
                                                    loop="graph").path)}
        data = task.load_data(src, resolve(a.data), max_items=a.sentences)
        drivers = {k: task.driver(v, threads=a.threads).activate() for k, v in arts.items()}
        try:
            for d in drivers.values():  # warm-up
                d(data.items[0])
            times = {k: [[] for _ in data.items] for k in drivers}
            steps = [0] * len(data.items)
            for _ in range(a.repeats):
                for i, item in enumerate(data.items):
                    for k, d in drivers.items():
                        t0 = time.perf_counter()
                        out = d(item)
                        times[k][i].append(time.perf_counter() - t0)
                        if k == "eager":
                            steps[i] = int(out["steps"][0])
            # where the time goes: one more pass with every graph call timed (the rest is the loop around them)
            split = {k: {"total": 0.0} for k in drivers}
            for k, d in drivers.items():
                for g, runner in d.runners.items():
                    def timed(feeds, infer=runner.infer, g=g, acc=split[k]):
                        t0 = time.perf_counter()
                        out = infer(feeds)
                        acc[g] = acc.get(g, 0.0) + time.perf_counter() - t0
                        return out

                    runner.infer = timed
                for item in data.items:
                    t0 = time.perf_counter()
                    d(item)
                    split[k]["total"] += time.perf_counter() - t0
        finally:
            for d in drivers.values():
                d.deactivate()
    med = {k: [statistics.median(t) * 1000 for t in v] for k, v in times.items()}
    order = np.argsort(steps)
    thirds = np.array_split(order, 3)
    rows = []
    for name, idx in zip(("short", "medium", "long"), thirds):
        e = float(np.median([med["eager"][i] for i in idx]))
        row = {"group": name, "sentences": len(idx), "steps": [int(min(steps[i] for i in idx)), int(max(steps[i] for i in idx))],
               "eager_ms": e}
        for k in ("step", "graph"):
            row[f"{k}_ms"] = float(np.median([med[k][i] for i in idx]))
            row[f"{k}_speedup"] = e / row[f"{k}_ms"]
        rows.append(row)
    total = {k: float(np.median(v)) for k, v in med.items()}
    machine = machine_description(a.threads)
    result = {"model": str(src.path), "checksum": src.checksum, "sentences": len(steps), "repeats": a.repeats,
              "threads": a.threads, "machine": machine, "groups": rows, "median_ms": total,
              "per_sentence_ms": med, "steps": steps, "command": " ".join(sys.argv)}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# Tacotron 2: the decoder loop in Python (step graph) or in the graph (ONNX Loop)", "",
             f"Measured {time.strftime('%Y-%m-%d')} with `benchmarks/tacotron2_loop_modes.py` on {cpu_label(machine)}, "
             f"{a.threads} thread(s), torch {torch.__version__}: `{a.model}`, the first {len(steps)} sentences of "
             f"`{a.data}`, the acoustic model only (no vocoder), one sentence at a time, medians of {a.repeats} "
             "interleaved runs per sentence, then the median sentence of each third by decoder steps.", "",
             "| sentences | decoder steps | eager ms | step graph (ONNX Runtime) ms | vs eager | in-graph loop ms | vs eager |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['group']} ({r['sentences']}) | {r['steps'][0]}-{r['steps'][1]} | {r['eager_ms']:.1f} | "
                     f"{r['step_ms']:.1f} | {r['step_speedup']:.2f}x | {r['graph_ms']:.1f} | {r['graph_speedup']:.2f}x |")
    n = len(data.items)
    per = {k: {g: v * 1000 / n for g, v in acc.items()} for k, acc in split.items()}
    for k in per:
        per[k]["loop around the graphs"] = per[k]["total"] - sum(v for g, v in per[k].items() if g != "total")
    result["time_split_ms_per_sentence"] = per
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    parts = ["encoder", "decoder_step", "decoder_loop", "postnet", "loop around the graphs", "total"]
    table = ["", "Where the time goes (one more pass, every graph call timed; mean ms a sentence):", "",
             "| mode | " + " | ".join(parts) + " |", "|---|" + "---:|" * len(parts)]
    for k, v in per.items():
        table.append(f"| {k} | " + " | ".join("-" if g not in v else f"{v[g]:.1f}" for g in parts) + " |")
    lines += table
    lines += ["", f"All sentences (median): eager {total['eager']:.1f} ms, step graph {total['step']:.1f} ms "
              f"({total['eager'] / total['step']:.2f}x), in-graph loop {total['graph']:.1f} ms "
              f"({total['eager'] / total['graph']:.2f}x).", "", f"Command: `{result['command']}`", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
