"""Vocoder artifacts: what turns an acoustic model's mels into audio, with the mel settings it expects.

A Griffin-Lim vocoder artifact has no weights and no graphs (`save_griffin_lim`):

- manifest: `task: vocoder`, `format: pytorch` (Griffin-Lim is a torch computation outside any graph, so no
  new format is needed), `architecture: {name: griffin-lim, config: {n_iter, momentum, init}}` (the
  registry's `griffin-lim`), `mel` (the `MelConfig.to_dict()` it expects), `griffin_lim` (the settings with
  the algorithm stated, `GriffinLimSettings.to_dict()`) and `graphs: {}`;
- one file, `vocoder.json` (role `settings`): {"vocoder", "settings", "mel"}, written with sorted keys and no
  time stamp. It is listed in `files`, so it is checksummed: the artifact's checksum (what a pipeline
  records) changes with the settings, and two artifacts written with the same mel and Griffin-Lim settings
  have the same checksum. `load_vocoder` reads the settings from this verified file, and refuses a manifest
  whose `mel` or `architecture.config` was edited to say something else.

`load_vocoder(artifact)` and `griffin_lim_vocoder(mel_config, settings)` both return a `Vocoder`:
`vocoder(mel, threads=1)` -> float32 waveform, deterministic (Griffin-Lim's initial phase is fixed), so the
same mel settings and Griffin-Lim settings always give the same samples, from an artifact or not.

`check_mel_match` is the one place an acoustic model's mel settings are compared with a vocoder's: a
mismatch is one line naming both artifacts and each differing field with both values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechopt.errors import SpeechoptError

VOCODER_TASK = "vocoder"
SETTINGS_FILE = "vocoder.json"
GRIFFIN_LIM = "griffin-lim"
WAVENET = "wavenet"


@dataclass(frozen=True)
class Vocoder:
    """A mel -> audio function with the mel settings it expects.

    `name` is the architecture (`griffin-lim`); `path` and `checksum` are the artifact's (None for the built-in
    default); `settings` the `GriffinLimSettings`."""

    name: str
    mel_config: object  # speechopt.audio.mel.MelConfig
    settings: object  # speechopt.models.tts.griffin_lim.GriffinLimSettings
    path: str | None = None
    checksum: str | None = None

    def __call__(self, mel, threads: int | None = 1, linear=None) -> np.ndarray:
        """Log-mel (frames, n_mels) in `mel_config`'s scale -> float32 waveform of (frames - 1) * hop samples;
        an empty waveform for fewer than 2 frames (nothing to invert). `linear`: the log linear magnitude of
        the same frames (Tacotron's post-net), inverted directly instead of the mel's pseudo-inverse.
        `threads`: torch intra-op threads while it runs (restored after), as `griffin_lim`."""
        from speechopt.models.tts.griffin_lim import griffin_lim

        if len(mel) < 2:
            return np.zeros(0, np.float32)
        return griffin_lim(mel, self.mel_config, self.settings, threads, linear=linear)

    def many(self, mels, threads: int | None = 1, progress=None, linears=None) -> list[np.ndarray]:
        """`self(mel)` for each of `mels` (with its `linears` entry if given); `progress(n)` after each (a
        vocoder that batches overrides this)."""
        out = []
        for i, mel in enumerate(mels):
            out.append(self(mel, threads, linear=None if linears is None else linears[i]))
            if progress is not None:
                progress(1)
        return out

    def describe(self) -> dict:
        """What results record about the vocoder: name, its settings, and the artifact it came from if any."""
        info = {"name": self.name, **self.settings.to_dict()}
        if self.path is not None:
            info.update(artifact=self.path, checksum=self.checksum)
        return info


@dataclass(frozen=True)
class WaveNetSettings:
    """How a WaveNet vocoder generates: the sampling seed and temperature, cached (fast WaveNet) or naive
    generation (the same samples), and how many mels are generated together."""

    seed: int = 0
    temperature: float = 1.0
    cached: bool = True
    batch: int = 16

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise SpeechoptError(f"WaveNet temperature must be > 0, got {self.temperature}")
        if self.batch < 1:
            raise SpeechoptError(f"WaveNet batch must be >= 1, got {self.batch}")

    def to_dict(self) -> dict:
        return {"seed": self.seed, "temperature": self.temperature, "cached": self.cached, "batch": self.batch,
                "sampling": "softmax(logits / temperature), one uniform draw a sample (inverse CDF)",
                "generation": "cached: per-layer queues (fast WaveNet)" if self.cached else "naive: the receptive "
                "field recomputed a sample"}


@dataclass(frozen=True)
class WaveNetVocoder(Vocoder):
    """A trained WaveNet (`speechopt.models.tts.wavenet`) as a vocoder: mels of similar length are generated
    together (`settings.batch` at a time), each cut to (frames - 1) * hop samples like Griffin-Lim's."""

    model: object = None  # a WaveNet module (pytorch artifacts: `WaveNet.generate`, naive or cached) ...
    artifact: object = None  # ... or an exported artifact, generated by the vocoder task's driver (cached)

    def __call__(self, mel, threads: int | None = 1, linear=None) -> np.ndarray:
        return self.many([mel], threads)[0]

    def many(self, mels, threads: int | None = 1, progress=None, linears=None) -> list[np.ndarray]:
        """Generated from the mels (a linear magnitude, if given, is not what a WaveNet listens to)."""
        from speechopt.threads import torch_threads

        hop = self.mel_config.hop_length
        # fewer than 2 frames: nothing to generate (empty audio, as Griffin-Lim's)
        out: list = [np.zeros(0, np.float32) if len(m) < 2 else None for m in mels]
        order = sorted((i for i in range(len(mels)) if out[i] is None), key=lambda i: len(mels[i]))
        if progress is not None and len(order) < len(mels):
            progress(len(mels) - len(order))
        with torch_threads(threads):
            for k in range(0, len(order), self.settings.batch):
                idx = order[k : k + self.settings.batch]
                frames = max(len(mels[i]) for i in idx)
                batch = np.stack([np.pad(np.asarray(mels[i], np.float32), ((0, frames - len(mels[i])), (0, 0)),
                                         mode="edge") for i in idx])
                audio = self._generate(batch, max(0, frames - 1) * hop)
                for j, i in enumerate(idx):
                    out[i] = audio[j, : max(0, len(mels[i]) - 1) * hop].astype(np.float32)
                    if progress is not None:
                        progress(1)
        return out


    def _generate(self, batch: np.ndarray, samples: int) -> np.ndarray:
        import torch

        s = self.settings
        if self.model is not None:
            return self.model.generate(torch.from_numpy(batch), num_samples=samples, seed=s.seed,
                                       temperature=s.temperature, cached=s.cached).numpy()
        from speechopt.tasks import get_task

        # graphs through their runners (the first call opens them; threads are the runners')
        driver = self.__dict__.get("_driver")
        if driver is None:
            driver = get_task("vocoder").driver(self.artifact, threads=1).activate()
            object.__setattr__(self, "_driver", driver)  # frozen dataclass: cache the open driver
        return driver({"mel": batch, "samples": samples, "seed": s.seed, "temperature": s.temperature})["audio"]


def griffin_lim_vocoder(mel_config, settings=None) -> Vocoder:
    """The built-in Griffin-Lim (no artifact) for `mel_config`: it takes the acoustic model's mel settings, so
    it cannot mismatch them."""
    from speechopt.models.tts.griffin_lim import GriffinLimSettings

    return Vocoder(GRIFFIN_LIM, mel_config, settings or GriffinLimSettings())


def save_griffin_lim(out, mel_config, settings=None, overwrite: bool = False, parent=None):
    """Write a Griffin-Lim vocoder artifact at `out` for mels of `mel_config` (a MelConfig) with `settings`
    (GriffinLimSettings, default 32 iterations, momentum 0.99, zero initial phase); returns the Artifact.
    `parent` (e.g. the acoustic artifact the mel settings were taken from) is recorded in the lineage."""
    from speechopt.artifact import write_artifact
    from speechopt.models.registry import get_architecture
    from speechopt.models.tts.griffin_lim import GriffinLimSettings

    settings = settings or GriffinLimSettings()
    config = get_architecture(GRIFFIN_LIM).full_config(_settings_config(settings))
    text = json.dumps({"vocoder": GRIFFIN_LIM, "settings": config, "mel": mel_config.to_dict()},
                      indent=2, sort_keys=True) + "\n"
    manifest = {"task": VOCODER_TASK, "format": "pytorch", "architecture": {"name": GRIFFIN_LIM, "config": config},
                "mel": mel_config.to_dict(), "griffin_lim": settings.to_dict(), "graphs": {}}
    return write_artifact(out, manifest, {SETTINGS_FILE: lambda p: p.write_text(text, encoding="utf-8")},
                          roles={SETTINGS_FILE: "settings"}, parent=parent,
                          step="vocoder-griffin-lim" if parent is not None else None,
                          settings={"mel_from": str(parent.path)} if parent is not None else None,
                          overwrite=overwrite)


def griffin_lim_like(acoustic, out, settings=None, overwrite: bool = False):
    """`save_griffin_lim` with the mel settings of `acoustic` (a tts artifact: folder, zoo:NAME or Artifact),
    recorded as the new artifact's parent; refuses, in one line, an artifact that is not tts."""
    from speechopt.artifact import Artifact, load_artifact
    from speechopt.models.tts.artifact import mel_config_of

    if not isinstance(acoustic, Artifact):
        from speechopt.zoo import resolve

        acoustic = load_artifact(resolve(acoustic))
    if acoustic.task != "tts":
        arch = (acoustic.manifest.get("architecture") or {}).get("name", "?")
        raise SpeechoptError(f"{acoustic.path}: the mel settings come from a tts artifact, this one is "
                             f"{acoustic.task} ({arch})")
    return save_griffin_lim(out, mel_config_of(acoustic), settings, overwrite=overwrite, parent=acoustic)


def _settings_config(settings) -> dict:
    return {"n_iter": int(settings.n_iter), "momentum": float(settings.momentum), "init": settings.init}


def load_vocoder(artifact, wavenet: WaveNetSettings | None = None) -> Vocoder:
    """The `Vocoder` of a vocoder artifact (an Artifact, a folder or `zoo:NAME`): Griffin-Lim from its
    checksummed `vocoder.json`, WaveNet from its weights (generated with `wavenet` settings). Refuses, in one
    line, an artifact of another task, an unknown architecture, and a Griffin-Lim manifest that disagrees
    with its settings file."""
    from speechopt.artifact import Artifact, load_artifact
    from speechopt.audio.mel import MelConfig
    from speechopt.models.tts.griffin_lim import GriffinLimSettings

    if not isinstance(artifact, Artifact):
        from speechopt.zoo import resolve

        artifact = load_artifact(resolve(artifact))
    if artifact.task != VOCODER_TASK:
        arch = (artifact.manifest.get("architecture") or {}).get("name", "?")
        raise SpeechoptError(f"{artifact.path}: needs a vocoder artifact, this one is {artifact.task} ({arch})")
    arch = (artifact.manifest.get("architecture") or {}).get("name")
    if arch == WAVENET:
        return load_wavenet(artifact, wavenet)
    if arch != GRIFFIN_LIM:
        raise SpeechoptError(f"{artifact.path}: vocoder architecture {arch!r} is not supported here (supported: "
                             f"{GRIFFIN_LIM}, {WAVENET})")
    try:
        saved = json.loads(artifact.file(SETTINGS_FILE).read_text(encoding="utf-8"))
        config, mel = saved["settings"], MelConfig.from_dict(saved["mel"])
        settings = GriffinLimSettings(int(config["n_iter"]), float(config["momentum"]), config["init"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SpeechoptError(f"{artifact.path}: corrupt {SETTINGS_FILE} ({type(exc).__name__}: {exc})") from None
    if artifact.manifest.get("mel") != saved["mel"] or artifact.architecture.get("config") != config:
        raise SpeechoptError(f"{artifact.path}: the manifest's mel or Griffin-Lim settings differ from its checksummed "
                             f"{SETTINGS_FILE}; the manifest was edited: rewrite the vocoder artifact")
    return Vocoder(GRIFFIN_LIM, mel, settings, str(artifact.path), artifact.checksum)


def load_wavenet(artifact, settings: WaveNetSettings | None = None) -> WaveNetVocoder:
    """A WaveNet vocoder artifact's model (weights verified by `load_artifact`) with its mel settings."""
    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.models.tts.artifact import mel_config_of

    mel = mel_config_of(artifact)
    config = artifact.architecture.get("config") or {}
    hop, n_mels = int(np.prod(config.get("upsample_scales", [4, 5, 10]))), int(config.get("n_mels", 80))
    if hop != mel.hop_length or n_mels != mel.n_mels:
        raise SpeechoptError(f"{artifact.path}: the WaveNet upsamples by {hop} with {n_mels} mels, "
                             f"its mel settings say hop {mel.hop_length}, {mel.n_mels} mels")
    settings = settings or WaveNetSettings()
    if artifact.format == "pytorch":
        return WaveNetVocoder(WAVENET, mel, settings, str(artifact.path), artifact.checksum, load_pytorch_model(artifact))
    if not settings.cached:
        raise SpeechoptError(f"{artifact.path}: an exported WaveNet generates with its step graph (cached); naive "
                             "generation needs the pytorch artifact")
    return WaveNetVocoder(WAVENET, mel, settings, str(artifact.path), artifact.checksum, artifact=artifact)


def wavenet_from_run(run_dir, out, overwrite: bool = False):
    """Write the vocoder artifact of a `speechopt.train_wavenet` run folder at `out`; returns the Artifact."""
    from speechopt.audio.mel import MelConfig
    from speechopt.models.pytorch import load_weights, save_pytorch_artifact
    from speechopt.models.registry import get_architecture
    from speechopt.models.tts.artifact import read_run, run_settings

    run_dir, cfg_path, weights, cfg = read_run(run_dir, "WaveNet")
    try:
        arch, config, mel = cfg["architecture"]["name"], dict(cfg["architecture"]["config"]), MelConfig.from_dict(cfg["mel"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SpeechoptError(f"{cfg_path}: not a WaveNet run config ({type(exc).__name__}: {exc})") from None
    if arch != WAVENET:
        raise SpeechoptError(f"{cfg_path}: architecture {arch}, not {WAVENET}")
    model = load_weights(get_architecture(arch).build(config), weights, arch)
    return save_pytorch_artifact(out, model, arch, config, {"mel": mel.to_dict()}, step="import-wavenet-run",
                                 settings=run_settings(run_dir, weights, cfg), overwrite=overwrite)


def mel_differences(acoustic_mel: dict, vocoder_mel: dict) -> dict:
    """{field: (acoustic value, vocoder value)} for every mel setting that differs (after filling defaults)."""
    from speechopt.audio.mel import MelConfig

    a, v = MelConfig.from_dict(acoustic_mel).to_dict(), MelConfig.from_dict(vocoder_mel).to_dict()
    return {k: (a[k], v[k]) for k in a if a[k] != v[k]}


def check_mel_match(acoustic, vocoder: Vocoder) -> None:
    """Refuse, in one line, a vocoder whose mel settings differ from the acoustic artifact's, naming both
    artifacts and, per differing field, both values (`n_mels 20 vs 80`)."""
    from speechopt.models.tts.artifact import mel_config_of

    diff = mel_differences(mel_config_of(acoustic).to_dict(), vocoder.mel_config.to_dict())
    if diff:
        fields = ", ".join(f"{k} {a} vs {v}" for k, (a, v) in diff.items())
        where = vocoder.path or vocoder.name
        raise SpeechoptError(f"mel settings differ: acoustic model {acoustic.path} vs vocoder {where}: {fields} "
                             f"(acoustic: {mel_config_of(acoustic).describe()}; vocoder: {vocoder.mel_config.describe()})")


def vocoder_for(acoustic, choice=None, n_iter: int | None = None) -> Vocoder:
    """The vocoder for an acoustic (tts) artifact: `choice` None or "griffin-lim" is the built-in Griffin-Lim
    with the acoustic model's mel settings (`n_iter` iterations if given); anything else is a vocoder artifact
    (folder or zoo:NAME), refused if its mel settings differ from the acoustic model's."""
    from speechopt.models.tts.artifact import mel_config_of
    from speechopt.models.tts.griffin_lim import GriffinLimSettings

    if choice is None or str(choice) == GRIFFIN_LIM:
        return griffin_lim_vocoder(mel_config_of(acoustic), GriffinLimSettings(n_iter=n_iter) if n_iter is not None else None)
    path = Path(str(choice))
    if not str(choice).startswith("zoo:") and not path.exists():
        raise SpeechoptError(f"vocoder {str(choice)!r}: neither {GRIFFIN_LIM} nor an artifact folder (not found)")
    vocoder = load_vocoder(choice)
    check_mel_match(acoustic, vocoder)
    return vocoder
