"""Training of the WaveNet vocoder, teacher forced on the TTS corpus's own audio, time-budgeted and resumable.

    python -m speechopt.train_wavenet --data DIR --val-data DIR --out RUN_DIR --time-budget MIN [--resume]

- Data: each utterance's 16 kHz audio and its log-mel (`speechopt.audio.mel.MelConfig`, the acoustic
  models' settings), computed once. A batch is `batch_size` random crops of `segment_frames` mel frames
  and the frame-aligned audio (frame f conditions samples [f * hop, (f + 1) * hop)), one crop per
  utterance drawn; an epoch is one crop of every utterance.
- Loss: cross-entropy of the mu-law class of every sample of the crop but the first receptive field
  (those see the crop's zero padding instead of the true past, unlike generation), in nats a sample.
- The mel normalisation (`mel_mean`, `mel_std`: the training set's) is part of the model config.
- Schedule: warm-up then cosine decay over the time budget (`speechopt.train_state.lr_factor`), Adam, gradient
  clipping. Validation every epoch and every `val_every_min` minutes on fixed crops of the validation set:
  cross-entropy and the share of samples whose most likely class is the true one. The best model (lowest
  validation cross-entropy) is written as RUN_DIR/model.safetensors + config.json at each improvement;
  RUN_DIR/train-state holds the resumable state (`speechopt.train_state.save_train_state`).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from speechopt.errors import SpeechoptError


@dataclass
class WaveNetTrainSettings:
    config: dict = field(default_factory=dict)
    mel: dict = field(default_factory=dict)
    lr: float = 1e-3
    batch_size: int = 8
    segment_frames: int = 16  # 3,200 samples at hop 200
    time_budget_min: float | None = None
    max_steps: int | None = None
    val_every_min: float = 10.0
    val_segments: int = 64
    warmup: float = 0.02
    grad_clip: float = 1.0
    seed: int = 0
    threads: int | None = 1
    max_utterances: int | None = None


class AudioMelSet:
    """Audio (float32 tensors) and log-mels of a TTS manifest, in memory."""

    def __init__(self, manifest, mel_config, max_utterances=None, log=print, label="train"):
        import torch

        from speechopt.audio.io import load_audio
        from speechopt.audio.mel import MelExtractor
        from speechopt.data.tts_corpus import read_tts_manifest

        t0 = time.monotonic()
        rows = read_tts_manifest(manifest)[:max_utterances]
        if not rows:
            raise SpeechoptError(f"{manifest}: no utterances")
        extractor = MelExtractor(mel_config)
        self.audio, self.mels = [], []
        for row in rows:
            audio = load_audio(row["audio_filepath"], mel_config.sample_rate)
            self.audio.append(torch.from_numpy(np.ascontiguousarray(audio, np.float32)))
            self.mels.append(extractor(audio).float().contiguous())
        seconds = sum(len(a) for a in self.audio) / mel_config.sample_rate
        log(f"{label}: {len(rows)} utterances, {seconds / 60:.1f} min, features in {time.monotonic() - t0:.0f} s")

    def __len__(self) -> int:
        return len(self.audio)

    def mel_stats(self) -> tuple[float, float]:
        import torch

        allm = torch.cat(self.mels)
        return float(allm.mean()), float(allm.std())

    def batch(self, model, utterances, frames: int, rng):
        import torch

        from speechopt.models.tts.wavenet import training_segments

        crops = [training_segments(model, self.audio[i], self.mels[i], frames, rng, 1)[0] for i in utterances]
        return torch.stack([c for c, _ in crops]), torch.stack([m for _, m in crops])


def segment_loss(model, classes, mel):
    """(mean cross-entropy over the samples past the receptive field, share of them predicted exactly)."""
    from torch.nn import functional as F

    logits = model(classes, mel)
    skip = min(model.receptive_field, classes.shape[1] - 1)
    logits, target = logits[:, :, skip:], classes[:, skip:]
    return F.cross_entropy(logits, target), float((logits.argmax(1) == target).float().mean())


def validate(model, val_batches) -> dict:
    import torch

    model.eval()
    ce, acc = [], []
    with torch.no_grad():
        for classes, mel in val_batches:
            loss, a = segment_loss(model, classes, mel)
            ce.append(float(loss))
            acc.append(a)
    model.train()
    return {"val_ce": float(np.mean(ce)), "val_accuracy": float(np.mean(acc))}


def _write_model(out: Path, model, config: dict, mel_config, settings, summary: dict) -> None:
    from safetensors.torch import save_file

    from speechopt.io import atomic_write_text

    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    tmp = out / ".model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"arch": "wavenet"})
    tmp.chmod(0o644)
    tmp.replace(out / "model.safetensors")
    atomic_write_text(out / "config.json", json.dumps({
        "architecture": {"name": "wavenet", "config": config}, "mel": mel_config.to_dict(),
        "training": {**asdict(settings), **summary}}, indent=1) + "\n")


def train_wavenet(settings: WaveNetTrainSettings, data, val_data, out, resume: bool = False, log=print):
    import torch

    from speechopt.audio.mel import MelConfig
    from speechopt.models.registry import get_architecture
    from speechopt.train_state import load_train_state, lr_factor, save_train_state, schedule_position

    out = Path(out)
    state_dir = out / "train-state"
    if settings.time_budget_min is None and settings.max_steps is None:
        raise SpeechoptError("give --time-budget or --max-steps")
    if (state_dir / "progress.json").is_file() and not resume:
        raise SpeechoptError(f"{out} holds a run already (use --resume to continue it)")
    if settings.threads:
        torch.set_num_threads(settings.threads)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    mel_config = MelConfig(**settings.mel)
    train_set = AudioMelSet(data, mel_config, settings.max_utterances, log)
    val_set = AudioMelSet(val_data, mel_config, None, log, "validation")
    mean, std = train_set.mel_stats()
    arch = get_architecture("wavenet")
    config = arch.full_config({**settings.config, "n_mels": mel_config.n_mels, "mel_mean": round(mean, 4),
                               "mel_std": round(std, 4)})
    model = arch.build(config)
    if model.hop_length != mel_config.hop_length:
        raise SpeechoptError(f"upsample_scales multiply to {model.hop_length}, the mel hop is {mel_config.hop_length}")
    n_params = sum(p.numel() for p in model.parameters())
    log(f"wavenet: {n_params:,} parameters, receptive field {model.receptive_field} samples, config {json.dumps(config)}")
    log(f"mel: {mel_config.describe()}")
    vrng = random.Random(12345)  # fixed validation crops
    picks = [vrng.randrange(len(val_set)) for _ in range(settings.val_segments)]
    val_batches = [val_set.batch(model, picks[k : k + 16], settings.segment_frames, vrng)
                   for k in range(0, len(picks), 16)]

    optim = torch.optim.Adam(model.parameters(), lr=settings.lr)
    progress = {"epoch": 0, "step": 0, "elapsed": 0.0, "best": None, "history": []}
    restored = load_train_state(state_dir, model, optim) if resume else None
    if restored is not None:
        progress = restored
        torch.manual_seed(settings.seed + progress["step"])
        log(f"resumed at epoch {progress['epoch']}, step {progress['step']}, {progress['elapsed'] / 60:.1f} min")
    rng = random.Random(settings.seed + progress["step"])
    state_dir.mkdir(parents=True, exist_ok=True)

    def schedule_progress() -> float:
        return schedule_position(progress, settings.time_budget_min, settings.max_steps)

    def checkpoint(train_ce: float) -> None:
        metrics = validate(model, val_batches)
        entry = {"epoch": progress["epoch"], "step": progress["step"], "minutes": round(progress["elapsed"] / 60, 2),
                 "ce": round(train_ce, 4), **{k: round(v, 4) for k, v in metrics.items()}}
        progress["history"].append(entry)
        improved = progress["best"] is None or metrics["val_ce"] <= progress["best"]["metrics"]["val_ce"]
        log(f"validation step {progress['step']} epoch {progress['epoch']} ({progress['elapsed'] / 60:.1f} min): "
            f"val cross-entropy {metrics['val_ce']:.3f} nats a sample, top-1 {metrics['val_accuracy']:.1%}"
            f"{' (best so far, saved)' if improved else ''}")
        if improved:
            progress["best"] = {"step": progress["step"], "metrics": entry}
            _write_model(out, model, config, mel_config, settings,
                         {"steps": progress["step"], "train_minutes": entry["minutes"], "parameters": n_params,
                          "data": str(data), "val_data": str(val_data), "validation": entry})
        save_train_state(state_dir, model, optim, progress)

    steps_per_epoch = max(1, len(train_set) // settings.batch_size)
    last_val, wall0 = time.monotonic(), time.monotonic()
    ce_sum, count = 0.0, 0
    model.train()
    while schedule_progress() < 1.0:
        t0 = time.monotonic()
        for g in optim.param_groups:
            g["lr"] = settings.lr * lr_factor(min(1.0, schedule_progress()), settings.warmup)
        utts = [rng.randrange(len(train_set)) for _ in range(settings.batch_size)]
        classes, mel = train_set.batch(model, utts, settings.segment_frames, rng)
        loss, _ = segment_loss(model, classes, mel)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        grad = torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        if torch.isfinite(grad):
            optim.step()
        ce_sum, count = ce_sum + loss.item(), count + 1
        progress["step"] += 1
        progress["elapsed"] += time.monotonic() - t0
        if progress["step"] % 25 == 0:
            log(f"step {progress['step']} epoch {progress['epoch']} ({progress['elapsed'] / 60:.1f} min): "
                f"cross-entropy {ce_sum / count:.3f} lr {optim.param_groups[0]['lr']:.2e}")
        epoch_end = progress["step"] % steps_per_epoch == 0
        if epoch_end:
            progress["epoch"] += 1
        if epoch_end or time.monotonic() - last_val > settings.val_every_min * 60 or schedule_progress() >= 1.0:
            checkpoint(ce_sum / max(1, count))
            ce_sum, count, last_val = 0.0, 0, time.monotonic()
    log(f"done: {progress['step']} steps, {progress['elapsed'] / 60:.1f} min of training "
        f"({(time.monotonic() - wall0) / 60:.1f} min wall this session); best at step {progress['best']['step']}: "
        f"{json.dumps(progress['best']['metrics'])}")
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--val-data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--config", default="{}", help="model config overrides, JSON")
    p.add_argument("--time-budget", type=float, dest="time_budget_min")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--resume", action="store_true")
    for name in ("lr", "val_every_min", "warmup", "grad_clip"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(WaveNetTrainSettings, name))
    for name in ("batch_size", "segment_frames", "val_segments", "seed", "threads", "max_utterances"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(WaveNetTrainSettings, name))
    a = vars(p.parse_args(argv))
    data, val_data, out, resume = a.pop("data"), a.pop("val_data"), a.pop("out"), a.pop("resume")
    a["config"] = json.loads(a["config"])
    from speechopt.train_state import run_as_script

    run_as_script(train_wavenet, WaveNetTrainSettings(**a), data, val_data, out, resume)


if __name__ == "__main__":
    main()
