"""A TTS training run's validation history as a table: how quality moved with training time.

    .venv/bin/python benchmarks/training_curve.py RUN_FOLDER --title "..." --out benchmarks/results/NAME

Reads RUN_FOLDER/train-state/progress.json (written by `speechopt train tts` at every validation) and lists,
per validation: training minutes, step, teacher-forced validation L1 (after the post-net) and, for attention
models trained with `--select-on roundtrip`, the free-running round-trip WER/CER of the validation sentences
with the gate and monotonic shares. Whether a model is still improving when its budget ends is what says
if time on this machine, not the recipe, limits it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--title", default=None)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    progress = json.loads((a.run / "train-state" / "progress.json").read_text())
    rows = progress["history"]
    lines = [f"# {a.title or a.run.name}: validation by training time", "",
             f"From `{a.run.name}/train-state/progress.json` ({len(rows)} validations, {progress['step']} steps, "
             f"{progress['elapsed'] / 60:.1f} min of training). Round trip: the free-running validation sentences "
             "through Griffin-Lim and zoo:crnn-ctc (what `--select-on roundtrip` keeps the checkpoint by).", "",
             "| minutes | step | val L1 (post-net) | round-trip WER | CER | gate fired | monotonic |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        shares = " | ".join("-" if r.get(k) is None else f"{r[k]:.1%}"
                            for k in ("roundtrip_wer", "roundtrip_cer", "gate_fired", "monotonic"))
        lines.append(f"| {r['minutes']:.1f} | {r['step']} | {r.get('val_l1_post', r.get('val_l1', 0)):.3f} | {shares} |")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"run": str(a.run), "history": rows}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
