"""The benchmark: every artifact on every backend against one reference, each in its own process.

Accuracy is measured one utterance at a time (no padding, identical for reference and variant); drift is
variant minus reference, overall and by utterance length (short / medium / long thirds of the data), plus
the share of identical transcripts and the largest log-prob difference.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from speechopt.errors import SpeechoptError

# User-facing backend names -> runner device. The artifact's format picks the runtime.
BACKENDS = {
    "cpu": "cpu",  # the artifact's own runtime on CPU (PyTorch, TorchScript or ONNX Runtime's CPU provider)
    "onnxruntime": "cpu",  # ONNX Runtime CPU provider; needs an onnx artifact
    "cuda": "cuda",  # PyTorch/TorchScript on CUDA, ONNX Runtime's CUDA provider
    "tensorrt": "tensorrt",  # TensorRT engines, or ONNX Runtime's TensorRT provider
}


@dataclass
class BenchSettings:
    data: str
    backends: list[str] = field(default_factory=lambda: ["cpu"])
    batch_sizes: list[int] = field(default_factory=lambda: [1, 16])
    threads: int | None = None
    warmup: int = 10
    min_iters: int = 100
    min_passes: int = 3
    min_seconds: float = 3.0
    max_utterances: int | None = None


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


def check_compatible(reference, artifact) -> None:
    """A variant is comparable with the reference only if it hears and spells the same way."""
    if artifact.task != reference.task:
        raise SpeechoptError(f"{artifact.path}: task {artifact.task} differs from the reference's ({reference.task})")
    if artifact.manifest.get("frontend") != reference.manifest.get("frontend"):
        raise SpeechoptError(f"{artifact.path}: frontend settings differ from the reference's {reference.path}; "
                             "a drift figure would compare different inputs")
    if artifact.manifest.get("tokenizer") != reference.manifest.get("tokenizer"):
        raise SpeechoptError(f"{artifact.path}: vocabulary differs from the reference's {reference.path}")


def run_worker(cfg: dict, workdir: Path) -> dict:
    n = len(list(workdir.glob("cfg-*.json")))
    cfg_path, out_path = workdir / f"cfg-{n}.json", workdir / f"result-{n}.json"
    cfg = {**cfg, "logits_out": str(workdir / f"logits-{n}.npz")}
    cfg_path.write_text(json.dumps(cfg))
    env = dict(os.environ)
    if cfg.get("threads"):  # one thread setting for every runtime in the process
        env["OMP_NUM_THREADS"] = str(cfg["threads"])
    proc = subprocess.run([sys.executable, "-m", "speechopt.bench.worker", str(cfg_path), str(out_path)],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if out_path.is_file():
        result = json.loads(out_path.read_text())
        if "error" in result:
            raise SpeechoptError(result["error"])
        return result
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    raise RuntimeError(f"benchmark worker for {cfg['artifact']} on {cfg['backend']} died (exit {proc.returncode}): {tail}")


def _load_logits(path: str) -> list[np.ndarray]:
    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


def length_buckets(durations: list[float]) -> dict[str, list[int]]:
    """Utterance indices in thirds by duration: short, medium, long."""
    order = np.argsort(durations, kind="stable")
    thirds = np.array_split(order, 3)
    return {name: sorted(int(i) for i in part) for name, part in zip(("short", "medium", "long"), thirds)}


def accuracy(result: dict, reference: dict) -> dict:
    from speechopt.metrics import error_rates

    refs, hyps, ref_hyps = result["references"], result["hypotheses"], reference["hypotheses"]
    overall = error_rates(refs, hyps)
    ref_overall = error_rates(refs, ref_hyps)
    by_length = {}
    for name, idx in length_buckets(result["durations"]).items():
        if not idx:
            continue
        v = error_rates([refs[i] for i in idx], [hyps[i] for i in idx])["wer"]
        r = error_rates([refs[i] for i in idx], [ref_hyps[i] for i in idx])["wer"]
        by_length[name] = {"wer": v, "reference_wer": r, "wer_drift": v - r,
                           "max_seconds": max(result["durations"][i] for i in idx)}
    logits, ref_logits = _load_logits(result["logits_file"]), _load_logits(reference["logits_file"])
    diffs = [float(np.abs(a - b).max()) for a, b in zip(logits, ref_logits) if a.shape == b.shape]
    identical = sum(h == r for h, r in zip(hyps, ref_hyps)) / len(hyps)
    return {
        "wer": overall["wer"], "cer": overall["cer"],
        "wer_drift": overall["wer"] - ref_overall["wer"],
        "cer_drift": overall["cer"] - ref_overall["cer"],
        "wer_drift_relative": (overall["wer"] - ref_overall["wer"]) / ref_overall["wer"] if ref_overall["wer"] else None,
        "identical_transcripts": identical,
        "max_logit_diff": max(diffs) if len(diffs) == len(logits) else None,
        "drift_by_length": by_length,
        "utterances": overall["utterances"],
    }


def preflight(artifacts, backends: list[str], threads: int | None) -> None:
    """Fail before measuring anything when an artifact has no runner on a backend, or a GPU runtime is missing.

    Without this, a missing GPU surfaced only after the reference had been measured on the CPU. GPU
    runners are activated once here and released (loading a runtime is the only reliable test of it);
    CPU runners are only looked up.
    """
    from speechopt.backends import create_runner

    for art in artifacts:
        for backend in backends:
            runner = create_runner(art, device=BACKENDS[backend], threads=threads)
            if BACKENDS[backend] != "cpu":
                with runner:
                    pass


def artifact_sizes(artifact) -> dict:
    """Sizes belong to the artifact, not to a run: measured once per artifact, not in every worker."""
    return {"size_mb": artifact.size_bytes() / 1e6, "compressed_mb": artifact.compressed_bytes() / 1e6}


def bench(artifacts: list[str], reference: str, settings: BenchSettings, log=print) -> dict:
    """Measure every artifact on every backend, and the reference on cpu; returns the report dict."""
    from speechopt.artifact import load_artifact
    from speechopt.data.manifest import read_manifest

    unknown = [b for b in settings.backends if b not in BACKENDS]
    if unknown:
        raise SpeechoptError(f"unknown backend {unknown[0]!r}; choose from {', '.join(BACKENDS)}")
    if any(b < 1 for b in settings.batch_sizes):
        raise SpeechoptError("batch sizes must be positive")
    ref_art = load_artifact(reference)
    loaded = [load_artifact(a) for a in artifacts]
    for art in loaded:
        check_compatible(ref_art, art)
    utts = read_manifest(settings.data)[: settings.max_utterances]
    from speechopt.text import normalize_text

    if not any(normalize_text(u.text) for u in utts):
        raise SpeechoptError(f"{settings.data}: no usable utterances (no transcript has any words)")
    for b in settings.backends:
        if b == "onnxruntime":
            for art in loaded:
                if art.format != "onnx":
                    raise SpeechoptError(f"{art.path}: backend onnxruntime needs an onnx artifact (this is "
                                         f"{art.format}); export it with `speechopt export --to onnx`")

    preflight(loaded, settings.backends, settings.threads)

    common = {"data": str(settings.data), "batch_sizes": settings.batch_sizes, "threads": settings.threads,
              "warmup": settings.warmup, "min_iters": settings.min_iters, "min_passes": settings.min_passes,
              "min_seconds": settings.min_seconds, "max_utterances": settings.max_utterances}
    with tempfile.TemporaryDirectory(prefix="speechopt-bench-") as tmp:
        workdir = Path(tmp)
        log(f"reference: {ref_art.path} on cpu")
        ref_result = run_worker({**common, "artifact": str(ref_art.path), "backend": "cpu", "device": "cpu"}, workdir)
        ref_result.update(is_reference=True, **artifact_sizes(ref_art))
        results = [ref_result]
        for art in loaded:
            sizes = artifact_sizes(art)
            for backend in settings.backends:
                if art.path.resolve() == ref_art.path.resolve() and backend == "cpu":
                    continue
                log(f"{art.path} on {backend}")
                r = run_worker({**common, "artifact": str(art.path), "backend": backend,
                                "device": BACKENDS[backend]}, workdir)
                r.update(is_reference=False, **sizes)
                results.append(r)
        ref_p50 = ref_result["latency_ms"]["p50"]
        for r in results:
            r.update(accuracy(r, ref_result))
            r["speedup"] = ref_p50 / r["latency_ms"]["p50"] if r["latency_ms"]["p50"] else None
            for bs, t in r["throughput"].items():
                ref_t = ref_result["throughput"].get(bs)
                t["speedup"] = t["utt_per_s"] / ref_t["utt_per_s"] if ref_t else None
        for r in results:  # the logits lived in the temporary folder
            r.pop("logits_file", None)
    machine = machine_description(settings.threads)
    return {
        "machine": machine,
        "settings": {**asdict(settings), "reference": str(ref_art.path),
                     "accuracy_mode": "one utterance at a time (no padding), greedy CTC, same for every variant",
                     "timed_region": "runner.infer + synchronize (features computed beforehand, shared)"},
        "results": results,
        "warnings": slower_than_parent(results, machine),
    }


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
                       and p["backend"] == r["backend"]), None)
        if parent is None:
            continue
        mine, theirs = r["latency_ms"]["p50"], parent["latency_ms"]["p50"]
        if mine > theirs:
            warnings.append(f"{r['name']} ({r['quantization'].get('method')}) is slower than its parent {parent['name']} "
                            f"on {r['backend']}: p50 {mine:.2f} ms vs {theirs:.2f} ms. Likely reason: "
                            f"{likely_reason(r['quantization'], machine)}")
    return warnings


def summary_rows(report: dict) -> list[dict]:
    """One flat row per artifact x backend: the machine-readable fields CI reads."""
    rows = []
    for r in report["results"]:
        big = max((int(b) for b in r["throughput"]), default=None)
        t = r["throughput"].get(str(big)) if big else None
        rows.append({
            "artifact": r["artifact"], "name": r["name"], "format": r["format"], "backend": r["backend"],
            "device": r["device"], "threads": r["threads"], "reference": r["is_reference"],
            "latency_ms": {k: r["latency_ms"][k] for k in ("p50", "p90", "p99")},
            "speedup": r["speedup"],
            "throughput_batch": big, "throughput_utt_s": t["utt_per_s"] if t else None,
            "rtfx": t["rtfx"] if t else r["latency_batch1_rtfx"],
            "size_mb": r["size_mb"], "compressed_mb": r["compressed_mb"], "peak_rss_mb": r["peak_rss_mb"],
            "load_seconds": r["load_seconds"],
            "wer": r["wer"], "cer": r["cer"], "wer_drift": r["wer_drift"], "cer_drift": r["cer_drift"],
            "identical_transcripts": r["identical_transcripts"], "max_logit_diff": r["max_logit_diff"],
            "drift_by_length": {k: v["wer_drift"] for k, v in r["drift_by_length"].items()},
        })
    return rows
