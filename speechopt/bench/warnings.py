"""Warnings a bench report carries: quantized-but-slower variants (with the likely reason) and timings
too noisy for their ratios to be trusted."""

from __future__ import annotations

def likely_reason(quantization: dict, machine: dict) -> str:
    """Why a quantized model can run slower than its float parent, from what was quantized and the CPU."""
    isa = set(machine.get("isa") or [])
    method = quantization.get("method")
    if method == "fp16":
        return "fp16 has no fast kernels on CPU providers (casts around every converted op); fp16 is for GPU backends"
    if "Conv" in (quantization.get("op_types") or []) and not isa & {"avx512_vnni", "avx_vnni", "amx_int8"}:
        return ("convolutions became ConvInteger, which is slow on a CPU without VNNI (this one: "
                f"{', '.join(sorted(isa)) or 'unknown ISA'}); quantize MatMul/LSTM only")
    if method == "static":
        return ("QDQ models are meant for TensorRT and other QDQ-aware runtimes; on CPU the Quantize/Dequantize "
                "pairs around each op can cost more than int8 saves")
    if "torch.ao" in str(quantization.get("engine", "")):
        return "torch.ao dynamic int8 quantizes activations on every call; small layers lose more than they gain"
    return "int8 kernels gain little over fp32 on this CPU at this size; per-call quantization overhead dominates"


def slower_than_parent(results: list[dict], machine: dict) -> list[str]:
    """'Quantized but slower' warnings: a quantized variant slower than its parent on the same backend."""
    warnings = []
    for r in results:
        if not r.get("quantization"):
            continue
        parent = next((p for p in results if p.get("checksum") == r.get("parent_checksum")
                       and p["backend"] == r["backend"] and p.get("threads") == r.get("threads")), None)
        if parent is None:
            continue
        mine, theirs = r["latency_ms"]["p50"], parent["latency_ms"]["p50"]
        if mine > theirs:
            t = r.get("threads")
            at = f" at {t} thread{'s' if t != 1 else ''}" if t else ""
            warnings.append(f"{r['name']} ({r['quantization'].get('method')}) is slower than its parent {parent['name']} "
                            f"on {r['backend']}{at}: p50 {mine:.2f} ms vs {theirs:.2f} ms. Likely reason: "
                            f"{likely_reason(r['quantization'], machine)}")
    return warnings


# Timings are normalized by each item's audio duration (call k timed item k % n), so that the spread left
# is noise rather than the mix of short and long utterances. On a quiet machine the slowest percent of
# calls ran within about 2x of the median rate; a run past these bounds had the CPU taken from it.
NOISY_P90 = 1.6
NOISY_P99 = 3.0


def timing_spread(result: dict) -> dict | None:
    """p90 and p99 over p50 of the per-call time per audio second, or None without durations."""
    import numpy as np

    seconds, durations = result.get("latency_seconds") or [], result.get("durations") or []
    if not seconds or not durations:
        return None
    rate = np.array([t / max(durations[k % len(durations)], 1e-3) for k, t in enumerate(seconds)])
    p50 = float(np.percentile(rate, 50)) or 1e-12
    return {"p90_over_p50": float(np.percentile(rate, 90)) / p50, "p99_over_p50": float(np.percentile(rate, 99)) / p50}


def noisy_timings(results: list[dict]) -> list[str]:
    """A warning for every result whose timings spread too far for its ratios to be trusted (and a
    `noisy` flag on it, for the JSON)."""
    warnings = []
    for r in results:
        spread = timing_spread(r)
        r["timing_spread"] = spread
        r["noisy"] = bool(spread) and (spread["p90_over_p50"] > NOISY_P90 or spread["p99_over_p50"] > NOISY_P99)
        if r["noisy"]:
            p = r["latency_ms"]
            warnings.append(f"{r['name']} on {r['backend']}: timings are noisy (p50 {p['p50']:.2f} ms, p99 "
                            f"{p['p99']:.2f} ms; per audio second the slowest 1% ran {spread['p99_over_p50']:.1f}x "
                            "the median), so its speedup is unreliable: rerun with a longer --min-seconds, fewer "
                            "--threads, or on a quiet machine")
    return warnings
