"""One measured configuration (artifact x device), run in its own process.

`python -m speechopt.bench.worker CONFIG.json RESULT.json`: a fresh process per configuration, so that
one runtime's threads, caches and memory cannot disturb another's figures, and peak RSS is its own.
Inputs are prepared by the task before timing (ASR: audio loading and features), the same for every
variant; the timed region is the task's driver call (ASR: `runner.infer()`) + `synchronize()` only.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from speechopt.errors import SpeechoptError


def peak_rss_mb() -> float:
    """Peak resident memory of this process (model, runtime, data), in MB.

    VmHWM belongs to the address space made at exec; getrusage's ru_maxrss would carry over the peak of
    the parent that forked this worker (Linux keeps it across execve), hiding the worker's own figure.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_config(cfg: dict) -> dict:
    """Measure one artifact on one backend through its task: the same inference path as `speechopt eval`."""
    from speechopt.artifact import load_artifact
    from speechopt.bench.timing import measure
    from speechopt.tasks import task_of
    from speechopt.tasks.base import length_sorted_batches

    artifact = load_artifact(cfg["artifact"])
    task = task_of(artifact)
    data = task.load_data(artifact, cfg["data"], max_items=cfg.get("max_utterances"), progress="loading audio")
    driver = task.driver(artifact, device=cfg["device"], threads=cfg.get("threads"))
    t0 = time.perf_counter()
    driver.activate()
    load_seconds = time.perf_counter() - t0
    try:
        # Accuracy: one item at a time (no padding reaches a bidirectional RNN), the same for reference
        # and variant, and the same path as `speechopt eval`.
        outputs = task.run(driver, data, batch_size=1, progress=False)
        driver.synchronize()

        def one(i):
            driver(data.items[i])
            driver.synchronize()

        latency = measure(one, len(data), warmup=cfg["warmup"], min_iters=cfg["min_iters"],
                          min_seconds=cfg["min_seconds"])

        macs = task.macs(artifact, data)  # per item, counted from the layer shapes (None: no figure)
        gflops = None
        if macs:  # the timed calls cycle over the items: item i % n
            done = sum(macs[i % len(macs)] for i in range(len(latency.seconds)))
            gflops = 2.0 * done / sum(latency.seconds) / 1e9

        first_audio = None
        if task.streams:  # time to first audio: the first chunk through the vocoder (the task says how)
            def first(i):
                task.first_audio(artifact, driver, data.items[i], cfg.get("threads"))
                driver.synchronize()

            first_audio = measure(first, len(data), warmup=min(cfg["warmup"], len(data)), min_iters=cfg["min_iters"],
                                  min_seconds=cfg["min_seconds"]).percentiles_ms()

        throughput = {}
        for bs in cfg["batch_sizes"]:
            if bs == 1:
                continue
            batches = [data.batch(idx) for idx in length_sorted_batches(data.lengths, bs)]

            def one_pass(_):
                for b in batches:
                    driver(b)
                driver.synchronize()

            passes = measure(one_pass, 1, warmup=1, min_iters=cfg["min_passes"], min_seconds=cfg["min_seconds"])
            median = float(np.median(passes.seconds))
            throughput[str(bs)] = {
                "pass_seconds": passes.seconds,
                "utt_per_s": len(data) / median,
                "rtfx": sum(data.durations) / median,
            }
        also = {}  # further sets: quality only, the same one-at-a-time path as the main set
        for k, (label, manifest) in enumerate(cfg.get("also_data") or []):
            extra = task.load_data(artifact, manifest, max_items=cfg.get("max_utterances"), progress=False)
            also[label] = task.record(artifact, task.run(driver, extra, batch_size=1, progress=False), extra,
                                      cfg["outputs_path"].replace(".npz", f"-also{k}.npz"))
        description = driver.describe()
    finally:
        driver.deactivate()

    record = task.record(artifact, outputs, data, cfg["outputs_path"])
    percentiles = latency.percentiles_ms()
    return {
        "artifact": str(artifact.path),
        "name": artifact.name,
        "task": artifact.task,
        "checksum": artifact.checksum,
        "parent_checksum": ((artifact.manifest.get("lineage") or {}).get("parent") or {}).get("checksum"),
        "quantization": artifact.manifest.get("quantization"),
        "format": artifact.format,
        "backend": cfg["backend"],
        "device": cfg["device"],
        "threads": cfg.get("threads"),
        "runner": description,
        "load_seconds": load_seconds,
        "latency_ms": percentiles,
        "latency_seconds": latency.seconds,
        "latency_batch1_rtfx": sum(data.durations) / len(data) / (percentiles["mean"] / 1000.0),
        "first_audio_ms": first_audio,
        "macs_per_item": float(np.mean(macs)) if macs else None,
        "gflops": gflops,  # achieved at batch 1: 2 x multiply-adds / time
        "throughput": throughput,
        "peak_rss_mb": peak_rss_mb(),
        **record,
        **({"also": also} if also else {}),
    }


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(argv[0]).read_text())
    try:
        result = run_config(cfg)
    except SpeechoptError as exc:
        result = {"error": str(exc), "exit_code": exc.exit_code}
    Path(argv[1]).write_text(json.dumps(result))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
