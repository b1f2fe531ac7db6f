"""Write an artifact from the best checkpoint of an interrupted training run (its `.train-state/best.pt`).

Used for the bundled lstm-ctc, whose 40-minute run was stopped after 21 minutes (two epochs) to give
the CRNN both cores, and for a mid-run snapshot of the stage-2 CRNN that the student was distilled
from; see train-reference-models.sh. Usage:
    python recipes/finalize_from_state.py ARCH STATE_DIR OUT --config k=v ... [--note TEXT]
"""

import argparse
import json

import torch

from speechopt.audio.features import FrontendConfig
from speechopt.models.pytorch import save_pytorch_artifact
from speechopt.models.registry import get_architecture
from speechopt.tasks.asr.data import manifest_fields
from speechopt.text import CharTokenizer

p = argparse.ArgumentParser()
p.add_argument("arch")
p.add_argument("state_dir")
p.add_argument("out")
p.add_argument("--config", nargs="*", default=[])
p.add_argument("--note", default="", help="why this snapshot was taken (kept in the lineage settings)")
p.add_argument("--val-data", default="corpus/dev", help="the run's validation set (recorded with its figures)")
args = p.parse_args()
config = {k: json.loads(v) for k, v in (c.split("=", 1) for c in args.config)}
arch = get_architecture(args.arch)
full = arch.full_config({**config, "n_features": 64, "vocab_size": 29})
model = arch.build(full)
model.load_state_dict(torch.load(f"{args.state_dir}/best.pt", weights_only=True))
progress = json.load(open(f"{args.state_dir}/progress.json"))
best = min(progress["history"], key=lambda h: h["wer"])
save_pytorch_artifact(args.out, model.eval(), args.arch, full, manifest_fields(FrontendConfig(), CharTokenizer()),
                      step="train", overwrite=True,
                      settings={"interrupted_run": True, "state_dir": args.state_dir, "note": args.note,
                                "steps": progress["step"],
                                "train_minutes": round(progress["elapsed"] / 60, 2), "history": progress["history"]},
                      metrics={"val_wer": best["wer"], "val_cer": best["cer"], "val_data": args.val_data})
print(f"wrote {args.out}: val WER {best['wer']:.2%} CER {best['cer']:.2%}")
