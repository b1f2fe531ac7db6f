"""Write an artifact from the best checkpoint of an interrupted training run (its `.train-state/best.pt`).

Used once for the bundled lstm-ctc, whose 40-minute run was stopped after 21 minutes (two epochs) to
give the CRNN both cores; see train-reference-models.sh. Usage:
    python recipes/finalize_from_state.py ARCH STATE_DIR OUT --config k=v ... --val-data corpus/dev
"""

import argparse
import json

import torch

from speechopt.audio.features import FrontendConfig
from speechopt.models.pytorch import save_pytorch_artifact
from speechopt.models.registry import get_architecture
from speechopt.text import CharTokenizer

p = argparse.ArgumentParser()
p.add_argument("arch")
p.add_argument("state_dir")
p.add_argument("out")
p.add_argument("--config", nargs="*", default=[])
args = p.parse_args()
config = {k: json.loads(v) for k, v in (c.split("=", 1) for c in args.config)}
arch = get_architecture(args.arch)
full = arch.full_config({**config, "n_features": 64, "vocab_size": 29})
model = arch.build(full)
model.load_state_dict(torch.load(f"{args.state_dir}/best.pt", weights_only=True))
progress = json.load(open(f"{args.state_dir}/progress.json"))
best = min(progress["history"], key=lambda h: h["wer"])
save_pytorch_artifact(args.out, model.eval(), args.arch, full, FrontendConfig(), CharTokenizer(), step="train",
                      settings={"interrupted_run": True, "steps": progress["step"],
                                "train_minutes": round(progress["elapsed"] / 60, 2), "history": progress["history"]},
                      metrics={"val_wer": best["wer"], "val_cer": best["cer"], "val_data": "corpus/dev"})
print(f"wrote {args.out}: val WER {best['wer']:.2%} CER {best['cer']:.2%}")
