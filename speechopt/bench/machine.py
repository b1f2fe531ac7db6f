"""The machine a bench ran on: CPU (with family/model/stepping), ISA extensions, cores, library versions."""

from __future__ import annotations

import os
import platform

# Virtual machines often mask the name ("AMD EPYC"); family/model/stepping still tell the generation apart
# (family 23 model 1 is Zen 1), and int8 speed differs a lot between generations.
CPUINFO_KEYS = {"model name": "cpu", "cpu family": "cpu_family", "model": "cpu_model", "stepping": "cpu_stepping"}


def machine_description(threads: int | None) -> dict:
    import importlib.metadata as md

    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "threads": threads}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = (part.strip() for part in line.partition(":"))
                if key in CPUINFO_KEYS:
                    info[CPUINFO_KEYS[key]] = value
                elif key == "flags":  # the last field of the first processor's block
                    flags = set(value.split())
                    info["isa"] = [x for x in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if x in flags]
                    break
    except OSError:
        pass
    for pkg in ("torch", "onnxruntime", "onnxruntime-gpu", "tensorrt"):
        try:
            info[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return info


def cpu_label(machine: dict) -> str:
    """One line naming the CPU for a report: its name plus family/model/stepping when known."""
    label = machine.get("cpu") or machine.get("processor") or "unknown CPU"
    if "cpu_family" in machine:
        label += (f" (family {machine['cpu_family']} model {machine.get('cpu_model', '?')}"
                  f" stepping {machine.get('cpu_stepping', '?')})")
    return label
