"""TTS pytorch artifacts: a run folder of `speechopt.train_tts` (model.safetensors + config.json) -> an artifact.

The manifest's task fields are what the TTS task and a vocoder read:
- `tokenizer`: the text front end (characters, `speechopt.tts_text.TtsTokenizer.to_dict`, with its
  normalization; or espeak phonemes, `speechopt.tts_phonemes.PhonemeTokenizer.to_dict`, with its voice);
- `mel`: the mel settings (`speechopt.audio.mel.MelConfig.to_dict`): a vocoder compares them with its own
  and refuses a mismatch;
- `inference`: the run's inference settings (gate threshold, prenet dropout), for information.
Weights are read with safetensors only (no pickle).
"""

from __future__ import annotations

import json
from pathlib import Path

from speechopt.errors import SpeechoptError


def tts_fields(tokenizer, mel_config, inference: dict | None = None) -> dict:
    fields = {"tokenizer": tokenizer.to_dict(), "mel": mel_config.to_dict()}
    if inference:
        fields["inference"] = inference
    return fields


def tokenizer_of(artifact):
    """The artifact's text front end: characters or espeak phonemes (`speechopt.tts_phonemes`)."""
    from speechopt.tts_phonemes import tokenizer_from_dict

    return tokenizer_from_dict(artifact.required("tokenizer", "a `tokenizer`"))


def mel_config_of(artifact):
    from speechopt.audio.mel import MelConfig

    return MelConfig.from_dict(artifact.required("mel", "its `mel` settings"))


def artifact_from_run(run_dir, out, overwrite: bool = False):
    """Write the pytorch artifact of a `speechopt.train_tts` run folder at `out`; returns the Artifact."""
    from speechopt.audio.mel import MelConfig
    from speechopt.models.pytorch import load_weights, save_pytorch_artifact
    from speechopt.models.registry import get_architecture
    from speechopt.tts_phonemes import tokenizer_from_dict

    run_dir, cfg_path, weights, cfg = read_run(run_dir, "TTS")
    try:
        arch, config = cfg["architecture"]["name"], dict(cfg["architecture"]["config"])
        tokenizer, mel = tokenizer_from_dict(cfg["tokenizer"]), MelConfig.from_dict(cfg["mel"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SpeechoptError(f"{cfg_path}: not a TTS run config ({type(exc).__name__}: {exc})") from None
    a = get_architecture(arch)
    if a.task != "tts":
        raise SpeechoptError(f"{cfg_path}: architecture {arch} is a {a.task} model, not tts")
    if int(config.get("vocab_size", a.defaults.get("vocab_size"))) != len(tokenizer):
        raise SpeechoptError(f"{cfg_path}: vocab_size {config.get('vocab_size')} differs from the tokenizer's "
                             f"{len(tokenizer)} symbols")
    if int(config.get("n_mels", a.defaults.get("n_mels"))) != mel.n_mels:
        raise SpeechoptError(f"{cfg_path}: n_mels {config.get('n_mels')} differs from the mel settings' {mel.n_mels}")
    model = load_weights(a.build(config), weights, arch)
    return save_pytorch_artifact(out, model, arch, config, tts_fields(tokenizer, mel, cfg.get("inference")),
                                 step="import-tts-run", settings=run_settings(run_dir, weights, cfg),
                                 overwrite=overwrite)


def read_run(run_dir, what: str):
    """(run folder, config path, weights path, parsed config) of a training run folder (model.safetensors +
    config.json), refused in one line when either is missing or the config is not JSON."""
    run_dir = Path(run_dir)
    cfg_path, weights = run_dir / "config.json", run_dir / "model.safetensors"
    for p in (cfg_path, weights):
        if not p.is_file():
            raise SpeechoptError(f"{run_dir}: not a {what} training run folder ({p.name} is missing)")
    try:
        return run_dir, cfg_path, weights, json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise SpeechoptError(f"{cfg_path}: not a {what} run config (JSONDecodeError: {exc})") from None


def run_settings(run_dir, weights, cfg: dict) -> dict:
    """What an artifact made from a run records of it: the folder, the weights' checksum, the flat training
    settings."""
    from speechopt.io import sha256_file

    summary = {k: v for k, v in (cfg.get("training") or {}).items() if not isinstance(v, (dict, list))}
    return {"run_dir": str(run_dir), "weights_sha256": sha256_file(weights), "training": summary}
