"""Training of the attention TTS acoustic models (Tacotron 2), time-budgeted, seeded and resumable.

    python -m speechopt.train_tts --arch tacotron2 --data DIR --val-data DIR --out RUN_DIR --time-budget MIN
                                  [--resume] [--config JSON] [--batch-size 32] [--lr 1e-3] ...

- Data: TTS corpus manifests (`speechopt.data.tts_corpus`). Log-mels (`speechopt.audio.mel.MelConfig`) and
  token ids (`speechopt.tts_text.TtsTokenizer`) are computed once and kept in memory.
- Losses and validation of the attention models (Tacotron 2, Tacotron): `speechopt.train_attention` (mel
  L1, stop gate, guided attention, scheduled sampling; free running and the round trip at validation); of
  FastSpeech: `speechopt.train_fastspeech`.
- Schedule: warm-up then cosine decay over the time budget (`speechopt.train_state.lr_factor`), measured in
  training-step time (validation time does not count); Adam, gradient clipping. Validation every
  `val_every_min` minutes (checked at every step and at the end of each epoch) and at the end of the run.
- `init_from`: train on from a pytorch artifact's weights (same architecture, front end and mel settings)
  with a fresh optimizer and schedule.
- State (model + optimizer, `torch.save`, read back with `torch.load(weights_only=True)`) and progress
  (JSON) are written under RUN_DIR/train-state at every validation; `--resume` continues from there.
  The best model so far (most sentences fired-and-monotonic, then lowest validation L1) is written as
  RUN_DIR/model.safetensors + RUN_DIR/config.json (architecture, text front end, mel settings, inference
  settings, training summary) at each improvement, so an interrupted run still leaves a usable model.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from speechopt.audio.mel import MelConfig
from speechopt.data.tts_dataset import TtsDataset, make_batches
from speechopt.errors import SpeechoptError
from speechopt.train_attention import tts_losses, validate_attention

ARCHS = ("tacotron2", "tacotron", "fastspeech")
ATTENTION_ARCHS = ("tacotron2", "tacotron")
DEFAULT_VAL_INFER = 32


@dataclass
class TtsTrainSettings:
    arch: str = "tacotron2"
    frontend: str = "chars"  # chars | phonemes (espeak-ng's, `speechopt.tts_phonemes`)
    config: dict = field(default_factory=dict)
    mel: dict = field(default_factory=dict)
    lr: float = 1e-3
    weight_decay: float = 1e-6
    batch_size: int = 32
    epochs: int | None = None
    max_steps: int | None = None
    time_budget_min: float | None = None
    val_every_min: float = 10.0
    val_infer: int | None = None  # attention models: free-running validation sentences (None: DEFAULT_VAL_INFER)
    warmup: float = 0.03
    grad_clip: float = 1.0
    gate_pos_weight: float = 5.0
    guided_weight: float = 1.0
    duration_weight: float = 1.0  # fastspeech: weight of the log-duration MSE
    feedback: float = 0.0  # attention models: scheduled sampling, the share of steps fed the model's own last frame
    select_on: str = "l1"  # attention models: keep the checkpoint with the best l1 (teacher forced) or roundtrip
    guided_sigma: float = 0.15
    guided_prior: str = "words"  # words | diagonal
    gate_threshold: float = 0.5
    seed: int = 0
    threads: int | None = 1
    max_utterances: int | None = None
    init_from: str | None = None  # a pytorch TTS artifact of the same architecture: train on from its weights


def _architecture(arch: str):
    """The registry's entry for an acoustic model this trainer knows (its defaults complete every config)."""
    from speechopt.models.registry import get_architecture

    if arch not in ARCHS:
        raise SpeechoptError(f"unknown TTS architecture {arch!r} ({', '.join(ARCHS)})")
    return get_architecture(arch)


def train_losses(model, batch, settings: TtsTrainSettings):
    if settings.arch == "fastspeech":
        from speechopt.train_fastspeech import fastspeech_train_losses

        return fastspeech_train_losses(model, batch, settings.duration_weight)
    return tts_losses(model, batch, settings)


def validate(model, data: TtsDataset, settings: TtsTrainSettings, batch_size: int = 32) -> dict:
    if settings.arch == "fastspeech":
        from speechopt.train_fastspeech import validate_fastspeech

        return validate_fastspeech(model, data, settings.duration_weight, batch_size)
    return validate_attention(model, data, settings, batch_size)


def _write_model(out: Path, model, arch: str, config: dict, tokenizer, mel_config: MelConfig,
                 settings: TtsTrainSettings, summary: dict) -> None:
    from safetensors.torch import save_file

    from speechopt.io import atomic_write_text

    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    tmp = out / ".model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"arch": arch})
    tmp.chmod(0o644)  # safetensors writes 0600; the model is as readable as the rest of the run
    tmp.replace(out / "model.safetensors")
    atomic_write_text(out / "config.json", json.dumps({
        "architecture": {"name": arch, "config": config},
        "tokenizer": tokenizer.to_dict(),
        "mel": mel_config.to_dict(),
        "inference": _inference(settings),
        "training": {**asdict(settings), **summary},
    }, indent=1) + "\n")


def _inference(settings: TtsTrainSettings) -> dict:
    if settings.arch == "fastspeech":
        from speechopt.train_fastspeech import INFERENCE

        return dict(INFERENCE)
    return {"gate_threshold": settings.gate_threshold, "prenet_dropout": "seeded", "prenet_seed": 0,
            "max_steps": "2 * reference steps + 20 in validation; callers cap by text length"}


def load_tts_model(run_dir: str | Path):
    """(model in eval mode, config dict) from a run dir's model.safetensors + config.json."""
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    cfg = json.loads((run_dir / "config.json").read_text())
    model = _architecture(cfg["architecture"]["name"]).build(cfg["architecture"]["config"])
    model.load_state_dict(load_file(str(run_dir / "model.safetensors")))
    model.eval()
    return model, cfg


def _init_source(settings: TtsTrainSettings, mel_config: MelConfig, architecture):
    """(artifact, its tokenizer, the model config) to train on from: same architecture, front end and mel
    settings; `settings.config` may change only what leaves the weights' shapes alone (dropout, say)."""
    from speechopt.artifact import load_artifact
    from speechopt.models.tts.artifact import mel_config_of, tokenizer_of
    from speechopt.zoo import resolve

    start = load_artifact(resolve(settings.init_from))
    name = (start.architecture or {}).get("name")
    if start.manifest.get("task") != "tts" or name != settings.arch or start.manifest.get("format") != "pytorch":
        raise SpeechoptError(f"{start.path}: --init-from needs a pytorch {settings.arch} artifact, not a "
                             f"{start.manifest.get('format')} {name or start.manifest.get('task')} one")
    tokenizer = tokenizer_of(start)
    if (tokenizer.to_dict().get("type") == "tts_char") != (settings.frontend == "chars"):
        raise SpeechoptError(f"{start.path}: its text front end ({tokenizer.to_dict().get('type')}) is not "
                             f"--frontend {settings.frontend}")
    if mel_config_of(start).to_dict() != mel_config.to_dict():
        raise SpeechoptError(f"{start.path}: its mel settings ({mel_config_of(start).describe()}) differ from "
                             f"this run's ({mel_config.describe()})")
    config = {**start.architecture["config"], **settings.config}
    return start, tokenizer, architecture.full_config(config)


def make_tokenizer(frontend: str, data):
    """Characters (the fixed `TtsTokenizer`), or the phonemes of the training corpus with its espeak voice."""
    if frontend == "chars":
        from speechopt.tts_text import TtsTokenizer

        return TtsTokenizer()
    if frontend != "phonemes":
        raise SpeechoptError(f"unknown TTS front end {frontend!r} (chars or phonemes)")
    from speechopt.data.tts_corpus import read_tts_manifest
    from speechopt.tts_phonemes import DEFAULT_VOICE, PhonemeTokenizer

    rows = read_tts_manifest(data)
    if any("phonemes" not in r for r in rows[:1]):
        raise SpeechoptError(f"{data}: the phoneme front end needs a corpus with espeak phonemes (speechopt data "
                             "synth --tts)")
    folder = Path(data) if Path(data).is_dir() else Path(data).parent
    voice = dict(DEFAULT_VOICE)
    if (folder / "settings.json").is_file():
        s = json.loads((folder / "settings.json").read_text())
        voice = {"name": s.get("voice", voice["name"]), "rate_wpm": s.get("rate_wpm", voice["rate_wpm"]),
                 "pitch": s.get("pitch", voice["pitch"]), "pitch_range": s.get("pitch_range", voice["pitch_range"])}
    return PhonemeTokenizer.build(rows, voice)


def train_tts(settings: TtsTrainSettings, data, val_data, out, resume: bool = False, log=print):
    import torch

    from speechopt.train_state import load_train_state, lr_factor, save_train_state, schedule_position

    out = Path(out)
    state_dir = out / "train-state"
    if settings.threads:
        torch.set_num_threads(settings.threads)
    if settings.epochs is None and settings.time_budget_min is None and settings.max_steps is None:
        raise SpeechoptError("give --epochs, --max-steps or --time-budget")
    architecture = _architecture(settings.arch)
    if settings.select_on not in ("l1", "roundtrip"):
        raise SpeechoptError(f"--select-on is l1 or roundtrip, not {settings.select_on!r}")
    if settings.arch not in ATTENTION_ARCHS:  # refuse what this architecture would silently ignore
        given = [flag for flag, on in (("--feedback", settings.feedback), ("--select-on roundtrip",
                 settings.select_on == "roundtrip"), ("--val-sentences", settings.val_infer is not None)) if on]
        if given:
            raise SpeechoptError(f"{', '.join(given)}: for the attention models ({', '.join(ATTENTION_ARCHS)}), "
                                 f"not {settings.arch}")
    elif settings.val_infer is None:
        settings = replace(settings, val_infer=DEFAULT_VAL_INFER)
    if not 0.0 <= settings.feedback <= 1.0:
        raise SpeechoptError(f"--feedback is a probability in [0, 1], got {settings.feedback}")
    if (state_dir / "progress.json").is_file() and not resume:
        raise SpeechoptError(f"{out} holds a run already (use --resume to continue it)")
    out.mkdir(parents=True, exist_ok=True)
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)

    mel_config = MelConfig(**settings.mel)
    start = None
    if settings.init_from:  # (a resumed run's own state then replaces these weights)
        start, tokenizer, config = _init_source(settings, mel_config, architecture)
    else:
        tokenizer = make_tokenizer(settings.frontend, data)
        config = architecture.full_config({**settings.config, "vocab_size": len(tokenizer),
                                           "n_mels": mel_config.n_mels})
    model = architecture.build(config)
    if start is not None:
        from speechopt.models.pytorch import load_pytorch_model

        model.load_state_dict(load_pytorch_model(start).state_dict())
        log(f"weights from {start.path} ({settings.init_from}); a fresh optimizer and schedule")
    r = int(config.get("reduction", 1))
    if settings.arch == "fastspeech":
        from speechopt.train_fastspeech import FastSpeechDataset

        train_set = FastSpeechDataset(data, mel_config, tokenizer, settings.max_utterances, log)
        val_set = FastSpeechDataset(val_data, mel_config, tokenizer, None, log, "validation")
    else:
        linear = settings.arch == "tacotron"  # its post-net's target: the log linear magnitude
        train_set = TtsDataset(data, mel_config, tokenizer, r, settings.guided_prior, settings.max_utterances, log,
                               linear=linear)
        val_set = TtsDataset(val_data, mel_config, tokenizer, r, settings.guided_prior, None, log, "validation",
                             linear=linear)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"{settings.arch}: {n_params:,} parameters, reduction {r}, config {json.dumps(config)}")
    log(f"mel: {mel_config.describe()}")

    optim = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    progress = {"epoch": 0, "step": 0, "elapsed": 0.0, "best": None, "history": []}
    restored = load_train_state(state_dir, model, optim) if resume else None
    if restored is not None:
        progress = restored
        rng.seed(settings.seed + progress["step"])
        torch.manual_seed(settings.seed + progress["step"])
        log(f"resumed at epoch {progress['epoch']}, step {progress['step']}, {progress['elapsed'] / 60:.1f} min")
    state_dir.mkdir(parents=True, exist_ok=True)

    # epochs: the schedule counts steps, so count one epoch's (a time budget or max_steps needs no count)
    total_steps = (settings.epochs * len(make_batches(train_set.frames, settings.batch_size, random.Random(0)))
                   if settings.epochs else None)

    def schedule_progress() -> float:
        return schedule_position(progress, settings.time_budget_min, settings.max_steps, total_steps)

    def finished() -> bool:
        if settings.max_steps is not None and progress["step"] >= settings.max_steps:
            return True
        if settings.epochs is not None and progress["epoch"] >= settings.epochs:
            return True
        return bool(settings.time_budget_min) and schedule_progress() >= 1.0

    def checkpoint(train_parts: dict) -> None:
        metrics = validate(model, val_set, settings)
        entry = {"epoch": progress["epoch"], "step": progress["step"], "minutes": round(progress["elapsed"] / 60, 2),
                 **{k: round(v, 4) for k, v in train_parts.items()},
                 **{k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}}
        progress["history"].append(entry)
        if settings.arch == "fastspeech":
            from speechopt.train_fastspeech import describe_validation, validation_score

            scored = validation_score
            described = describe_validation(metrics)
        else:
            from speechopt.train_attention import validation_score

            scored = functools.partial(validation_score, select_on=settings.select_on)
            described = (f"val L1 {metrics['val_l1']:.3f} post {metrics['val_l1_post']:.3f} "
                         f"gate {metrics['val_gate']:.3f} guided {metrics.get('val_guided', 0):.3f} | free-run on {metrics['val_infer']}: gate fired "
                         f"{metrics['gate_fired']:.0%} monotonic {metrics['monotonic']:.0%} diagonality "
                         f"{metrics['diagonality']:.2f} length ratio {metrics['length_ratio']:.2f}"
                         + (f" round-trip WER {metrics['roundtrip_wer']:.1%} CER {metrics['roundtrip_cer']:.1%}"
                            if "roundtrip_cer" in metrics else ""))
        # a run resumed with another selection criterion starts its best anew (the scores do not compare)
        best = progress["best"] if (progress["best"] or {}).get("select_on", "l1") == settings.select_on else None
        # the best's score is recomputed from its metrics, so a run resumed under a changed rule compares alike
        score = scored(entry)
        improved = best is None or score >= scored(best["metrics"])
        log(f"validation step {progress['step']} epoch {progress['epoch']} ({progress['elapsed'] / 60:.1f} min): "
            f"{described}{' (best so far, saved)' if improved else ''}")
        if improved:
            progress["best"] = {"score": score, "step": progress["step"], "metrics": entry,
                                "select_on": settings.select_on}
            _write_model(out, model, settings.arch, config, tokenizer, mel_config, settings,
                         {"steps": progress["step"], "train_minutes": round(progress["elapsed"] / 60, 2),
                          "parameters": n_params, "data": str(data), "val_data": str(val_data),
                          "validation": entry})
        save_train_state(state_dir, model, optim, progress)

    model.train()
    last_val = time.monotonic()
    wall0 = time.monotonic()
    while not finished():
        sums, count, t_epoch = {}, 0, time.monotonic()
        for idx in make_batches(train_set.frames, settings.batch_size, rng):
            step_start = time.monotonic()
            for g in optim.param_groups:
                g["lr"] = settings.lr * lr_factor(min(1.0, schedule_progress()), settings.warmup)
            loss, parts = train_losses(model, train_set.batch(idx), settings)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            grad = torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            if torch.isfinite(grad):
                optim.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            progress["step"] += 1
            progress["elapsed"] += time.monotonic() - step_start
            if progress["step"] % 25 == 0:
                log(f"step {progress['step']} epoch {progress['epoch']} ({progress['elapsed'] / 60:.1f} min, "
                    f"{count / (time.monotonic() - t_epoch):.2f} steps/s): "
                    + " ".join(f"{k} {v / count:.3f}" for k, v in sums.items())
                    + f" lr {optim.param_groups[0]['lr']:.2e}")
            if finished():
                break
            if time.monotonic() - last_val > settings.val_every_min * 60:
                checkpoint({k: v / count for k, v in sums.items()})
                last_val = time.monotonic()
        else:
            progress["epoch"] += 1
            # an epoch of the 4,000-sentence corpus is under 2 minutes: validating at each (with free running and
            # the round trip) would cost a quarter of the wall time, so epochs validate on the same clock
            if time.monotonic() - last_val < settings.val_every_min * 60 and not finished():
                continue
        checkpoint({k: v / max(1, count) for k, v in sums.items()})
        last_val = time.monotonic()
    best = progress["best"]
    log(f"done: {progress['step']} steps, {progress['elapsed'] / 60:.1f} min of training "
        f"({(time.monotonic() - wall0) / 60:.1f} min wall this session); "
        + (f"best at step {best['step']}: {json.dumps(best['metrics'])}" if best else "no validation ran"))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="tacotron2", choices=ARCHS)
    p.add_argument("--data", required=True, help="training corpus folder or manifest")
    p.add_argument("--val-data", required=True, help="validation corpus folder or manifest")
    p.add_argument("--out", required=True, help="run folder: model.safetensors, config.json, train-state/")
    p.add_argument("--config", default="{}", help="model config overrides, JSON")
    p.add_argument("--mel", default="{}", help="MelConfig overrides, JSON")
    p.add_argument("--time-budget", type=float, dest="time_budget_min", help="minutes of training steps")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--init-from", help="a pytorch artifact of the same architecture (zoo:NAME or a folder): "
                                       "train on from its weights with a fresh optimizer and schedule")
    for name in ("lr", "weight_decay", "warmup", "grad_clip", "gate_pos_weight", "guided_weight", "guided_sigma",
                 "gate_threshold", "val_every_min", "duration_weight", "feedback"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(TtsTrainSettings, name))
    for name in ("batch_size", "val_infer", "seed", "threads", "max_utterances"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(TtsTrainSettings, name))
    p.add_argument("--guided-prior", default="words", choices=("words", "diagonal"))
    p.add_argument("--frontend", default="chars", choices=("chars", "phonemes"))
    p.add_argument("--select-on", default="l1", choices=("l1", "roundtrip"),
                   help="attention models: keep the checkpoint with the lowest teacher-forced L1, or the lowest "
                        "round-trip CER of the free-running validation sentences (Griffin-Lim, zoo:crnn-ctc)")
    a = vars(p.parse_args(argv))
    data, val_data, out, resume = a.pop("data"), a.pop("val_data"), a.pop("out"), a.pop("resume")
    a["config"] = json.loads(a["config"])
    a["mel"] = json.loads(a["mel"])
    from speechopt.train_state import run_as_script

    run_as_script(train_tts, TtsTrainSettings(**a), data, val_data, out, resume)


if __name__ == "__main__":
    main()
