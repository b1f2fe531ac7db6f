"""Engine compatibility: which TensorRT version and GPU can run an engine built elsewhere.

An engine runs only on the TensorRT version and GPU that built it, unless it was built version-compatible
(a later TensorRT of the same major, or 8 -> 10, 10 -> 11) or hardware-compatible (Ampere and newer, or the
same compute capability). The engine manifest records what built it; `check_engine_compatible` turns a
mismatch into one line saying to rebuild, instead of a TensorRT deserialization error.
"""

from __future__ import annotations

from speechopt.errors import SpeechoptError

# speechopt name -> trt.HardwareCompatibilityLevel member
HARDWARE_LEVELS = {"none": "NONE", "ampere_plus": "AMPERE_PLUS", "same_compute_capability": "SAME_COMPUTE_CAPABILITY"}


def version_tuple(v: str) -> tuple[int, ...]:
    """'10.13.0.35' -> (10, 13, 0, 35); a local suffix ('+cu130') and non-numeric tails are dropped."""
    out = []
    for p in str(v).split("+")[0].split("."):
        digits = "".join(c for c in p if c.isdigit())
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def normalize_hardware(value) -> str:
    """False/None/'none' -> 'none'; True/'ampere-plus' -> 'ampere_plus'; 'same-compute-capability'."""
    if value in (None, False, "", "none", "NONE"):
        return "none"
    if value is True:
        return "ampere_plus"
    name = str(value).lower().replace("-", "_")
    aliases = {"same_cc": "same_compute_capability", "ampere": "ampere_plus"}
    name = aliases.get(name, name)
    if name not in HARDWARE_LEVELS:
        raise SpeechoptError(f"unknown hardware compatibility {value!r}; choose none, ampere-plus or same-compute-capability")
    return name


def version_compatible_runs(built: str, runtime: str) -> bool:
    """Can a version-compatible engine built by TensorRT `built` run on TensorRT `runtime`?

    NVIDIA: from 8.6 on, on the same or a later version of the same major, plus two cross-major
    pairs: 8 -> 10 and 10 -> 11. Never on an older runtime.
    """
    b, r = version_tuple(built), version_tuple(runtime)
    if not b or not r or b < (8, 6) or r < b:
        return False
    return b[0] == r[0] or (b[0], r[0]) in {(8, 10), (10, 11)}


def check_engine_compatible(manifest: dict, trt_version: str, gpu_name: str, compute_capability: str) -> None:
    """Raise one line saying to rebuild unless this TensorRT and GPU can run the engine in `manifest`."""
    info = manifest.get("tensorrt") or {}
    name = manifest.get("name", "engine")
    built_v, built_gpu, built_cc = info.get("version"), info.get("gpu"), info.get("compute_capability")
    if not built_v or not built_cc:
        raise SpeechoptError(f"{name}: the manifest does not say which TensorRT version and GPU built this engine; "
                             "rebuild it with `speechopt build`")
    if built_v != trt_version:
        if not info.get("version_compatible"):
            raise SpeechoptError(f"{name}: built with TensorRT {built_v} but TensorRT {trt_version} is installed, and "
                                 "engines run only on the exact version that built them; rebuild it here with "
                                 "`speechopt build` (or build with --version-compatible)")
        if not version_compatible_runs(built_v, trt_version):
            raise SpeechoptError(f"{name}: this version-compatible engine from TensorRT {built_v} cannot run on "
                                 f"TensorRT {trt_version} (only the same or a later version of the same major, or "
                                 "10 -> 11); rebuild it here with `speechopt build`")
    level = info.get("hardware_compatibility", "none")
    here = f"{gpu_name} (compute capability {compute_capability})"
    built = f"{built_gpu} (compute capability {built_cc})"
    if level == "ampere_plus":
        if version_tuple(compute_capability)[:1] < (8,):
            raise SpeechoptError(f"{name}: built for Ampere and newer GPUs but this GPU is {here}; "
                                 "rebuild it here with `speechopt build`")
    elif level == "same_compute_capability":
        if compute_capability != built_cc:
            raise SpeechoptError(f"{name}: built for compute capability {built_cc} GPUs but this GPU is {here}; "
                                 "rebuild it here with `speechopt build`")
    elif compute_capability != built_cc or gpu_name != built_gpu:
        raise SpeechoptError(f"{name}: built on {built} but this GPU is {here}, and TensorRT engines are specific "
                             "to the GPU that built them; rebuild it here with `speechopt build` "
                             "(or build with --hardware-compatible ampere-plus)")


def current_gpu(device_id: int = 0) -> tuple[str, str]:
    """(name, 'major.minor' compute capability) of CUDA device `device_id`, as the engine manifest records them."""
    import torch

    major, minor = torch.cuda.get_device_capability(device_id)
    return torch.cuda.get_device_name(device_id), f"{major}.{minor}"
