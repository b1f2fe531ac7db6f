"""How finely an evaluation set ranks ASR models: WER differences against a reference model with paired
bootstrap intervals (issue 14's budget is +0.5 points on zoo:eval).

    .venv/bin/python benchmarks/eval_resolution.py --reference zoo:crnn-ctc \
        --models zoo:separable-ctc-student runs/separable-ctc-student8 zoo:crnn-ctc-pruned25 \
        --data zoo:eval corpus/dev corpus/dev2 --out benchmarks/results/eval-resolution

Every model transcribes every set greedily at batch 1. For each set and model, the difference in WER against
the reference is resampled over utterances (the same draw for both models: paired), 10,000 times, and the
2.5th-97.5th percentiles are reported. WER does not depend on the machine. Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from speechopt.data.manifest import read_manifest
from speechopt.evaluate import evaluate_artifact
from speechopt.tasks.asr.metrics import error_rates
from speechopt.text import normalize_text
from speechopt.zoo import resolve


def word_errors(references: list[str], hypotheses: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per utterance: word errors and reference words, as `speechopt eval` counts them."""
    rows = [error_rates([ref], [hyp]) for ref, hyp in zip(references, hypotheses)
            if normalize_text(ref)]  # eval skips empty references too
    return np.array([r["word_errors"] for r in rows]), np.array([r["ref_words"] for r in rows])


def paired_interval(err_a: np.ndarray, err_b: np.ndarray, words: np.ndarray, draws: int, seed: int):
    """WER(b) - WER(a) in points, and its 95% paired bootstrap interval over utterances."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(words), size=(draws, len(words)))
    diff = (err_b[idx].sum(1) - err_a[idx].sum(1)) / words[idx].sum(1) * 100
    point = (err_b.sum() - err_a.sum()) / words.sum() * 100
    return float(point), float(np.percentile(diff, 2.5)), float(np.percentile(diff, 97.5))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", required=True)
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--draws", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    rows = []
    for data in args.data:
        manifest = resolve(data)
        refs = [u.text for u in read_manifest(manifest)]
        per_model = {}
        for model in [args.reference, *args.models]:
            result = evaluate_artifact(resolve(model), manifest, threads=args.threads, keep_hypotheses=True)
            if len(result["hypotheses"]) != len(refs):
                raise SystemExit(f"{model} on {data}: {len(result['hypotheses'])} transcripts for {len(refs)} rows")
            per_model[model] = word_errors(refs, result["hypotheses"])
        ref_err, words = per_model[args.reference]
        for model in [args.reference, *args.models]:
            err, _ = per_model[model]
            diff, low, high = paired_interval(ref_err, err, words, args.draws, seed=0)
            rows.append({"data": data, "model": model, "utterances": int(len(words)), "words": int(words.sum()),
                         "wer": float(err.sum() / words.sum() * 100), "diff": diff, "low": low, "high": high})

    lines = [f"# WER against `{args.reference}`, with paired bootstrap intervals", "",
             f"Greedy, batch 1; {args.draws:,} paired resamples of utterances; `benchmarks/eval_resolution.py`.", "",
             "| set | model | words | WER | minus reference | 95% interval |", "|---|---|---:|---:|---:|---|"]
    for r in rows:
        same = r["model"] == args.reference
        lines.append(f"| `{r['data']}` | `{r['model']}` | {r['words']:,} | {r['wer']:.2f}% | "
                     + ("(reference) | |" if same else f"{r['diff']:+.2f} | {r['low']:+.2f} to {r['high']:+.2f} |"))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"reference": args.reference, "rows": rows}, indent=1) + "\n")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
