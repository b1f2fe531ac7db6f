"""TensorRT runner for engine artifacts (format "tensorrt") made by `speechopt build`: one engine, one graph.

Native engines (`<graph>.engine`) are deserialized with `trt.Runtime` and run with the name-based
TensorRT 10/11 API: `set_input_shape`, `get_tensor_shape` for the outputs, `set_tensor_address` on
torch CUDA tensors, `execute_async_v3` on a torch CUDA stream. Engines compiled through Torch-TensorRT
(`model.ep`) are loaded with `torch_tensorrt.load` and called like a module. No pycuda: torch owns the
device memory and the stream.

Before deserializing, the manifest's TensorRT version and GPU are compared with this machine's
(`compat.check_engine_compatible`), so a stale engine fails with "rebuild it" instead of a TensorRT
serialization error; inputs are checked against this graph's own optimization profile. Without TensorRT
or a CUDA device, `activate()` raises BackendUnavailable with one line. That failure path is tested in
CI; the GPU path has **not been run** here (no GPU): it is exercised by tests/test_gpu.py in the GPU lane.
"""

from __future__ import annotations

import numpy as np

from speechopt.backends.base import Runner
from speechopt.errors import BackendUnavailable, SpeechoptError, first_line


class TensorRTRunner(Runner):
    backend = "tensorrt"

    def __init__(self, artifact, device: str = "tensorrt", threads: int | None = None, graph: str | None = None,
                 *, device_id: int = 0):
        super().__init__(artifact, device, threads, graph)
        self.device_id = device_id
        self._info = artifact.manifest.get("tensorrt") or {}
        self._via = self._info.get("via", "tensorrt")

    @property
    def profile(self) -> dict:
        """This graph's {input: {"min", "opt", "max"}} (manifests before per-graph engines: `profile`)."""
        profiles = self._info.get("profiles")
        if profiles is not None:
            return profiles.get(self.graph) or {}
        return self._info.get("profile") or {}

    # -- activation ----------------------------------------------------------------------------------
    def _require(self):
        """Import TensorRT and torch with a CUDA device, or raise one line naming what is missing."""
        from speechopt.env import TENSORRT_INSTALL

        if self.device not in ("tensorrt", "cuda"):
            raise SpeechoptError(f"TensorRT engines run on a GPU (device tensorrt or cuda), not {self.device!r}")
        try:
            import tensorrt as trt
        except Exception as exc:  # noqa: BLE001 - the bindings raise ImportError/OSError for a missing libnvinfer
            what = ("the tensorrt package is not installed" if isinstance(exc, ModuleNotFoundError)
                    and exc.name == "tensorrt" else f"tensorrt does not import ({first_line(exc)})")
            raise BackendUnavailable(f"cannot run {self.artifact.path}: {what}; to enable: {TENSORRT_INSTALL}") from None
        import torch

        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise BackendUnavailable(f"cannot run {self.artifact.path}: torch {torch.__version__} ({build}) sees no "
                                     f"CUDA device; TensorRT needs an NVIDIA GPU and driver")
        return trt, torch

    def _activate_impl(self) -> None:
        from speechopt.backends.tensorrt.compat import check_engine_compatible

        trt, torch = self._require()
        torch.cuda.set_device(self.device_id)
        major, minor = torch.cuda.get_device_capability(self.device_id)
        self._gpu = torch.cuda.get_device_name(self.device_id)
        check_engine_compatible(self.artifact.manifest, trt.__version__, self._gpu, f"{major}.{minor}")
        self._torch = torch
        self._stream = torch.cuda.Stream()
        if self._via == "torch-tensorrt":
            self._activate_torch_tensorrt()
        else:
            self._activate_engine(trt)

    def _activate_engine(self, trt) -> None:
        from speechopt.backends.tensorrt.builder import make_logger

        torch = self._torch
        path = self.path
        self._logger = make_logger(trt)  # keep a reference: TensorRT holds it for the runtime's lifetime
        self._runtime = trt.Runtime(self._logger)
        if self._info.get("version_compatible"):
            # Version-compatible plans embed a lean runtime (host code) that the runtime must be allowed to load.
            self._runtime.engine_host_code_allowed = True
        engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            msg = "; ".join(self._logger.errors[:2]) or "no message from TensorRT"
            raise SpeechoptError(f"{path}: TensorRT {trt.__version__} cannot deserialize this engine ({msg}); "
                                 "rebuild it with `speechopt build`")
        self._engine = engine
        self._context = engine.create_execution_context()
        if self._context is None:
            raise SpeechoptError(f"{path}: TensorRT could not create an execution context (out of GPU memory?)")
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self._inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if sorted(self._inputs) != sorted(self.input_names) or sorted(self._outputs) != sorted(self.output_names):
            raise SpeechoptError(f"{path}: engine tensors {self._inputs} -> {self._outputs} do not match the "
                                 f"manifest signature {self.input_names} -> {self.output_names}")
        dtypes = {
            "FLOAT": torch.float32, "HALF": torch.float16, "BF16": torch.bfloat16, "INT8": torch.int8,
            "INT32": torch.int32, "INT64": torch.int64, "BOOL": torch.bool, "UINT8": torch.uint8,
        }
        self._dtypes = {}
        for n in names:
            dt = engine.get_tensor_dtype(n)
            if dt.name not in dtypes:
                raise SpeechoptError(f"{path}: tensor {n} has TensorRT type {dt.name}, which this runner does not feed")
            self._dtypes[n] = dtypes[dt.name]
        self._buffers: dict = {}

    def _activate_torch_tensorrt(self) -> None:
        try:
            import torch_tensorrt
        except Exception as exc:  # noqa: BLE001 - raises a plain Exception when TensorRT libs are missing
            raise BackendUnavailable(f"cannot run {self.artifact.path}: torch_tensorrt does not import "
                                     f"({first_line(exc)}); pip install 'speechopt[tensorrt]'") from None
        path = self.path
        try:
            program = torch_tensorrt.load(str(path))
        except Exception as exc:  # noqa: BLE001
            raise SpeechoptError(f"{path}: Torch-TensorRT cannot load it ({first_line(exc)}); rebuild it") from None
        self._module = program.module() if hasattr(program, "module") else program
        self._dtypes = {t["name"]: getattr(self._torch, t["dtype"]) for t in self.spec["inputs"]}

    def _deactivate_impl(self) -> None:
        if getattr(self, "_stream", None) is not None:
            self._stream.synchronize()
        for attr in ("_buffers", "_context", "_engine", "_runtime", "_module", "_stream"):
            if hasattr(self, attr):
                setattr(self, attr, None)

    # -- inference -----------------------------------------------------------------------------------
    def _check_profile(self, name: str, shape: tuple) -> None:
        """A clear line when an input falls outside the engine's profile (TensorRT would only log it)."""
        prof = self.profile.get(name)
        if not prof:
            return
        lo, hi = prof["min"], prof["max"]
        if len(shape) != len(lo) or any(s < a or s > b for s, a, b in zip(shape, lo, hi)):
            raise SpeechoptError(f"{self.artifact.path}: input {name} of shape {list(shape)} is outside the engine's "
                                 f"profile {lo}..{hi}; rebuild with a wider profile (speechopt build --max-shape ...)")

    def _device_buffer(self, key: str, shape: tuple, dtype):
        """Reuse the CUDA tensor for `key` while shape and dtype stay the same (the common case in a benchmark)."""
        buf = self._buffers.get(key)
        if buf is None or tuple(buf.shape) != shape or buf.dtype != dtype:
            buf = self._torch.empty(shape, dtype=dtype, device=f"cuda:{self.device_id}")
            self._buffers[key] = buf
        return buf

    def _infer_impl(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._via == "torch-tensorrt":
            return self._infer_module(inputs)
        torch, ctx = self._torch, self._context
        with torch.cuda.stream(self._stream):
            for name in self._inputs:
                host = torch.from_numpy(np.ascontiguousarray(inputs[name]))
                self._check_profile(name, tuple(host.shape))
                dev = self._device_buffer(name, tuple(host.shape), self._dtypes[name])
                dev.copy_(host.to(self._dtypes[name]), non_blocking=True)
                if not ctx.set_input_shape(name, tuple(host.shape)):
                    raise SpeechoptError(f"{self.artifact.path}: TensorRT rejected shape {list(host.shape)} for {name}")
                ctx.set_tensor_address(name, dev.data_ptr())
            outs = {}
            for name in self._outputs:
                shape = tuple(ctx.get_tensor_shape(name))
                if any(s < 0 for s in shape):
                    raise SpeechoptError(f"{self.artifact.path}: output {name} has a data-dependent shape {shape}, "
                                         "which this runner does not support")
                dev = self._device_buffer(name, shape, self._dtypes[name])
                ctx.set_tensor_address(name, dev.data_ptr())
                outs[name] = dev
            if not ctx.execute_async_v3(self._stream.cuda_stream):
                raise SpeechoptError(f"{self.artifact.path}: TensorRT execution failed: "
                                     + ("; ".join(self._logger.errors[-2:]) or "no message"))
            # Copies on the same stream, then wait: the caller gets finished host arrays.
            host = {n: t.to("cpu", non_blocking=False) for n, t in outs.items()}
        return {n: self._to_numpy(t) for n, t in host.items()}

    def _infer_module(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.cuda.stream(self._stream), torch.inference_mode():
            args = [torch.from_numpy(np.ascontiguousarray(inputs[n])).to(f"cuda:{self.device_id}", self._dtypes[n])
                    for n in self.input_names]
            for n, a in zip(self.input_names, args):
                self._check_profile(n, tuple(a.shape))
            outputs = self._module(*args)
            if isinstance(outputs, torch.Tensor):
                outputs = (outputs,)
            host = [o.to("cpu") for o in outputs]
        return {n: self._to_numpy(t) for n, t in zip(self.output_names, host)}

    def _to_numpy(self, t) -> np.ndarray:
        # fp16/bf16 outputs are widened so decoding and drift see the reference's dtype.
        if t.dtype in (self._torch.float16, self._torch.bfloat16):
            t = t.float()
        return t.numpy()

    def synchronize(self) -> None:
        if self.active and self._stream is not None:
            self._stream.synchronize()

    def describe(self) -> dict:
        info = super().describe()
        info.update({
            "format": self.artifact.format, "via": self._via, "precision": self._info.get("precision"),
            "tensorrt_built_with": self._info.get("version"), "built_on": self._info.get("gpu"),
            "profile": self.profile or None,
        })
        if self.active:
            import tensorrt as trt

            info.update({"tensorrt": trt.__version__, "gpu": self._gpu})
            if self._via == "torch-tensorrt":
                info["torch_tensorrt"] = self._info.get("torch_tensorrt")
        return info
