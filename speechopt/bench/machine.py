"""The machine a bench ran on: CPU (with family/model/stepping), ISA extensions, cores, library versions."""

from __future__ import annotations

import os
import platform

from speechopt.env import cpu_flags

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
                    break
    except OSError:
        pass
    flags = cpu_flags()
    if flags:
        info["isa"] = [x for x in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if x in flags]
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


def sgemm_peak_gflops(threads: int | None, n: int = 1024, repeats: int = 5) -> float:
    """This machine's fp32 matrix-multiply rate at `threads` (torch.mm of two n x n matrices, the best of
    `repeats` after a warm-up): the ceiling a bench's achieved GFLOP/s is read against."""
    import time

    import torch

    from speechopt.threads import torch_threads

    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    with torch_threads(threads):
        torch.mm(a, b)
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9
