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

    def __call__(self, mel, threads: int | None = 1) -> np.ndarray:
        """Log-mel (frames, n_mels) in `mel_config`'s scale -> float32 waveform of (frames - 1) * hop samples;
        an empty waveform for fewer than 2 frames (nothing to invert). `threads`: torch intra-op threads while
        it runs (restored after), as `griffin_lim`."""
        from speechopt.models.tts.griffin_lim import griffin_lim

        if len(mel) < 2:
            return np.zeros(0, np.float32)
        return griffin_lim(mel, self.mel_config, self.settings, threads)

    def describe(self) -> dict:
        """What results record about the vocoder: name, its settings, and the artifact it came from if any."""
        info = {"name": self.name, **self.settings.to_dict()}
        if self.path is not None:
            info.update(artifact=self.path, checksum=self.checksum)
        return info


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


def load_vocoder(artifact) -> Vocoder:
    """The `Vocoder` of a vocoder artifact (an Artifact, a folder or `zoo:NAME`), from its checksummed
    `vocoder.json`. Refuses, in one line, an artifact of another task, an architecture other than
    griffin-lim, and a manifest that disagrees with its settings file."""
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
    if arch != GRIFFIN_LIM:
        raise SpeechoptError(f"{artifact.path}: vocoder architecture {arch!r} is not supported here (supported: "
                             f"{GRIFFIN_LIM})")
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
