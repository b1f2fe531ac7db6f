"""Training of the reference CTC models (and, with a teacher, distillation).

Features are computed once and kept in memory; batches group utterances of similar length (less
padding, which a bidirectional LSTM would otherwise see) and are shuffled every epoch. SpecAugment masks
frequency bands and time spans. The learning rate follows a schedule over a *time budget* when one is
given (warm-up, then cosine decay): on a shared, noisy 2-core CPU that ends training on time with a
decayed rate, where an epoch-based schedule would not. Training state is saved at every validation, so
an interrupted run resumes with `--resume` (the state, schedule and precision: `speechopt.train_state`).
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from speechopt.audio.features import Frontend, FrontendConfig
from speechopt.data.manifest import read_manifest
from speechopt.errors import SpeechoptError
from speechopt.audio.io import iter_utterance_audio
from speechopt.tasks.asr.data import manifest_fields
from speechopt.tasks.asr.metrics import error_rates
from speechopt.tasks.base import length_sorted_batches
from speechopt.text import CharTokenizer
from speechopt.train_state import (PRECISIONS, autocast, average_states, bf16_hardware, keep_snapshot,
                                   load_train_state, lr_factor, make_optimizer, save_train_state, schedule_position)


@dataclass
class TrainSettings:
    arch: str
    config: dict = field(default_factory=dict)
    frontend: dict = field(default_factory=dict)
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_frames: int = 8000  # padded frames per batch
    epochs: int | None = None
    max_steps: int | None = None
    time_budget_min: float | None = None
    val_every_min: float = 5.0
    warmup: float = 0.03  # fraction of the schedule
    spec_augment: bool = True
    freq_warp: float = 0.1  # frequency axis stretched by a random factor in [1-w, 1+w] per utterance (0: off)
    seed: int = 0
    threads: int | None = None
    max_utterances: int | None = None
    init_from: str | None = None  # a pytorch artifact of the same architecture: fine-tune its weights
    average: int = 1  # average the weights of this many best validation checkpoints at the end (1: off)
    precision: str = "fp32"  # bf16: forward passes under CPU autocast (weights, optimizer and loss stay fp32)


def spec_augment(feats, lengths, rng: random.Random):
    """Two frequency masks (up to 8 bins) and time masks (up to 5% of each utterance, 2 of them)."""
    b, t, f = feats.shape
    for i in range(b):
        for _ in range(2):
            w = rng.randint(0, 8)
            s = rng.randint(0, max(0, f - w))
            feats[i, :, s : s + w] = 0.0
        n = int(lengths[i])
        for _ in range(2):
            w = rng.randint(0, max(1, n // 20))
            s = rng.randint(0, max(0, n - w))
            feats[i, s : s + w, :] = 0.0
    return feats


def freq_warp(feats, max_warp: float, rng: random.Random):
    """Stretch or squeeze each utterance's frequency axis by a random factor (VTLP-style).

    A longer or shorter vocal tract scales formant frequencies; on a mel axis that is close to a shift
    and stretch. Warping the features teaches the model that such scaling does not change the words,
    which is what an unseen voice mostly differs by. Linear interpolation between neighbouring bins.
    """
    import torch

    b, _, f = feats.shape
    alphas = torch.tensor([rng.uniform(1.0 - max_warp, 1.0 + max_warp) for _ in range(b)])
    src = (torch.arange(f, dtype=torch.float32).unsqueeze(0) / alphas.unsqueeze(1)).clamp(0, f - 1)  # (B, F)
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=f - 1)
    w = (src - lo.float()).unsqueeze(1)  # (B, 1, F)
    gather = lambda idx: feats.gather(2, idx.unsqueeze(1).expand(-1, feats.shape[1], -1))  # noqa: E731
    return gather(lo) * (1.0 - w) + gather(hi) * w


def make_batches(lengths: list[int], batch_frames: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches whose padded size stays under `batch_frames`, in shuffled order."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i] * (1.0 + 0.1 * rng.random()))
    batches, cur, cur_max = [], [], 0
    for i in order:
        m = max(cur_max, lengths[i])
        if cur and m * (len(cur) + 1) > batch_frames:
            batches.append(cur)
            cur, m = [], lengths[i]
        cur.append(i)
        cur_max = m
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


class FeatureSet:
    """Features and token ids of a manifest, computed once."""

    def __init__(self, manifest, frontend: Frontend, tokenizer: CharTokenizer, max_utterances=None, label="train",
                 keep_audio: bool = False):
        import torch

        utts = read_manifest(manifest)[:max_utterances]
        self.texts = [u.text for u in utts]
        self.audios: list = []  # only validation needs the waveforms again (keep_audio)
        self.feats: list = []
        # Audio is read and featurized a chunk at a time: 64,000 utterances of waveforms would take
        # about 12 GB at once, four times their features.
        for chunk in iter_utterance_audio(utts, frontend.config.sample_rate, progress=f"loading {label} audio"):
            feats, frames = frontend.from_arrays(chunk)
            self.feats += [feats[j, : int(frames[j])].clone() for j in range(len(chunk))]
            if keep_audio:
                self.audios += chunk
        self.targets = [torch.tensor(tokenizer.encode(t), dtype=torch.int64) for t in self.texts]
        self.lengths = [int(f.shape[0]) for f in self.feats]

    def batch(self, idx):
        import torch

        lengths = torch.tensor([self.lengths[i] for i in idx])
        feats = torch.zeros(len(idx), int(lengths.max()), self.feats[idx[0]].shape[1])
        for j, i in enumerate(idx):
            feats[j, : self.lengths[i]] = self.feats[i]
        targets = torch.cat([self.targets[i] for i in idx])
        target_lengths = torch.tensor([len(self.targets[i]) for i in idx])
        return feats, lengths, targets, target_lengths


def validate(model, data: FeatureSet, frontend: Frontend, tokenizer, batch_size: int = 16) -> dict:
    """Greedy WER/CER of the in-memory model on the validation audio, in length-sorted padded batches
    (faster than one at a time; checkpoint choice only needs a consistent figure)."""
    import torch

    from speechopt.progress import progress_bar
    from speechopt.tasks.asr.decode import ctc_greedy

    model.eval()
    hyps = [""] * len(data.audios)
    with progress_bar(len(data.audios), "validating") as advance, torch.inference_mode():
        for idx in length_sorted_batches([len(a) for a in data.audios], batch_size):
            feats, frames = frontend.from_arrays([data.audios[i] for i in idx])
            lp, n = model(feats, frames)
            for i, text in zip(idx, ctc_greedy(lp.numpy(), n.numpy(), tokenizer)):
                hyps[i] = text
            advance(len(idx))
    model.train()
    return error_rates(data.texts, hyps)


def train_asr(settings: TrainSettings, data: str | Path, out: str | Path, val_data: str | Path | None = None,
              resume: bool = False, overwrite: bool = False, log=print, teacher=None, distill=None,
              extra_settings: dict | None = None):
    """Train a CTC model and write it as a pytorch artifact; returns the artifact."""
    import torch

    from speechopt.models.pytorch import save_pytorch_artifact
    from speechopt.models.registry import get_architecture

    out = Path(out)
    if out.exists() and not overwrite:
        raise SpeechoptError(f"{out} already exists (use --overwrite to replace it)")
    arch = get_architecture(settings.arch)
    if arch.task != "asr":
        raise SpeechoptError(f"{settings.arch} is a {arch.task} architecture, not asr")
    if settings.threads:
        torch.set_num_threads(settings.threads)
    if settings.epochs is None and settings.time_budget_min is None and settings.max_steps is None:
        raise SpeechoptError("give --epochs, --max-steps or --time-budget")
    if settings.precision not in PRECISIONS:
        raise SpeechoptError(f"--precision is {' or '.join(PRECISIONS)}, not {settings.precision!r}")
    if settings.precision == "bf16" and not bf16_hardware():
        log("warning: this CPU has no native bf16 (avx512_bf16 or amx_bf16): bf16 training is emulated and "
            "slower than fp32")
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)

    fconf = FrontendConfig(**settings.frontend)
    frontend = Frontend(fconf)
    tokenizer = CharTokenizer()
    config = arch.full_config({**settings.config, "n_features": fconf.num_features, "vocab_size": len(tokenizer)})
    model = arch.build(config)
    parent = teacher
    if settings.init_from:
        from speechopt.artifact import load_artifact
        from speechopt.models.pytorch import load_pytorch_model

        start = load_artifact(settings.init_from)
        if start.architecture["name"] != settings.arch or start.architecture["config"] != config:
            raise SpeechoptError(f"{start.path}: --init-from needs the same architecture and config "
                                 f"({start.architecture['name']} vs {settings.arch})")
        if start.manifest["frontend"] != fconf.to_dict():
            raise SpeechoptError(f"{start.path}: --init-from needs the same frontend settings")
        model.load_state_dict(load_pytorch_model(start).state_dict())
        # A distilled student's parent is its teacher; the starting weights stay in the settings (init_from).
        parent = teacher if teacher is not None else start
    train_set = FeatureSet(data, frontend, tokenizer, settings.max_utterances)
    if val_data is not None:
        val_set = FeatureSet(val_data, frontend, tokenizer, label="validation", keep_audio=True)
    else:
        raise SpeechoptError("give --val-data (a manifest of held-out voices)")
    log(f"{settings.arch}: {sum(p.numel() for p in model.parameters()):,} parameters, "
        f"{len(train_set.feats)} training / {len(val_set.feats)} validation utterances")

    optim = make_optimizer(settings.optimizer, model.parameters(), settings.lr, settings.weight_decay)
    ctc = torch.nn.CTCLoss(blank=tokenizer.blank_id, zero_infinity=True)
    state_dir = out.with_name(out.name + ".train-state")
    progress = {"epoch": 0, "step": 0, "elapsed": 0.0, "best_wer": None, "history": []}
    restored = load_train_state(state_dir, model, optim) if resume else None
    if restored is not None:
        progress = restored
        rng.seed(settings.seed + progress["step"])
        log(f"resumed at epoch {progress['epoch']}, step {progress['step']}, {progress['elapsed'] / 60:.1f} min")
    best_state = None
    if (state_dir / "best.pt").is_file() and resume:
        best_state = torch.load(state_dir / "best.pt", weights_only=True)

    steps_per_epoch = len(make_batches(train_set.lengths, settings.batch_frames, random.Random(0)))
    total_steps = (settings.epochs or 0) * steps_per_epoch

    def schedule_progress() -> float:
        return schedule_position(progress, settings.time_budget_min, settings.max_steps, total_steps)

    def checkpoint(wer_now: float) -> None:
        nonlocal best_state
        if progress["best_wer"] is None or wer_now <= progress["best_wer"]:
            progress["best_wer"] = wer_now
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            torch.save(best_state, state_dir / "best.pt")
        if settings.average > 1:
            keep_snapshot(state_dir, progress, model.state_dict(), wer_now, settings.average)
        save_train_state(state_dir, model, optim, progress)

    state_dir.mkdir(parents=True, exist_ok=True)
    model.train()
    last_val = time.monotonic()
    done = False
    while not done:
        batches = make_batches(train_set.lengths, settings.batch_frames, rng)
        loss_sum, loss_n, t0 = 0.0, 0, time.monotonic()
        for idx in batches:
            step_start = time.monotonic()
            feats, lengths, targets, target_lengths = train_set.batch(idx)
            if settings.freq_warp:
                feats = freq_warp(feats, settings.freq_warp, rng)
            if settings.spec_augment:
                feats = spec_augment(feats, lengths, rng)
            for g in optim.param_groups:
                g["lr"] = settings.lr * lr_factor(schedule_progress(), settings.warmup)
            with autocast(settings.precision):
                log_probs, out_lengths = model(feats, lengths)
            log_probs = log_probs.float()  # the losses in fp32: a no-op at fp32
            loss = ctc(log_probs.transpose(0, 1), targets, out_lengths, target_lengths)
            if distill is not None:
                loss = distill(loss, log_probs, feats, lengths)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optim.step()
            loss_sum += loss.item()
            loss_n += 1
            progress["step"] += 1
            progress["elapsed"] += time.monotonic() - step_start
            if schedule_progress() >= 1.0:
                done = True
                break
            if settings.time_budget_min and time.monotonic() - last_val > settings.val_every_min * 60:
                metrics = validate(model, val_set, frontend, tokenizer)
                progress["history"].append({"step": progress["step"], "loss": loss_sum / loss_n, **metrics})
                log(f"step {progress['step']} ({progress['elapsed'] / 60:.1f} min): loss {loss_sum / loss_n:.3f} "
                    f"val WER {metrics['wer']:.2%} CER {metrics['cer']:.2%}")
                checkpoint(metrics["wer"])
                last_val = time.monotonic()
        progress["epoch"] += 1
        metrics = validate(model, val_set, frontend, tokenizer)
        progress["history"].append({"epoch": progress["epoch"], "step": progress["step"],
                                    "loss": loss_sum / max(1, loss_n), **metrics})
        log(f"epoch {progress['epoch']} ({time.monotonic() - t0:.0f} s): loss {loss_sum / max(1, loss_n):.3f} "
            f"val WER {metrics['wer']:.2%} CER {metrics['cer']:.2%}")
        checkpoint(metrics["wer"])
        last_val = time.monotonic()
        if settings.epochs is not None and progress["epoch"] >= settings.epochs:
            done = True

    model.load_state_dict(best_state)
    model.eval()
    final = validate(model, val_set, frontend, tokenizer)
    averaged = None
    if settings.average > 1 and len(progress.get("snapshots", [])) > 1:
        snaps = progress["snapshots"]
        model.load_state_dict(average_states([torch.load(state_dir / s["file"], weights_only=True) for s in snaps]))
        avg = validate(model, val_set, frontend, tokenizer)
        # Kept only if it validates no worse than the single best checkpoint: averaging is a bet, not a rule.
        averaged = {"checkpoints": [s["step"] for s in snaps], "val_wer": avg["wer"], "val_cer": avg["cer"],
                    "used": avg["wer"] <= final["wer"]}
        log(f"average of {len(snaps)} best checkpoints: val WER {avg['wer']:.2%} CER {avg['cer']:.2%} "
            f"({'kept' if averaged['used'] else 'discarded'}; best single {final['wer']:.2%})")
        if averaged["used"]:
            final = avg
        else:
            model.load_state_dict(best_state)
    artifact = save_pytorch_artifact(
        out, model, settings.arch, config, manifest_fields(fconf, tokenizer),
        step="distill" if teacher is not None else ("finetune" if settings.init_from else "train"), parent=parent,
        settings={**asdict(settings), "data": str(data), "val_data": str(val_data),
                  "steps": progress["step"], "train_minutes": round(progress["elapsed"] / 60, 4),
                  "history": progress["history"], "averaged": averaged, **(extra_settings or {})},
        metrics={"val_wer": final["wer"], "val_cer": final["cer"], "val_data": str(val_data)},
        overwrite=overwrite,
    )
    import shutil

    shutil.rmtree(state_dir, ignore_errors=True)
    return artifact
