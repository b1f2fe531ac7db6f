"""What every training loop here shares (ASR training, distillation, TTS, WaveNet).

The resumable state (model and optimizer, replaced atomically at every validation), the schedule over a
time budget (warm-up, then cosine decay), the forward-pass precision, the best-checkpoint snapshots that
are averaged at the end, and the optimizers a run can name.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from speechopt.errors import SpeechoptError

PRECISIONS = ("fp32", "bf16")


def bf16_hardware() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); elsewhere oneDNN emulates it, slowly."""
    from speechopt.env import cpu_flags

    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def autocast(precision: str):
    """The context a forward pass runs in: CPU autocast to bf16 (matmuls, convolutions, LSTMs) or nothing."""
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


def save_train_state(state_dir: Path, model, optim, progress: dict) -> None:
    """Model and optimizer state (state.pt) and progress (progress.json), each replaced atomically, so an
    interrupted save leaves the previous resumable state."""
    import torch

    from speechopt.io import atomic_write_text

    tmp = state_dir / ".state.pt.tmp"
    torch.save({"model": model.state_dict(), "optim": optim.state_dict()}, tmp)
    tmp.replace(state_dir / "state.pt")
    atomic_write_text(state_dir / "progress.json", json.dumps(progress, indent=1))


def load_train_state(state_dir: Path, model, optim) -> dict | None:
    """The progress of a saved run, with its model and optimizer state loaded (tensors only:
    weights_only), or None when `state_dir` holds no state."""
    import torch

    if not (state_dir / "state.pt").is_file():
        return None
    state = torch.load(state_dir / "state.pt", weights_only=True)
    model.load_state_dict(state["model"])
    optim.load_state_dict(state["optim"])
    return json.loads((state_dir / "progress.json").read_text())


def schedule_position(progress: dict, time_budget_min: float | None, max_steps: int | None,
                      total_steps: int | None = None) -> float:
    """How far through its schedule a run is (1.0 at the end): by training-step time under a time budget, else
    by steps of `max_steps`, else of `total_steps` (epochs times the steps of one)."""
    if time_budget_min:
        return progress["elapsed"] / (time_budget_min * 60)
    return progress["step"] / max(1, max_steps or total_steps or 1)


def lr_factor(progress: float, warmup: float) -> float:
    """Warm-up then cosine decay to 2% of the peak; `progress` runs from 0 to 1."""
    if progress < warmup:
        return max(progress / warmup, 0.01)
    p = min(1.0, (progress - warmup) / max(1e-9, 1.0 - warmup))
    return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * p))


def keep_snapshot(state_dir: Path, progress: dict, state: dict, wer: float, keep: int) -> None:
    """Keep the weights of the `keep` best validations (by WER) on disk, for averaging at the end."""
    import torch

    snaps = progress.setdefault("snapshots", [])
    entry = {"file": f"snapshot-{progress['step']}.pt", "step": progress["step"], "wer": wer}
    snaps.append(entry)
    snaps.sort(key=lambda s: (s["wer"], -s["step"]))
    for dropped in snaps[keep:]:
        (state_dir / dropped["file"]).unlink(missing_ok=True)
    del snaps[keep:]
    if entry in snaps:  # written only when it made the cut
        torch.save(state, state_dir / entry["file"])


def average_states(states: list[dict]) -> dict:
    """Element-wise mean of floating-point weights (and batch-norm statistics); counters from the first."""
    out = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            out[key] = sum(s[key].double() for s in states).div(len(states)).to(first.dtype)
        else:
            out[key] = first.clone()
    return out


OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


def make_optimizer(name: str, params, lr: float, weight_decay: float):
    import torch

    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    raise SpeechoptError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def run_as_script(train, settings, data, val_data, out, resume: bool) -> None:
    """What `python -m speechopt.train_tts` / `train_wavenet` do with parsed arguments: train, logging each line
    with the time of day; a SpeechoptError ends the process with its one line and exit status 1."""
    import sys
    import time

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    try:
        train(settings, data, val_data, out, resume=resume, log=log)
    except SpeechoptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
