"""The bundled zoo: small trained checkpoints and an evaluation set that ship inside the package.

Any command that takes an artifact or a manifest also accepts `zoo:NAME` (for example `zoo:crnn-ctc` or
`zoo:eval`), so the demo and the tests need neither synthesis nor training.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from speechopt.errors import SpeechoptError

PREFIX = "zoo:"


def zoo_root() -> Path:
    return Path(str(resources.files("speechopt.zoo_data")))


def list_zoo() -> list[dict]:
    """Every bundled model and dataset with its path and headline figures."""
    root = zoo_root()
    entries = []
    for manifest in sorted((root / "models").glob("*/manifest.json")):
        m = json.loads(manifest.read_text())
        entries.append({
            "name": manifest.parent.name, "kind": "model", "task": m["task"],
            "architecture": m["architecture"]["name"], "format": m["format"],
            "path": str(manifest.parent), "metrics": m.get("metrics", {}),
            "size_bytes": sum(f["bytes"] for f in m["files"].values()),
        })
    for manifest in sorted((root / "data").glob("*/manifest.jsonl")):
        lines = manifest.read_text().splitlines()
        entries.append({
            "name": manifest.parent.name, "kind": "dataset", "path": str(manifest),
            "utterances": len(lines),
            "hours": round(sum(json.loads(x)["duration"] for x in lines) / 3600, 3),
        })
    return entries


def resolve(ref: str | Path) -> Path:
    """`zoo:NAME` to a bundled path; any other reference is returned as a path."""
    ref = str(ref)
    if not ref.startswith(PREFIX):
        return Path(ref)
    name = ref[len(PREFIX):]
    for e in list_zoo():
        if e["name"] == name:
            return Path(e["path"])
    known = ", ".join(PREFIX + e["name"] for e in list_zoo()) or "none"
    raise SpeechoptError(f"no bundled model or dataset named {name!r}; bundled: {known}")


def add_to_zoo(src: str | Path, name: str, data: str | Path | None = None, overwrite: bool = False) -> dict:
    """Copy a verified artifact into the bundled zoo, recording its task's figures on `data` in the manifest.

    ASR records both decoders: greedy (what every drift figure uses) and lexicon-constrained beam search.
    """
    import shutil

    from speechopt.artifact import MANIFEST, load_artifact
    from speechopt.evaluate import evaluate_artifact
    from speechopt.io import atomic_dir
    from speechopt.tasks import task_of

    artifact = load_artifact(src)
    if artifact.task == "vocoder":  # scored by copy synthesis on the TTS evaluation set
        from speechopt.tasks.tts.vocoder_eval import vocoder_zoo_figures

        data = data or "zoo:tts-eval"
        result = evaluate_artifact(artifact.path, resolve(data), threads=1)
        figures = vocoder_zoo_figures(result)
    else:
        task = task_of(artifact)
        data = data or task.default_data
        result = evaluate_artifact(artifact.path, resolve(data), batch_size=1, **task.zoo_evaluation_options)
        figures = task.zoo_figures(result)
    dst = zoo_root() / "models" / name
    with atomic_dir(dst, overwrite=overwrite) as tmp:
        for f in artifact.manifest["files"]:
            shutil.copy2(artifact.path / f, tmp / f)
        manifest = dict(artifact.manifest)
        manifest["name"] = name
        manifest["metrics"] = {**manifest.get("metrics", {}), **figures,
                               "eval_data": str(data), "eval_utterances": result["utterances"]}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return {"name": name, "path": str(dst), **figures}
