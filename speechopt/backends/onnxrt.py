"""ONNX Runtime runner: CPU, CUDA and TensorRT execution providers.

onnxruntime-gpu lists every compiled-in provider in `get_available_providers()` even on a machine with no
GPU, and a session asked for CUDA or TensorRT that cannot load them silently runs on CPU (only a line on
stderr says so). So the runner checks the providers the session actually uses and refuses to run on
anything but the one requested: a "GPU" benchmark that measured the CPU would be worse than no benchmark.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from speechopt.backends.base import Runner
from speechopt.errors import BackendUnavailable, SpeechoptError, first_line

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
INSTALL_CPU = "pip install 'speechopt[onnx]'"
INSTALL_GPU = "pip install 'speechopt[gpu]'"

def trt_profile_shapes(graph: dict, profile: dict) -> dict[str, str]:
    """`trt_profile_{min,opt,max}_shapes` strings ("features:1x16x64,lengths:1") for every input of a graph.

    Named dimensions take their value from `profile[kind]` ({"min": {"batch": 1, "frames": 16}, ...}: the
    task knows what the names mean and gives the values); fixed ones are kept.
    """
    shapes = {}
    for kind in ("min", "opt", "max"):
        dims = profile[kind]
        parts = []
        for tensor in graph["inputs"]:
            sizes = []
            for d in tensor["shape"]:
                if isinstance(d, int):
                    sizes.append(d)
                elif d in dims:
                    sizes.append(int(dims[d]))
                else:
                    raise SpeechoptError(f"TensorRT profile gives no {kind} size for dimension {d!r} of "
                                         f"input {tensor['name']}; known: {sorted(dims)}")
            parts.append(f"{tensor['name']}:{'x'.join(str(s) for s in sizes)}")
        shapes[f"trt_profile_{kind}_shapes"] = ",".join(parts)
    return shapes


def provider_options(device: str, *, device_id: int = 0, fp16: bool = False, engine_cache_path: str | None = None,
                     profile_shapes: dict[str, str] | None = None) -> list[tuple[str, dict]]:
    """The `providers` argument of an InferenceSession for `device`, most preferred first.

    GPU providers keep CPU after them for the few nodes they do not take (shape arithmetic); the
    runner still checks that the requested provider is the session's first. The Python binding turns
    every value into str() ("True"/"False" for bools), which is what the TensorRT EP parses, and
    refuses an option name it does not know ("Invalid TensorRT EP option").
    `trt_fp16_enable` is TensorRT's weak typing (BuilderFlag.FP16), which TensorRT 11 removed; there an
    fp16 ONNX model (`speechopt quantize --method fp16`) is the way to fp16.
    """
    if device == "cpu":
        return [("CPUExecutionProvider", {})]
    if device == "cuda":
        return [("CUDAExecutionProvider", {"device_id": device_id}), ("CPUExecutionProvider", {})]
    if device == "tensorrt":
        trt = {"device_id": device_id, "trt_fp16_enable": bool(fp16)}
        if engine_cache_path:
            # Engines take minutes to build; the cache is keyed on model, profile, TRT version and GPU.
            trt.update({"trt_engine_cache_enable": True, "trt_engine_cache_path": str(engine_cache_path)})
        else:
            trt["trt_engine_cache_enable"] = False
        trt.update(profile_shapes or {})
        # Nodes TensorRT rejects run on CUDA, not on the CPU, so they do not hide in the timing.
        return [("TensorrtExecutionProvider", trt), ("CUDAExecutionProvider", {"device_id": device_id}),
                ("CPUExecutionProvider", {})]
    raise SpeechoptError(f"onnxruntime runs on {', '.join(PROVIDERS)}, not {device!r}")


def check_providers(device: str, used: list[str], available: list[str], version: str = "") -> None:
    """Raise BackendUnavailable unless the provider for `device` is the session's first provider."""
    requested = PROVIDERS[device]
    if used and used[0] == requested:
        return
    if requested not in available:
        where = f"onnxruntime {version} offers only {', '.join(available) or 'no providers'}"
    else:
        where = (f"onnxruntime could not load it and fell back to {', '.join(used) or 'nothing'} "
                 "(no GPU, or CUDA/cuDNN libraries missing)")
    if device == "cpu":
        fix = INSTALL_CPU
    elif device == "cuda":
        fix = (f"install the GPU build ({INSTALL_GPU}, not together with plain onnxruntime) "
               "on a machine with an NVIDIA GPU")
    else:
        # NVIDIA's 10.x -> 11.x migration notes: ONNX Runtime supports TensorRT 11 from 1.27 on.
        fix = (f"install the GPU build ({INSTALL_GPU}) and the TensorRT 10 libraries (or TensorRT 11 with "
               "onnxruntime-gpu >= 1.27) on a machine with an NVIDIA GPU")
    raise BackendUnavailable(f"{device} requested ({requested}) but {where}; {fix}")


def default_engine_cache(artifact) -> str:
    """A per-artifact TensorRT engine cache outside the (checksummed, read-only) artifact folder."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "speechopt" / "trt-engines"
    return str(root / artifact.checksum[:16])


class OnnxRuntimeRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, artifact, device: str = "cpu", threads: int | None = None, graph: str | None = None, *,
                 device_id: int = 0, fp16: bool = False, engine_cache_path: str | None = None,
                 trt_profile: dict | None = None):
        super().__init__(artifact, device, threads, graph)
        self.device_id = device_id
        self.fp16 = fp16
        self.engine_cache_path = engine_cache_path
        self.trt_profile = trt_profile
        self._session = None

    def _providers(self) -> list[tuple[str, dict]]:
        profile_shapes = None
        cache = None
        if self.device == "tensorrt":
            if not self.trt_profile:
                raise SpeechoptError(f"{self.artifact.path}: ONNX Runtime's TensorRT provider needs an optimization "
                                     f"profile for graph {self.graph} (trt_profile); the task's driver gives one")
            profile_shapes = trt_profile_shapes(self.spec, self.trt_profile)
            cache = self.engine_cache_path or default_engine_cache(self.artifact)
            Path(cache).mkdir(parents=True, exist_ok=True)
        return provider_options(self.device, device_id=self.device_id, fp16=self.fp16, engine_cache_path=cache,
                                profile_shapes=profile_shapes)

    def _activate_impl(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendUnavailable(f"onnxruntime is not installed; {INSTALL_CPU}") from None
        if self.device not in PROVIDERS:
            raise SpeechoptError(f"onnxruntime runs on {', '.join(PROVIDERS)}, not {self.device!r}")
        available = ort.get_available_providers()
        # Catches a CPU-only wheel early; a GPU wheel lists its providers even without a GPU (checked below).
        if PROVIDERS[self.device] not in available:
            check_providers(self.device, [], available, ort.__version__)
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = int(self.threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Errors only: provider fallbacks are turned into one clear BackendUnavailable line below.
        options.log_severity_level = 3
        path = self.path
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=self._providers())
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types, all with a message
            raise SpeechoptError(f"{path}: onnxruntime cannot load the model ({first_line(exc)})") from None
        check_providers(self.device, session.get_providers(), available, ort.__version__)
        names = [i.name for i in session.get_inputs()]
        if sorted(names) != sorted(self.input_names):
            raise SpeechoptError(f"{path}: model inputs {names} do not match the manifest's graph {self.graph} "
                                 f"{self.input_names}")
        self._session = session
        self._dtypes = self.input_dtypes

    def _deactivate_impl(self) -> None:
        self._session = None

    def _infer_impl(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {name: np.ascontiguousarray(inputs[name], dtype=self._dtypes[name]) for name in self.input_names}
        outputs = self._session.run(self.output_names, feeds)
        return dict(zip(self.output_names, outputs))

    # session.run copies outputs back to host numpy arrays before returning, so there is nothing to wait for.

    def describe(self) -> dict:
        info = super().describe()
        info["format"] = self.artifact.format
        if self._session is not None:
            import onnxruntime as ort

            info["onnxruntime"] = ort.__version__
            info["providers"] = self._session.get_providers()
            info["intra_op_threads"] = self._session.get_session_options().intra_op_num_threads
        return info
