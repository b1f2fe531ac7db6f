"""Streaming figures for ASR models: the WER cost of chunked inference and the time per chunk (issue 14).

    .venv/bin/python benchmarks/chunked_asr.py --models zoo:crnn-ctc zoo:cnn-ctc --chunk-ms 320 \
        --right-ms 0 160 320 --left-ms 2000 --out benchmarks/results/asr-chunked

For every model and lookahead: `speechopt.tasks.asr.chunked.evaluate_chunked` on the data (default
zoo:eval): WER of whole-utterance and of chunked inference (running feature normalization, `left-ms` of past
audio, `right-ms` of lookahead), the time per window call (p50/p90, one thread by default) and the
algorithmic latency (chunk + lookahead). WER figures do not depend on the machine; the times do (the header
records the CPU). Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from speechopt.artifact import load_artifact
from speechopt.bench.machine import cpu_label, machine_description
from speechopt.tasks.asr.chunked import ChunkSettings, evaluate_chunked
from speechopt.zoo import resolve


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["zoo:crnn-ctc"])
    p.add_argument("--data", default="zoo:eval")
    p.add_argument("--chunk-ms", type=float, default=320.0)
    p.add_argument("--left-ms", type=float, default=2000.0)
    p.add_argument("--right-ms", type=float, nargs="+", default=[0.0, 160.0, 320.0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-utterances", type=int, default=None)
    p.add_argument("--note", default="", help="a line for the header (e.g. what else ran on the machine)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    machine = machine_description(args.threads)
    rows = []
    for model in args.models:
        art = load_artifact(resolve(model))
        for right in args.right_ms:
            r = evaluate_chunked(art, resolve(args.data), ChunkSettings(args.chunk_ms, args.left_ms, right),
                                 threads=args.threads, max_items=args.max_utterances)
            r["model"] = model
            rows.append(r)
            print(f"{model} right {right:.0f} ms: WER {r['whole']['wer']:.2%} -> {r['chunked']['wer']:.2%}, "
                  f"window p50 {r['window_ms']['p50']:.2f} ms", flush=True)
    lines = ["# Chunked (streaming) ASR inference", "",
             f"Measured {time.strftime('%Y-%m-%d')} with `benchmarks/chunked_asr.py` on {cpu_label(machine)} "
             f"({machine['cpu_count']} cores, ISA {', '.join(machine.get('isa', [])) or '?'}), {args.threads} "
             f"thread(s), on `{args.data}` ({rows[0]['utterances']} utterances). Chunks of {args.chunk_ms:.0f} ms "
             f"with {args.left_ms:.0f} ms of past audio and the lookahead below; features normalized with the "
             "statistics of the audio heard so far. 'window' is one model call on past + chunk + lookahead "
             "(p50/p90 over every chunk of every utterance); the algorithmic latency is chunk + lookahead."
             + (f" {args.note}" if args.note else ""), "",
             "| model | lookahead ms | WER whole | WER chunked | cost (points) | window p50 ms | p90 ms | latency ms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['settings']['right_ms']:.0f} | {r['whole']['wer']:.2%} | "
                     f"{r['chunked']['wer']:.2%} | {r['wer_cost'] * 100:+.2f} | {r['window_ms']['p50']:.2f} | "
                     f"{r['window_ms']['p90']:.2f} | {r['algorithmic_latency_ms']:.0f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1) + "\n")
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
