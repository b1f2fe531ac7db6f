"""Artifacts: a folder holding model file(s) and `manifest.json`.

The manifest says what the model is (task, architecture and config, format), what it is made of (named
`graphs`, each a file with its input/output signature and dynamic axes; a pipeline artifact instead names
other artifacts as `components`, by checksum), how its task feeds it (`frontend`, `tokenizer`: read by the
task, not here), where it came from (parent artifact and its checksum, the step and its settings, library
versions) and the sha256 of every file. Artifacts are written atomically and verified on load: a tampered
or truncated file, a file name that is not a plain name inside the folder, or a symbolic link is refused
with one clear line, and graphs are loaded only from files the manifest lists (and so verified).
Manifests written before graphs existed (one `signature`, one file of role `model`) load as one graph
named `model`.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from speechopt.errors import SpeechoptError
from speechopt.io import atomic_dir, sha256_file

MANIFEST = "manifest.json"
SCHEMA_VERSION = 2  # 2: named graphs (1: one `signature`, still read)
FORMATS = ("pytorch", "torchscript", "exported-program", "onnx", "tensorrt", "pipeline")
MAIN_GRAPH = "model"  # the one graph of a single-graph artifact
# What a manifest says about its own files and history, as opposed to what the model is and what its task
# needs (frontend, tokenizer, mel settings, ...), which an artifact derived from it keeps.
OWN_FIELDS = ("files", "lineage", "created", "name", "graphs", "format", "versions", "metrics", "validation",
              "export", "notes", "schema", "signature")


def inherited_fields(manifest: dict) -> dict:
    """The fields an artifact derived from `manifest` (exported, pruned, fine-tuned) keeps."""
    return {k: v for k, v in manifest.items() if k not in OWN_FIELDS}


def dynamic_axes(tensors: list[dict]) -> dict:
    """{tensor: {axis: dim name}} for every named (not fixed) dimension, in the torch.onnx form."""
    return {t["name"]: {i: d for i, d in enumerate(t["shape"]) if isinstance(d, str)}
            for t in tensors if any(isinstance(d, str) for d in t["shape"])}


def graph_entry(file: str, inputs: list[dict], outputs: list[dict], **extra) -> dict:
    """A manifest `graphs` entry: the file and the tensors (name, dtype, shape with named dynamic dims)."""
    return {"file": file, "inputs": inputs, "outputs": outputs,
            "dynamic_axes": {k: {str(a): d for a, d in v.items()} for k, v in dynamic_axes(inputs + outputs).items()},
            **extra}


def check_file_name(name: str, where) -> None:
    """A manifest may list only plain file names inside the artifact folder (no paths, no `..`)."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name:
        raise SpeechoptError(f"{where}: manifest lists {name!r}, which is not a plain file name inside the artifact; "
                             "refusing to read outside the artifact folder")


def library_versions(*names: str) -> dict:
    """Versions of speechopt, python and the named libraries that are importable."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("speechopt", "torch", "numpy", *names):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


@dataclass
class Artifact:
    path: Path
    manifest: dict

    @property
    def task(self) -> str:
        return self.manifest["task"]

    @property
    def format(self) -> str:
        return self.manifest["format"]

    @property
    def architecture(self) -> dict:
        return self.manifest["architecture"]

    @property
    def checksum(self) -> str:
        """Content address: a hash over the files' checksums (the manifest's own text is not hashed)."""
        files = self.manifest["files"]
        text = "".join(f"{k}:{files[k]['sha256']};" for k in sorted(files))
        # a pipeline is its parts: the same files with another vocoder is another artifact
        text += "".join(f"@{k}:{c['checksum']};" for k, c in sorted(self.components.items()))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def name(self) -> str:
        return self.manifest.get("name") or self.path.name

    def required(self, key: str, what: str) -> dict:
        """The manifest field `key`, or one line saying that this artifact lacks `what` its task needs."""
        if key not in self.manifest:
            raise SpeechoptError(f"{self.path}: the manifest of this {self.task} artifact has no {what}")
        return self.manifest[key]

    @property
    def graphs(self) -> dict[str, dict]:
        """{name: {file, inputs, outputs, dynamic_axes}}; a pipeline artifact has none of its own."""
        return self.manifest.get("graphs") or {}

    def graph(self, name: str | None = None) -> dict:
        """The graph called `name`; without a name, the artifact's only graph."""
        graphs = self.graphs
        if name is None:
            if len(graphs) == 1:
                return next(iter(graphs.values()))
            raise SpeechoptError(f"{self.path}: artifact has graphs {', '.join(graphs) or '(none)'}; name one")
        if name not in graphs:
            raise SpeechoptError(f"{self.path}: artifact has no graph {name!r} (graphs: {', '.join(graphs) or 'none'})")
        return graphs[name]

    def graph_names(self) -> list[str]:
        return list(self.graphs)

    def file(self, name: str) -> Path:
        """The path of a file the manifest lists (and load_artifact verified); nothing else is handed out."""
        if name not in self.manifest["files"]:
            raise SpeechoptError(f"{self.path}: manifest lists no file {name!r}")
        return self.path / name

    def graph_path(self, name: str | None = None) -> Path:
        return self.file(self.graph(name)["file"])

    @property
    def components(self) -> dict[str, dict]:
        """A pipeline's parts: {role: {path, checksum, task}}, e.g. acoustic model and vocoder."""
        return self.manifest.get("components") or {}

    def component(self, role: str) -> "Artifact":
        """Load the component artifact `role` and check it is the one this pipeline was made with."""
        ref = self.components.get(role)
        if ref is None:
            raise SpeechoptError(f"{self.path}: pipeline has no component {role!r} (has: {', '.join(self.components) or 'none'})")
        path = Path(ref["path"])
        if not path.is_absolute():
            path = self.path / path
        part = load_artifact(path)
        if part.checksum != ref["checksum"]:
            raise SpeechoptError(f"{part.path}: not the {role} this pipeline was made with (checksum "
                                 f"{part.checksum[:12]} vs {ref['checksum'][:12]}); rebuild the pipeline")
        return part

    def size_bytes(self) -> int:
        return sum(int(f["bytes"]) for f in self.manifest["files"].values())

    def compressed_bytes(self) -> int:
        """Size of the files after zlib (level 6): what the artifact costs to ship or download.

        Unstructured sparsity shows up here and nowhere else, since dense formats store the zeros."""
        total = 0
        for name in self.manifest["files"]:
            packer = zlib.compressobj(6)
            with open(self.path / name, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    total += len(packer.compress(chunk))
            total += len(packer.flush())
        return total



def load_artifact(path: str | Path, verify: bool = True) -> Artifact:
    """Read and verify an artifact folder."""
    path = Path(path)
    if not path.exists():
        raise SpeechoptError(f"{path}: artifact not found")
    if not path.is_dir():
        raise SpeechoptError(f"{path}: an artifact is a folder with manifest.json; this is a file")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise SpeechoptError(f"{path}: not an artifact (no {MANIFEST})")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        for key in ("task", "format", "files"):
            manifest[key]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SpeechoptError(f"{mpath}: corrupt manifest ({type(exc).__name__}: {exc})") from None
    if manifest.get("schema", 0) > SCHEMA_VERSION:
        raise SpeechoptError(f"{mpath}: manifest schema {manifest['schema']} is newer than this speechopt understands")
    if not isinstance(manifest["files"], dict):
        raise SpeechoptError(f"{mpath}: corrupt manifest (`files` is not a mapping)")
    for name in manifest["files"]:
        check_file_name(name, mpath)
    _upgrade(manifest, mpath)
    artifact = Artifact(path, manifest)
    if verify:
        verify_files(artifact)
    return artifact


def _upgrade(manifest: dict, where) -> None:
    """Schema 1 (one `signature`, the model file under role `model`) -> one graph named `model`."""
    if "graphs" not in manifest and "signature" in manifest:
        main = next((n for n, f in manifest["files"].items() if f.get("role", "model") == "model"), None)
        if main is None:
            raise SpeechoptError(f"{where}: corrupt manifest (a signature but no model file)")
        sig = manifest.pop("signature")
        manifest["graphs"] = {MAIN_GRAPH: graph_entry(main, sig["inputs"], sig["outputs"])}
    for name, g in (manifest.get("graphs") or {}).items():
        if not isinstance(g, dict) or g.get("file") not in manifest["files"]:
            raise SpeechoptError(f"{where}: graph {name!r} names file {g.get('file') if isinstance(g, dict) else g!r}, "
                                 "which the manifest does not list (and so cannot verify)")


def verify_files(artifact: Artifact) -> None:
    """Every listed file exists, is a regular file (not a link: it could point anywhere) and matches."""
    for name, info in artifact.manifest["files"].items():
        f = artifact.path / name
        if f.is_symlink():
            raise SpeechoptError(f"{f}: is a symbolic link; artifact files must be regular files inside the folder")
        if not f.is_file():
            raise SpeechoptError(f"{f}: file listed in the manifest is missing")
        if f.stat().st_size != int(info["bytes"]) or sha256_file(f) != info["sha256"]:
            raise SpeechoptError(f"{f}: checksum mismatch: the file is corrupt, truncated or was modified")


def write_artifact(
    out: str | Path,
    manifest: dict,
    files: dict[str, Callable[[Path], None]],
    roles: dict[str, str] | None = None,
    parent: Artifact | None = None,
    step: str | None = None,
    settings: dict | None = None,
    overwrite: bool = False,
) -> Artifact:
    """Write an artifact atomically.

    `files` maps a file name to a function that writes it at the given path. `manifest` gives task,
    format, architecture, graphs (or components) and what the task needs (frontend, tokenizer, ...);
    this function adds checksums, lineage, versions and the creation time.
    """
    manifest = dict(manifest)
    manifest.pop("signature", None)  # schema 1's single graph; `graphs` replaces it
    fmt = manifest.get("format")
    if fmt not in FORMATS:
        raise ValueError(f"bad artifact format {fmt!r}")
    for name in files:
        check_file_name(name, out)
    for name, g in (manifest.get("graphs") or {}).items():
        if g["file"] not in files:
            raise ValueError(f"graph {name!r} names file {g['file']!r}, which is not written")
    out = Path(out)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        entries = {}
        for name, writer in files.items():
            writer(tmp / name)
            entries[name] = {
                "sha256": sha256_file(tmp / name),
                "bytes": (tmp / name).stat().st_size,
                "role": (roles or {}).get(name, "model"),
            }
        manifest["files"] = entries
        manifest["schema"] = SCHEMA_VERSION
        manifest.setdefault("name", out.name)
        manifest["lineage"] = {
            "parent": None if parent is None else {"path": str(parent.path), "name": parent.name,
                                                   "checksum": parent.checksum, "format": parent.format},
            "step": step,
            "settings": settings or {},
            "history": ([] if parent is None else parent.manifest.get("lineage", {}).get("history", []))
            + ([step] if step else []),
        }
        manifest.setdefault("versions", library_versions())
        manifest["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return Artifact(out, manifest)
