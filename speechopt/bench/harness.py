"""The benchmark: every artifact on every backend against one reference, each in its own process.

What is measured and compared is the task's (`speechopt.tasks`): ASR accuracy one utterance at a time
(no padding, identical for reference and variant), drift as variant minus reference, overall and by
utterance length. This module only orchestrates: validate settings and budgets, check every artifact x
backend can run before measuring anything, run the workers, then let the task score them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

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
    data: str | None  # None: the reference's task's bundled evaluation set (`Task.default_data`)
    backends: list[str] = field(default_factory=lambda: ["cpu"])
    batch_sizes: list[int] = field(default_factory=lambda: [1, 16])
    threads: int | list[int] | None = None  # a list measures every configuration at each thread count
    warmup: int = 10
    min_iters: int = 100
    min_passes: int = 3
    min_seconds: float = 3.0
    max_utterances: int | None = None
    # further sets whose quality (not speed) is measured too: [(label, manifest)], drift keyed METRIC@label
    also_data: list = field(default_factory=list)

    def thread_counts(self) -> list[int | None]:
        """The thread counts to measure at ([None]: the runtimes' defaults)."""
        if isinstance(self.threads, (list, tuple)):
            return [int(t) for t in self.threads]
        return [self.threads]

    def check(self) -> None:
        """Every setting is usable, before any worker starts."""
        unknown = [b for b in self.backends if b not in BACKENDS]
        if unknown:
            raise SpeechoptError(f"unknown backend {unknown[0]!r}; choose from {', '.join(BACKENDS)}")
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise SpeechoptError("batch sizes must be positive")
        counts = self.thread_counts()
        if any(t is not None and t < 1 for t in counts) or not counts:
            raise SpeechoptError(f"threads must be positive integers, got {self.threads}")
        if len(set(counts)) != len(counts):
            raise SpeechoptError(f"thread counts repeat: {self.threads}")
        if self.min_iters < 1 or self.min_passes < 1 or self.warmup < 0 or self.min_seconds < 0:
            raise SpeechoptError("min_iters and min_passes must be at least 1, warmup and min_seconds at least 0")
        if self.max_utterances is not None and self.max_utterances < 1:
            raise SpeechoptError(f"max_utterances must be at least 1, got {self.max_utterances}")
        labels = self.also_labels()
        if len(set(labels)) != len(labels):
            raise SpeechoptError(f"quality sets need distinct names, got {', '.join(labels)}")

    def also_labels(self) -> list[str]:
        return [label for label, _ in self.also_data]


def quality_set(name: str) -> tuple[str, str]:
    """(label, manifest) of a further quality set: zoo:eval-hard is `eval-hard`, a manifest is named by its
    folder, so a budget reads `wer@eval-hard`."""
    from speechopt.zoo import resolve

    path = Path(resolve(name))
    label = name[4:] if name.startswith("zoo:") else (path.parent.name if path.suffix == ".jsonl" else path.name)
    if not path.exists():
        raise SpeechoptError(f"{name}: no such data set")
    return label, str(path)


def run_worker(cfg: dict, workdir: Path) -> dict:
    n = len(list(workdir.glob("cfg-*.json")))
    cfg_path, out_path = workdir / f"cfg-{n}.json", workdir / f"result-{n}.json"
    cfg = {**cfg, "outputs_path": str(workdir / f"outputs-{n}.npz")}
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
    # a crash, not a refusal (refusals come back as {"error"}): one line with the worker's last line
    raise SpeechoptError(f"benchmark worker for {cfg['artifact']} on {cfg['backend']} died (exit {proc.returncode}): "
                         f"{tail}")


def preflight(task, artifacts, backends: list[str], threads: int | None) -> None:
    """Fail before measuring anything when an artifact has no runner on a backend, or a GPU runtime is missing.

    Without this, a missing GPU surfaced only after the reference had been measured on the CPU. GPU
    drivers are activated once here and released (loading a runtime is the only reliable test of it);
    CPU runners are only looked up.
    """
    for art in artifacts:
        for backend in backends:
            if backend == "onnxruntime" and art.format != "onnx":
                raise SpeechoptError(f"{art.path}: backend onnxruntime needs an onnx artifact (this is "
                                     f"{art.format}); export it with `speechopt export --to onnx`")
            driver = task.driver(art, device=BACKENDS[backend], threads=threads)
            if BACKENDS[backend] != "cpu":
                with driver:
                    pass


def artifact_sizes(artifact) -> dict:
    """Sizes belong to the artifact, not to a run: measured once per artifact, not in every worker."""
    return {"size_mb": artifact.size_bytes() / 1e6, "compressed_mb": artifact.compressed_bytes() / 1e6}


def bench(artifacts: list[str], reference: str, settings: BenchSettings, budgets=None, log=print,
          labels: dict | None = None) -> dict:
    """Measure every artifact on every backend, and the reference on cpu; returns the report dict.

    `budgets` (speechopt.bench.budgets.Budgets) are checked against the task's metrics before anything
    is measured; the report's `breaches` lists what broke them (None without budgets). `labels` maps an
    artifact path to the name its rows (and breach lines) carry, e.g. a recipe's step ids.
    """
    from speechopt.artifact import load_artifact
    from speechopt.bench.budgets import check_budgets
    from speechopt.bench.machine import machine_description
    from speechopt.bench.warnings import noisy_timings, slower_than_parent
    from speechopt.tasks import task_of

    settings.check()
    ref_art = load_artifact(reference)
    task = task_of(ref_art)
    if task.bench_unsupported:
        raise SpeechoptError(f"{ref_art.path}: {task.bench_unsupported}")
    if budgets is not None:
        budgets.check_metrics(task.metrics, settings.also_labels())
    if settings.data is None:
        from speechopt.zoo import resolve

        # a copy: the caller's settings must not keep this reference's default for another bench
        settings = replace(settings, data=str(resolve(task.default_data)))
    loaded = [load_artifact(a) for a in artifacts]
    for art in loaded:
        task.check_compatible(ref_art, art)
    task.check_data(ref_art, settings.data, settings.max_utterances)
    for _, manifest in settings.also_data:
        task.check_data(ref_art, manifest, settings.max_utterances)
    preflight(task, loaded, settings.backends, settings.threads)

    counts = settings.thread_counts()
    common = {"data": str(settings.data), "batch_sizes": settings.batch_sizes,
              "warmup": settings.warmup, "min_iters": settings.min_iters, "min_passes": settings.min_passes,
              "min_seconds": settings.min_seconds, "max_utterances": settings.max_utterances,
              "also_data": [list(a) for a in settings.also_data]}
    with tempfile.TemporaryDirectory(prefix="speechopt-bench-") as tmp:
        workdir = Path(tmp)
        results, refs = [], {}
        for threads in counts:  # every configuration at one thread count, then the next
            at = f" at {threads} thread{'s' if threads != 1 else ''}" if len(counts) > 1 else ""
            log(f"reference: {ref_art.path} on cpu{at}")
            ref_result = run_worker({**common, "threads": threads, "artifact": str(ref_art.path), "backend": "cpu",
                                     "device": "cpu"}, workdir)
            ref_result.update(is_reference=True, **artifact_sizes(ref_art))
            refs[threads] = ref_result
            results.append(ref_result)
            for art in loaded:
                sizes = artifact_sizes(art)
                for backend in settings.backends:
                    if art.path.resolve() == ref_art.path.resolve() and backend == "cpu":
                        continue
                    log(f"{art.path} on {backend}{at}")
                    r = run_worker({**common, "threads": threads, "artifact": str(art.path), "backend": backend,
                                    "device": BACKENDS[backend]}, workdir)
                    r.update(is_reference=False, **sizes)
                    results.append(r)
        for r in results:  # ratios against the reference at the same thread count
            ref_result = refs[r.get("threads")]
            ref_p50 = ref_result["latency_ms"]["p50"]
            r.update(task.accuracy(r, ref_result))
            r["speedup"] = ref_p50 / r["latency_ms"]["p50"] if r["latency_ms"]["p50"] else None
            for bs, t in r["throughput"].items():
                ref_t = ref_result["throughput"].get(bs)
                t["speedup"] = t["utt_per_s"] / ref_t["utt_per_s"] if ref_t else None
        also_accuracy(task, results, refs)
        best_vs_best(results)
        if any(r.get("gflops") for r in results):  # the distance to this machine's fp32 matrix-multiply rate
            from speechopt.bench.machine import sgemm_peak_gflops

            peaks = {t: sgemm_peak_gflops(t) for t in counts}
            for r in results:
                peak = peaks.get(r.get("threads"))
                r["sgemm_gflops"] = peak
                r["sgemm_fraction"] = r["gflops"] / peak if r.get("gflops") and peak else None
        for r in results:
            media = task.media(r)  # what the HTML report plays, read while the outputs still exist
            if media:
                r["media"] = media
        for r in results:  # the outputs lived in the temporary folder
            r.pop("outputs_file", None)
            for sub in (r.get("also") or {}).values():
                sub.pop("outputs_file", None)
    named = {Path(p).resolve(): label for p, label in (labels or {}).items()}
    for r in results:
        r["name"] = named.get(Path(r["artifact"]).resolve(), r["name"])
    machine = machine_description(counts[0] if len(counts) == 1 else ",".join(str(t) for t in counts))
    report = {
        "task": task.name,
        "machine": machine,
        "settings": {**asdict(settings), "reference": str(ref_art.path), "accuracy_mode": task.accuracy_mode,
                     "timed_region": "the task's driver call + synchronize (inputs prepared beforehand, shared)"},
        "results": results,
        "warnings": slower_than_parent(results, machine) + noisy_timings(results),
    }
    report["breaches"] = check_budgets(summary_rows(report), budgets, task.metrics) if budgets and budgets.any() else None
    return report


def also_accuracy(task, results: list[dict], refs: dict) -> None:
    """Quality on each further set against the reference's on it (same thread count); its drifts join the
    row's as METRIC@label, which budgets and reports read like the main set's."""
    scored = [{label: task.accuracy(sub, refs[r.get("threads")]["also"][label])
               for label, sub in (r.get("also") or {}).items()} for r in results]
    for r, also in zip(results, scored):  # after every row is scored: the reference's raw records are read above
        for label, acc in also.items():
            acc.pop("hypotheses", None)
            r["drift"].update({f"{k}@{label}": v for k, v in acc["drift"].items()})
        if also:
            r["also"] = also


def best_vs_best(results: list[dict]) -> None:
    """With several thread counts: each configuration (artifact x backend) at its own fastest thread count
    against the reference at its own (`best_speedup`, `best_threads`: what a user deploying each gets), beside
    the same-threads `speedup`. One thread count: the two are the same."""
    def key(r):
        return (str(Path(r["artifact"]).resolve()), r["backend"], r.get("is_reference", False))

    fastest: dict = {}
    for r in results:
        p50 = r["latency_ms"]["p50"]
        if p50 and (key(r) not in fastest or p50 < fastest[key(r)]["latency_ms"]["p50"]):
            fastest[key(r)] = r
    ref = next((f for k, f in fastest.items() if k[2]), None)
    for r in results:
        best = fastest.get(key(r))
        r["best_threads"] = best.get("threads") if best else None
        r["best_speedup"] = (ref["latency_ms"]["p50"] / best["latency_ms"]["p50"]) if best and ref else None


def summary_rows(report: dict) -> list[dict]:
    """One flat row per artifact x backend: the machine-readable fields CI reads (the task adds its own)."""
    from speechopt.tasks import get_task

    task = get_task(report.get("task", "asr"))
    rows = []
    for r in report["results"]:
        big = max((int(b) for b in r["throughput"]), default=None)
        t = r["throughput"].get(str(big)) if big else None
        rows.append({
            "artifact": r["artifact"], "name": r["name"], "format": r["format"], "backend": r["backend"],
            "device": r["device"], "threads": r["threads"], "reference": r["is_reference"],
            "latency_ms": {k: r["latency_ms"][k] for k in ("p50", "p90", "p99")},
            "speedup": r["speedup"], "best_speedup": r.get("best_speedup"), "best_threads": r.get("best_threads"),
            "noisy": r.get("noisy", False),
            "throughput_batch": big, "throughput_utt_s": t["utt_per_s"] if t else None,
            "rtfx": t["rtfx"] if t else r["latency_batch1_rtfx"],
            "size_mb": r["size_mb"], "compressed_mb": r["compressed_mb"], "peak_rss_mb": r["peak_rss_mb"],
            "load_seconds": r["load_seconds"],
            "gflops": r.get("gflops"), "sgemm_gflops": r.get("sgemm_gflops"), "sgemm_fraction": r.get("sgemm_fraction"),
            **task.summary(r),
            "also": {label: task.summary(sub) for label, sub in (r.get("also") or {}).items()},
        })
    return rows
