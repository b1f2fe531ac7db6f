"""Training step time in fp32 and in bf16 (CPU autocast, `--precision bf16`) for the ASR trainings we run.

    .venv/bin/python benchmarks/training_precision.py --data corpus/train-wide5 --val-data corpus/dev \
        --out benchmarks/results/training-precision-xeon

Our models are trained within time budgets on one core, so a faster step is more training. This runs each
training (the CRNN fine-tuned from zoo:crnn-ctc; the conv student and the LSTM student distilled from it) for
`--steps` steps at each precision, interleaved `--repeats` times, and reports the median seconds a step (the
trainer's own clock: steps only, no validation), and how closely a bf16 gradient follows the fp32 one on a
batch (cosine). Only the speed and that agreement are
measured here; whether bf16 trains as well is a question for a full run. CPUs differ: AMX (Intel Xeon 4th
generation and later) has bf16 matrix units, AVX-512 BF16 (AMD Zen 4 and later) only bf16 dot products, and
a CPU with neither emulates bf16, slower than fp32.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

RUNS = {  # name: (how, student architecture or None, init)
    "crnn-ctc, fine-tune": ("train", "crnn-ctc", "zoo:crnn-ctc"),
    "separable-ctc, distill from crnn-ctc": ("distill", "separable-ctc", "zoo:separable-ctc-student"),
    "lstm-ctc, distill from crnn-ctc": ("distill", "lstm-ctc", "zoo:lstm-ctc"),
}


def one_run(name: str, precision: str, data, val_data, steps: int, threads: int, work: Path) -> dict:
    from speechopt.steps.distill import DistillSettings, distill
    from speechopt.train import TrainSettings, train_asr
    from speechopt.zoo import resolve

    how, arch, init = RUNS[name]
    log = lambda msg: None  # noqa: E731 (the trainer's progress lines)
    settings = TrainSettings(arch=arch, max_steps=steps, threads=threads, precision=precision, seed=0,
                             init_from=str(resolve(init)), lr=5e-4)
    out = work / f"{arch}-{precision}-{time.monotonic_ns()}"
    if how == "train":
        art = train_asr(settings, data, out, val_data=val_data, log=log)
    else:
        art = distill(resolve("zoo:crnn-ctc"), DistillSettings(arch, {}, 2.0, 0.5), settings, data, val_data, out,
                      log=log)
    lineage = art.manifest["lineage"]["settings"]
    done = int(lineage["steps"])
    return {"run": name, "precision": precision, "steps": done,
            "s_per_step": lineage["train_minutes"] * 60 / max(1, done)}


def gradient_agreement(name: str, data) -> float:
    """Cosine between the fp32 and the bf16 gradient of one batch's training loss (same weights, same
    dropout masks): how closely a bf16 step follows the fp32 one."""
    import random

    import torch

    from speechopt.artifact import load_artifact
    from speechopt.audio.features import Frontend, FrontendConfig
    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.steps.distill import kl_hook
    from speechopt.text import CharTokenizer
    from speechopt.train import FeatureSet, make_batches
    from speechopt.train_state import autocast
    from speechopt.zoo import resolve

    how, _, init = RUNS[name]
    teacher = load_artifact(resolve("zoo:crnn-ctc"))
    frontend = Frontend(FrontendConfig(**teacher.manifest["frontend"]))
    features = FeatureSet(data, frontend, CharTokenizer(), 200)
    feats, lengths, targets, target_lengths = features.batch(make_batches(features.lengths, 8000, random.Random(0))[0])
    teacher_model = load_pytorch_model(teacher).eval()
    grads = []
    for precision in ("fp32", "bf16"):
        model = load_pytorch_model(load_artifact(resolve(init))).train()
        torch.manual_seed(0)  # the same dropout masks
        with autocast(precision):
            log_probs, out_lengths = model(feats, lengths)
        log_probs = log_probs.float()
        loss = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, out_lengths, target_lengths,
                                            zero_infinity=True)
        if how == "distill":
            loss = kl_hook(teacher_model, 2.0, 0.5, precision)(loss, log_probs, feats, lengths)
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    return float(torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0))


def main(argv=None) -> None:
    from speechopt.bench.machine import cpu_label, machine_description
    from speechopt.data.manifest import read_manifest, write_manifest
    from speechopt.train_state import bf16_hardware
    from speechopt.zoo import resolve

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="training corpus: its first --max-utterances are used")
    p.add_argument("--val-data", required=True, help="its first 20 utterances validate once at the end")
    p.add_argument("--max-utterances", type=int, default=800)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", default=",".join(RUNS), help="comma-separated, of: " + "; ".join(RUNS))
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    names = [n.strip() for n in args.runs.split(",") if n.strip()]
    names = [n for n in RUNS if any(n.startswith(x) for x in names)]
    with tempfile.TemporaryDirectory(prefix="speechopt-precision-") as tmp:
        work = Path(tmp)
        for src, n, dst in ((args.data, args.max_utterances, "train"), (args.val_data, 20, "val")):
            (work / dst).mkdir()
            write_manifest(work / dst / "manifest.jsonl", read_manifest(Path(resolve(src)).resolve())[:n])
        results = []
        for _ in range(args.repeats):
            for name in names:
                for precision in ("fp32", "bf16"):
                    r = one_run(name, precision, work / "train", work / "val", args.steps, args.threads, work)
                    results.append(r)
                    print(f"{name} {precision}: {r['s_per_step']:.3f} s a step", flush=True)
    m = machine_description(args.threads)
    lines = ["# Training step time: fp32 against bf16 autocast", "",
             f"Measured {time.strftime('%Y-%m-%d')} with `benchmarks/training_precision.py` on {cpu_label(m)} "
             f"(native bf16: {'yes' if bf16_hardware() else 'no'}), {args.threads} thread(s), torch "
             f"{m.get('torch', '')}: {args.steps} steps of each run at each precision, interleaved, "
             f"{args.repeats} times; the first {args.max_utterances} utterances of `{args.data}`, batches of "
             "8,000 padded frames; median seconds a step by the trainer's clock.", "",
             "Gradient cosine: between the fp32 and bf16 gradients of one batch from the same weights and "
             "dropout masks (1 is the same step).", "",
             "| run | fp32 s/step | bf16 s/step | bf16 speedup | gradient cosine |", "|---|---:|---:|---:|---:|"]
    summary = []
    for name in names:
        med = {pr: statistics.median(r["s_per_step"] for r in results if r["run"] == name and r["precision"] == pr)
               for pr in ("fp32", "bf16")}
        cosine = gradient_agreement(name, args.data)
        summary.append({"run": name, **{f"{k}_s_per_step": v for k, v in med.items()},
                        "speedup": med["fp32"] / med["bf16"], "gradient_cosine": cosine})
        lines.append(f"| {name} | {med['fp32']:.3f} | {med['bf16']:.3f} | {med['fp32'] / med['bf16']:.2f}x | "
                     f"{cosine:.4f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"machine": m, "args": vars(args), "summary": summary,
                                                    "runs": results}, indent=1) + "\n")
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
