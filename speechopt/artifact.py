"""Artifacts: a folder holding model file(s) and `manifest.json`.

The manifest says what the model is (task, architecture and config, format), how to feed it (frontend,
tokenizer, input/output signature with dynamic axes), where it came from (parent artifact and its
checksum, the step and its settings, library versions) and the sha256 of every file. Artifacts are
written atomically and verified on load: a tampered or truncated file is refused with one clear line.
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
SCHEMA_VERSION = 1
FORMATS = ("pytorch", "torchscript", "exported-program", "onnx", "tensorrt")


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
        digest = hashlib.sha256("".join(f"{k}:{files[k]['sha256']};" for k in sorted(files)).encode())
        return digest.hexdigest()

    @property
    def name(self) -> str:
        return self.manifest.get("name") or self.path.name

    def file(self, role: str = "model") -> Path:
        """The path of the file playing `role` (every manifest names its main file under `model`)."""
        for name, info in self.manifest["files"].items():
            if info.get("role", "model") == role:
                return self.path / name
        raise SpeechoptError(f"{self.path}: artifact has no {role} file")

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

    def frontend(self):
        from speechopt.audio.features import FrontendConfig

        return FrontendConfig.from_dict(self.manifest["frontend"])

    def tokenizer(self):
        from speechopt.text import CharTokenizer

        return CharTokenizer.from_dict(self.manifest["tokenizer"])


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
    artifact = Artifact(path, manifest)
    if verify:
        verify_files(artifact)
    return artifact


def verify_files(artifact: Artifact) -> None:
    for name, info in artifact.manifest["files"].items():
        f = artifact.path / name
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
    format, architecture, frontend, tokenizer and signature; this function adds checksums, lineage,
    versions and the creation time.
    """
    manifest = dict(manifest)
    fmt = manifest.get("format")
    if fmt not in FORMATS:
        raise ValueError(f"bad artifact format {fmt!r}")
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
