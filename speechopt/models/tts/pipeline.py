"""TTS pipeline artifacts: one acoustic model tied to one vocoder, each referenced by checksum.

`make_pipeline(acoustic, vocoder, out)` writes `format: pipeline`, `task: tts`, no files and no graphs of its
own, and `components: {"acoustic": {path, checksum, task, format, name}, "vocoder": {...}}`; the manifest also
states the `mel` settings both agree on. Its checksum is that of its components (`Artifact.checksum`).

- A component's `path` is relative to the pipeline folder when the component lies under the pipeline's
  parent folder (`out/pipe` -> `../t2` for `out/t2`: a folder of artifacts moved together still works),
  absolute otherwise (e.g. a bundled zoo model, which does not move with the user's folder).
- A vocoder whose mel settings differ from the acoustic model's is refused in one line naming both artifacts
  and each differing field with both values (`speechopt.models.tts.vocoder.check_mel_match`); so is an
  acoustic artifact that is not `tts` (or is itself a pipeline) and a vocoder that is not a vocoder artifact.
- `load_pipeline` loads both components through `Artifact.component`, which verifies their files and refuses
  one whose checksum is not the one recorded ("rebuild the pipeline"), then checks the mel settings again.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from speechopt.errors import SpeechoptError

ROLES = ("acoustic", "vocoder")


def _load(ref):
    from speechopt.artifact import Artifact, load_artifact
    from speechopt.zoo import resolve

    return ref if isinstance(ref, Artifact) else load_artifact(resolve(ref))


def component_path(component: Path, out: Path) -> str:
    """The path a pipeline at `out` records for `component`: relative to `out` if the component is under
    `out`'s parent folder, else absolute."""
    component, out = Path(component).resolve(), Path(out).resolve()
    try:
        component.relative_to(out.parent)
    except ValueError:
        return str(component)
    return os.path.relpath(component, out)


def _check_acoustic(acoustic) -> None:
    if acoustic.format == "pipeline":
        raise SpeechoptError(f"{acoustic.path}: is already a pipeline; give its acoustic model")
    if acoustic.task != "tts":
        arch = (acoustic.manifest.get("architecture") or {}).get("name", "?")
        raise SpeechoptError(f"{acoustic.path}: a pipeline's acoustic model must be a tts artifact, this one is "
                             f"{acoustic.task} ({arch})")


def make_pipeline(acoustic, vocoder, out, overwrite: bool = False):
    """Write the pipeline artifact of `acoustic` (a tts artifact: folder, zoo:NAME or Artifact) and `vocoder`
    (a vocoder artifact) at `out`; returns the Artifact. Nothing is written when the mel settings differ."""
    from speechopt.artifact import write_artifact
    from speechopt.models.tts.vocoder import check_mel_match, load_vocoder

    acoustic, vocoder_art = _load(acoustic), _load(vocoder)
    _check_acoustic(acoustic)
    check_mel_match(acoustic, load_vocoder(vocoder_art))
    out = Path(out)
    components = {role: {"path": component_path(a.path, out), "checksum": a.checksum, "task": a.task,
                         "format": a.format, "name": a.name}
                  for role, a in (("acoustic", acoustic), ("vocoder", vocoder_art))}
    manifest = {"task": "tts", "format": "pipeline", "components": components, "mel": acoustic.manifest["mel"],
                "architecture": {"name": "pipeline", "config": {
                    "acoustic": (acoustic.manifest.get("architecture") or {}).get("name"),
                    "vocoder": (vocoder_art.manifest.get("architecture") or {}).get("name")}}}
    return write_artifact(out, manifest, {}, step="pipeline",
                          settings={role: str(a.path) for role, a in (("acoustic", acoustic), ("vocoder", vocoder_art))},
                          overwrite=overwrite)


def load_pipeline(pipeline):
    """(pipeline Artifact, acoustic Artifact, Vocoder) of a pipeline (folder, zoo:NAME or Artifact); both
    components verified against the checksums the pipeline recorded, and their mel settings checked."""
    from speechopt.models.tts.vocoder import check_mel_match, load_vocoder

    pipeline = _load(pipeline)
    if pipeline.format != "pipeline":
        raise SpeechoptError(f"{pipeline.path}: not a pipeline artifact (format {pipeline.format})")
    missing = [r for r in ROLES if r not in pipeline.components]
    if missing:
        raise SpeechoptError(f"{pipeline.path}: a TTS pipeline has components {', '.join(ROLES)}; this one lacks "
                             f"{', '.join(missing)}")
    # component paths resolved: `pipe/../t2` is shown (and recorded in results) as the folder it names
    acoustic, vocoder_art = (dataclasses.replace(a, path=a.path.resolve())
                             for a in (pipeline.component("acoustic"), pipeline.component("vocoder")))
    _check_acoustic(acoustic)
    vocoder = load_vocoder(vocoder_art)
    check_mel_match(acoustic, vocoder)
    return pipeline, acoustic, vocoder
