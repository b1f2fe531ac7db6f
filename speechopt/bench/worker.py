"""One measured configuration (artifact x device), run in its own process.

`python -m speechopt.bench.worker CONFIG.json RESULT.json`: a fresh process per configuration, so that
one runtime's threads, caches and memory cannot disturb another's figures, and peak RSS is its own.
Audio loading and feature extraction happen before timing and are the same for every variant; the
timed region is `runner.infer()` + `runner.synchronize()` only.
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
    from speechopt.artifact import load_artifact
    from speechopt.audio.features import Frontend
    from speechopt.backends import create_runner
    from speechopt.bench.timing import measure
    from speechopt.data.manifest import read_manifest
    from speechopt.decode import ctc_greedy
    from speechopt.evaluate import length_sorted_batches, load_utterance_audio

    artifact = load_artifact(cfg["artifact"])
    frontend = Frontend(artifact.frontend())
    tokenizer = artifact.tokenizer()
    utts = read_manifest(cfg["data"])[: cfg.get("max_utterances")]
    audios = load_utterance_audio(utts, frontend.config.sample_rate, progress="loading audio")
    durations = [len(a) / frontend.config.sample_rate for a in audios]
    single = []
    for a in audios:
        feats, frames = frontend.from_arrays([a])
        single.append({"features": feats.numpy(), "lengths": frames.numpy()})

    runner = create_runner(artifact, device=cfg["device"], threads=cfg.get("threads"))
    t0 = time.perf_counter()
    runner.activate()
    load_seconds = time.perf_counter() - t0
    try:
        # Accuracy: one utterance at a time, so no padding reaches a bidirectional RNN; the same for
        # reference and variant.
        hyps, logits = [], []
        for inputs in single:
            out = runner.infer(inputs)
            lp, n = out["log_probs"], out["out_lengths"]
            hyps.append(ctc_greedy(lp, n, tokenizer)[0])
            logits.append(np.asarray(lp[0, : int(n[0])], dtype=np.float32))
        runner.synchronize()

        def one(i):
            runner.infer(single[i])
            runner.synchronize()

        latency = measure(one, len(single), warmup=cfg["warmup"], min_iters=cfg["min_iters"],
                          min_seconds=cfg["min_seconds"])

        throughput = {}
        for bs in cfg["batch_sizes"]:
            if bs == 1:
                continue
            batches = []
            for idx in length_sorted_batches([len(a) for a in audios], bs):
                feats, frames = frontend.from_arrays([audios[i] for i in idx])
                batches.append({"features": feats.numpy(), "lengths": frames.numpy()})

            def one_pass(_):
                for b in batches:
                    runner.infer(b)
                runner.synchronize()

            passes = measure(one_pass, 1, warmup=1, min_iters=cfg["min_passes"], min_seconds=cfg["min_seconds"])
            median = float(np.median(passes.seconds))
            throughput[str(bs)] = {
                "pass_seconds": passes.seconds,
                "utt_per_s": len(audios) / median,
                "rtfx": sum(durations) / median,
            }
        description = runner.describe()
    finally:
        runner.deactivate()

    np.savez_compressed(cfg["logits_out"], *logits)
    percentiles = latency.percentiles_ms()
    return {
        "artifact": str(artifact.path),
        "name": artifact.name,
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
        "latency_batch1_rtfx": sum(durations) / len(durations) / (percentiles["mean"] / 1000.0),
        "throughput": throughput,
        "peak_rss_mb": peak_rss_mb(),
        "hypotheses": hyps,
        "references": [u.text for u in utts],
        "durations": durations,
        "logits_file": cfg["logits_out"],
    }


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(argv[0]).read_text())
    if cfg.get("threads"):
        import torch

        torch.set_num_threads(int(cfg["threads"]))
    try:
        result = run_config(cfg)
    except SpeechoptError as exc:
        result = {"error": str(exc), "exit_code": exc.exit_code}
    Path(argv[1]).write_text(json.dumps(result))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
