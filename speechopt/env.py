"""What this machine can run: torch/CUDA, ONNX Runtime providers, TensorRT and Torch-TensorRT.

Every probe is lazy (nothing is imported when this module is) and never raises: a missing or broken
package is reported with the exception that importing it gave, because "TensorRT missing" is less
useful than "libnvinfer.so.10: cannot open shared object file". ONNX Runtime is asked twice: which
providers are compiled in (`get_available_providers()`, which onnxruntime-gpu answers with CUDA and
TensorRT even on a machine without a GPU) and which ones a real session actually uses.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
import tempfile

from speechopt.errors import first_line

def cpu_flags() -> set[str]:
    """The instruction-set flags of this CPU (the first processor's in /proc/cpuinfo); empty where unreadable."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return set(value.split())
    except OSError:
        pass
    return set()


GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
TENSORRT_INSTALL = ("pip install 'speechopt[tensorrt]' --extra-index-url https://pypi.nvidia.com "
                    "on a machine with an NVIDIA GPU and driver")


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------------------------- torch
def probe_torch() -> dict:
    info: dict = {"version": None, "cuda_build": None, "cuda_available": False, "devices": [], "reason": None}
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - a probe reports, it does not fail
        info["reason"] = first_line(exc)
        return info
    info["version"] = torch.__version__
    info["cuda_build"] = torch.version.cuda
    try:
        info["cuda_available"] = bool(torch.cuda.is_available())
        if info["cuda_available"]:
            for i in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(i)
                info["devices"].append({
                    "index": i, "name": props.name, "compute_capability": f"{props.major}.{props.minor}",
                    "memory_gb": round(props.total_memory / 2**30, 1),
                })
        elif torch.version.cuda is None:
            info["reason"] = "CPU-only build of torch (torch.version.cuda is None)"
        else:
            info["reason"] = f"torch is built for CUDA {torch.version.cuda} but sees no CUDA device (no GPU or driver)"
    except Exception as exc:  # noqa: BLE001
        info["reason"] = first_line(exc)
    return info


# --------------------------------------------------------------------------------------- onnxruntime
def _identity_model_bytes() -> bytes:
    """The smallest valid ONNX model (one Identity node), made in memory."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "speechopt-probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # old enough for any onnxruntime we support
    return model.SerializeToString()


@contextlib.contextmanager
def _captured_output():
    """Capture Python stdout and the process's fd 2: ORT prints provider failures to both."""
    buf = io.StringIO()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            with contextlib.redirect_stdout(buf):
                yield buf
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            buf.write(tmp.read().decode("utf-8", "replace"))


def _failure_line(log: str) -> str | None:
    """The most telling line of ORT's complaint (a missing library, usually)."""
    lines = [x.strip() for x in log.splitlines() if x.strip()]
    for key in ("cannot open shared object", "Failed to load library", "Failed to create", "EP Error", "Error"):
        for line in lines:
            if key in line:
                # Python warnings arrive as "path:line: UserWarning: text"; keep the text.
                return line.split("Warning: ", 1)[-1][-300:]
    return lines[0][-300:] if lines else None


def probe_provider(ort, provider: str, model: bytes) -> dict:
    """Does a real session on `provider` use it? (requested first, CPU as ORT's own fallback)."""
    import warnings

    result = {"loads": False, "reason": None}
    options = ort.SessionOptions()
    options.log_severity_level = 3
    providers = [provider] + (["CPUExecutionProvider"] if provider != "CPUExecutionProvider" else [])
    with _captured_output() as out, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            session = ort.InferenceSession(model, sess_options=options, providers=providers)
            used = session.get_providers()
        except Exception as exc:  # noqa: BLE001
            used, result["reason"] = [], first_line(exc)
    if used and used[0] == provider:
        result["loads"] = True
    elif result["reason"] is None:
        detail = _failure_line(out.getvalue() + "".join(f"\nWarning: {w.message}" for w in caught))
        result["reason"] = (f"a session asked for it ran on {', '.join(used) or 'nothing'}"
                            + (f" ({detail})" if detail else ""))
    return result


def probe_onnxruntime() -> dict:
    info: dict = {"version": None, "packages": {}, "compiled_providers": [], "providers": {}, "reason": None}
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        v = _dist_version(dist)
        if v:
            info["packages"][dist] = v
    try:
        import onnxruntime as ort
    except Exception as exc:  # noqa: BLE001
        info["reason"] = first_line(exc)
        return info
    info["version"] = ort.__version__
    info["compiled_providers"] = list(ort.get_available_providers())
    model = None
    for provider in GPU_PROVIDERS:
        if provider not in info["compiled_providers"]:
            package = ", ".join(info["packages"]) or "onnxruntime"
            info["providers"][provider] = {
                "compiled": False, "loads": False,
                "reason": f"not compiled into the installed {package}; GPU providers need onnxruntime-gpu "
                          "(pip install 'speechopt[gpu]', instead of onnxruntime)",
            }
            continue
        try:
            model = model or _identity_model_bytes()
        except Exception as exc:  # noqa: BLE001 - onnx missing: we cannot make the probe model
            info["providers"][provider] = {"compiled": True, "loads": None, "reason": f"not probed ({first_line(exc)})"}
            continue
        info["providers"][provider] = {"compiled": True, **probe_provider(ort, provider, model)}
    if len(info["packages"]) > 1:
        # Both wheels install the same `onnxruntime/` folder: whichever came last wins, silently.
        info["warning"] = "both onnxruntime and onnxruntime-gpu are installed; uninstall one (they overwrite each other)"
    return info


# -------------------------------------------------------------------------------------------- tensorrt
def _import_failure(name: str, exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name == name:
        return f"the {name} package is not installed"
    # The bindings raise ImportError/OSError for a missing libnvinfer; torch_tensorrt a plain Exception.
    return f"{name} is installed but does not import ({first_line(exc)})"


def probe_tensorrt() -> dict:
    info: dict = {"version": None, "reason": None}
    try:
        import tensorrt as trt
    except Exception as exc:  # noqa: BLE001
        info["reason"] = _import_failure("tensorrt", exc)
        return info
    info["version"] = getattr(trt, "__version__", None)
    return info


def torch_tensorrt_pairing(torch_version: str, torch_tensorrt_version: str) -> str | None:
    """Why this torch / torch-tensorrt pair cannot work, or None.

    torch-tensorrt 2.N is built against torch 2.N only (its wheels pin `torch>=2.N,<2.N+1`).
    """
    def major_minor(v: str) -> tuple[int, ...]:
        parts = v.split("+")[0].split(".")
        try:
            return tuple(int(p) for p in parts[:2])
        except ValueError:
            return ()

    a, b = major_minor(torch_version), major_minor(torch_tensorrt_version)
    if not a or not b or a == b:
        return None
    return (f"torch-tensorrt {torch_tensorrt_version} needs torch {b[0]}.{b[1]}.x but torch {torch_version} "
            f"is installed; install the matching pair (torch-tensorrt {a[0]}.{a[1]}.x for this torch)")


def probe_torch_tensorrt() -> dict:
    info: dict = {"version": _dist_version("torch-tensorrt") or _dist_version("torch_tensorrt"), "reason": None}
    if info["version"] is None:
        info["reason"] = "the torch_tensorrt package is not installed"
        return info
    torch_version = _dist_version("torch")
    pairing = torch_tensorrt_pairing(torch_version, info["version"]) if torch_version else None
    if pairing:
        info["reason"] = pairing
        return info
    try:
        import torch_tensorrt  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - raises a plain Exception when TensorRT is missing
        info["reason"] = _import_failure("torch_tensorrt", exc)
    return info


def tensorrt_status() -> tuple[bool, str]:
    """(ok, reason): can this process build and run TensorRT engines?

    Checks, in this order and stopping at the first failure: `import tensorrt`, a CUDA device seen by
    torch (the runner uses torch CUDA tensors and streams), and creating a `trt.Builder`, which is
    where TensorRT itself notices a missing driver or device. On success the reason names the
    TensorRT version and the GPU.
    """
    try:
        import tensorrt as trt
    except Exception as exc:  # noqa: BLE001
        return False, _import_failure("tensorrt", exc)
    try:
        import torch
    except Exception as exc:  # noqa: BLE001
        return False, f"torch does not import ({first_line(exc)})"
    if torch.version.cuda is None:
        return False, f"torch {torch.__version__} is a CPU-only build; TensorRT needs a CUDA build of torch"
    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__} sees no CUDA device (no NVIDIA GPU or driver)"
    try:
        builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
        if not builder:
            raise RuntimeError("createInferBuilder returned null")
        del builder
    except Exception as exc:  # noqa: BLE001 - TypeError 'factory function returned nullptr' without a GPU
        return False, f"TensorRT {trt.__version__} cannot create a builder ({first_line(exc)})"
    return True, f"TensorRT {trt.__version__} on {torch.cuda.get_device_name(0)}"


# ------------------------------------------------------------------------------------------- the probe
def probe_environment() -> dict:
    """Everything above in one JSON-ready dict; never raises for a missing or broken package."""
    ok, reason = tensorrt_status()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "speechopt": _dist_version("speechopt"),
        "torch": probe_torch(),
        "onnxruntime": probe_onnxruntime(),
        "tensorrt": probe_tensorrt(),
        "torch_tensorrt": probe_torch_tensorrt(),
        "tensorrt_usable": {"ok": ok, "reason": reason},
    }


def format_environment(env: dict) -> list[str]:
    """The probe as readable lines for `speechopt env`."""
    lines = [f"python          {env['python']}  ({env['platform']})"]
    t = env["torch"]
    if t["version"] is None:
        lines.append(f"torch           missing: {t['reason']}")
    else:
        cuda = f"CUDA {t['cuda_build']} build" if t["cuda_build"] else "CPU build"
        lines.append(f"torch           {t['version']} ({cuda})")
        for d in t["devices"]:
            lines.append(f"  cuda:{d['index']}         {d['name']}, compute capability {d['compute_capability']}, "
                         f"{d['memory_gb']} GB")
        if not t["cuda_available"]:
            lines.append(f"  CUDA          unavailable: {t['reason']}")
    o = env["onnxruntime"]
    if o["version"] is None:
        lines.append(f"onnxruntime     missing: {o['reason']}")
    else:
        pkgs = ", ".join(f"{k} {v}" for k, v in o["packages"].items()) or "onnxruntime"
        lines.append(f"onnxruntime     {o['version']} ({pkgs}); compiled-in providers: "
                     f"{', '.join(o['compiled_providers'])}")
        for name, p in o["providers"].items():
            state = "loads" if p["loads"] else f"unusable: {p['reason']}"
            lines.append(f"  {name:<26} {state}")
        if o.get("warning"):
            lines.append(f"  warning: {o['warning']}")
    for key, label in (("tensorrt", "tensorrt"), ("torch_tensorrt", "torch-tensorrt")):
        p = env[key]
        if p["reason"]:
            lines.append(f"{label:<15} missing: {p['reason']}")
        else:
            lines.append(f"{label:<15} {p['version']}")
    u = env["tensorrt_usable"]
    lines.append(f"TensorRT builds {'yes: ' if u['ok'] else 'no: '}{u['reason']}")
    if not u["ok"]:
        lines.append(f"  to enable: {TENSORRT_INSTALL}")
    return lines
