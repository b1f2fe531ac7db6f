"""PyTorch runners: eager (pytorch artifacts), TorchScript and torch.export programs (.pt2).

All three run one graph of an artifact: they feed it positional tensors in the order of the graph's inputs
and return its outputs by name, so tasks drive them like any other runner. Torch's intra-op thread count
is process-wide: a runner given `threads` sets it while active and restores it on deactivation.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from speechopt.backends.base import Runner
from speechopt.errors import BackendUnavailable, SpeechoptError, first_line

TORCH_DEVICES = ("cpu", "cuda")


def require_torch_device(device: str):
    """The torch.device for `device`, or one clear line saying why it cannot be used here."""
    import torch

    if device not in TORCH_DEVICES:
        raise SpeechoptError(f"torch runners run on {' or '.join(TORCH_DEVICES)}, not {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise BackendUnavailable(
            f"cuda requested but torch {torch.__version__} ({build}) sees no CUDA device; "
            "use a CUDA build of torch (https://pytorch.org/get-started/locally/) on a machine with an NVIDIA GPU"
        )
    return torch.device(device)


class _TorchModuleRunner(Runner):
    """Shared device handling, threading and I/O; subclasses only load the module."""

    backend = "torch"

    def _load(self, device):
        raise NotImplementedError

    def _activate_impl(self) -> None:
        import torch

        self._device = require_torch_device(self.device)
        self._threads_before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        self._module = self._load(self._device)
        self._dtypes = self.input_dtypes

    def _deactivate_impl(self) -> None:
        import torch

        self._module = None
        torch.set_num_threads(self._threads_before)

    def _infer_impl(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        args = [torch.from_numpy(np.ascontiguousarray(inputs[name], dtype=self._dtypes[name])).to(self._device)
                for name in self.input_names]
        with torch.inference_mode():
            outputs = self._module(*args)
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        if len(outputs) != len(self.output_names):
            raise SpeechoptError(f"{self.artifact.path}: graph {self.graph} returned {len(outputs)} outputs, "
                                 f"the manifest names {len(self.output_names)}")
        return {name: out.detach().cpu().numpy() for name, out in zip(self.output_names, outputs)}

    def synchronize(self) -> None:
        if self.active and self.device == "cuda":
            import torch

            torch.cuda.synchronize()

    def describe(self) -> dict:
        import torch

        info = super().describe()
        info.update({"format": self.artifact.format, "torch": torch.__version__,
                     "intra_op_threads": torch.get_num_threads()})
        if self.device == "cuda" and self.active:
            info["gpu"] = torch.cuda.get_device_name()
        return info


class TorchRunner(_TorchModuleRunner):
    """Eager PyTorch: the model is rebuilt from the registry and its safetensors weights; the graph is the
    module the architecture's export config names for it."""

    backend = "torch"

    def _load(self, device):
        from speechopt.models.pytorch import graph_module, load_pytorch_model

        return graph_module(self.artifact, load_pytorch_model(self.artifact).to(device), self.graph)


class TorchScriptRunner(_TorchModuleRunner):
    """A TorchScript module saved with torch.jit.save (runs TorchScript code, unpickles no Python objects)."""

    backend = "torchscript"

    def _load(self, device):
        import torch

        path = self.path
        try:
            with warnings.catch_warnings():
                # "torch.jit.load is deprecated": the export step records that once, in the manifest's notes.
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(path), map_location=device)
        except RuntimeError as exc:
            raise SpeechoptError(f"{path}: cannot load TorchScript module ({first_line(exc)})") from None
        return module.eval()


TRUST_PICKLE_ENV = "SPEECHOPT_TRUST_PICKLE"


def pt2_unsafe_members(path) -> list[str]:
    """What torch.export.load would unpickle or run in a .pt2 archive: payloads flagged `use_pickle` (read
    with torch.load(weights_only=False)), custom and opaque objects (pickle), legacy pickled weight files and
    AOTInductor code; [] for an archive of plain tensors and the JSON program (what `speechopt export`
    writes). Read with torch's own archive reader, so the names are the ones the loader sees."""
    import json

    from torch.export.pt2_archive import constants as c
    from torch.export.pt2_archive._package import PT2ArchiveReader

    try:
        reader = PT2ArchiveReader(str(path))
    except Exception as exc:  # not a PT2 archive: torch.export.load's legacy path is pickle
        return [f"the whole file (not a PT2 archive: {first_line(exc)})"]
    bad = []
    with reader:
        for name in reader.get_file_names():
            if name.startswith(c.AOTINDUCTOR_DIR):
                bad.append(f"{name} (compiled code)")
            elif name.startswith((c.WEIGHTS_DIR, c.CONSTANTS_DIR)) and name.endswith(".pt"):
                bad.append(f"{name} (legacy pickled payload)")
            elif name.startswith((c.WEIGHTS_DIR, c.CONSTANTS_DIR)) and name.endswith("_config.json"):
                for fqn, meta in (json.loads(reader.read_string(name)).get("config") or {}).items():
                    if meta.get("use_pickle") or str(meta.get("path_name", "")).startswith(
                            (c.CUSTOM_OBJ_FILENAME_PREFIX, c.OPAQUE_OBJ_FILENAME_PREFIX)):
                        bad.append(f"{fqn} ({name})")
    return bad


class ExportedProgramRunner(_TorchModuleRunner):
    """A torch.export program saved with torch.export.save (.pt2).

    torch.export.load is NOT weights-only safe in torch 2.13: its docstring says it "uses pickle under the
    hood", and payloads flagged `use_pickle` (and opaque constants) go through torch.load(weights_only=False)
    or pickle.loads (torch/export/pt2_archive/_package.py). So the archive is read first
    (`pt2_unsafe_members`) and one holding any such payload is refused unless SPEECHOPT_TRUST_PICKLE=1:
    load_artifact's checksums catch corruption, not a malicious author.
    """

    backend = "exported-program"

    def _load(self, device):
        import torch

        import os

        path = self.path
        unsafe = pt2_unsafe_members(path)
        if unsafe and os.environ.get(TRUST_PICKLE_ENV) != "1":
            raise SpeechoptError(f"{path}: refusing to load: torch.export.load would unpickle or run "
                                 f"{len(unsafe)} part(s) of it ({', '.join(unsafe[:3])}{', ...' if len(unsafe) > 3 else ''});"
                                 f" if you trust its author, set {TRUST_PICKLE_ENV}=1")
        # The deserializer logs a warning per unbacked symbol it drops ("Symbol u0 did not appear ..."): noise.
        serde_log = logging.getLogger("torch._export.serde.serialize")
        level = serde_log.level
        serde_log.setLevel(logging.ERROR)
        try:
            program = torch.export.load(str(path))
        except Exception as exc:  # the pt2 reader raises many types (zipfile, serde, assertion errors)
            raise SpeechoptError(f"{path}: cannot load exported program ({first_line(exc)})") from None
        finally:
            serde_log.setLevel(level)
        if device.type != "cpu":
            from torch.export.passes import move_to_device_pass

            program = move_to_device_pass(program, device)
        return program.module()
