"""WaveNet generation on CPU: naive (the receptive field recomputed a sample) vs cached (fast WaveNet queues).

    .venv/bin/python benchmarks/wavenet_generation.py --vocoder zoo:wavenet --seconds 0.25 --repeats 3 \
        --threads 1 --out benchmarks/results/wavenet-generation

For one clip of real audio's mel (the first sentence of zoo:tts-eval, cut to `--seconds`): milliseconds a
sample for naive and cached generation at batch 1, and cached at larger batches (B clips generated
together: the per-step cost is shared, which is how `speechopt eval` vocodes a whole set), medians over
`--repeats`, in one process, one after another. Whether the two give the same samples is checked on the
same clip in float64 (exact) and float32 (a draw can flip where float rounding moves a class boundary).
With `--onnx`, the vocoder task's driver (the loop `speechopt eval` and pipelines use) runs the step graph
through the torch runner and through ONNX Runtime at the same batch sizes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vocoder", default="zoo:wavenet")
    p.add_argument("--data", default="zoo:tts-eval")
    p.add_argument("--seconds", type=float, default=0.25)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batches", default="1,4,16")
    p.add_argument("--onnx", default=None, help="the same WaveNet exported (speechopt export --to onnx): its step "
                   "graph through ONNX Runtime, driven by the vocoder task's loop")
    p.add_argument("--out", required=True, help="path stem: writes STEM.md and STEM.json")
    a = p.parse_args()

    import numpy as np
    import torch

    from speechopt.artifact import load_artifact
    from speechopt.audio.io import load_audio
    from speechopt.audio.mel import MelExtractor
    from speechopt.bench.machine import cpu_label, machine_description
    from speechopt.data.tts_corpus import read_tts_manifest
    from speechopt.models.tts.vocoder import load_vocoder
    from speechopt.zoo import resolve

    torch.set_num_threads(a.threads)
    voc = load_vocoder(load_artifact(resolve(a.vocoder)))
    model, cfg = voc.model, voc.mel_config
    row = read_tts_manifest(resolve(a.data))[0]
    mel = MelExtractor(cfg)(load_audio(row["audio_filepath"], cfg.sample_rate)).float()
    samples = int(a.seconds * cfg.sample_rate)
    frames = samples // cfg.hop_length + 1
    mel = mel[:frames][None]

    def timed(batch: int, cached: bool) -> list[float]:
        m = mel.expand(batch, -1, -1).contiguous()
        model.generate(m, num_samples=min(samples, 400), cached=cached)  # warm-up
        out = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            model.generate(m, num_samples=samples, seed=0, cached=cached)
            out.append((time.perf_counter() - t0) * 1000 / samples)
        return out

    rows = [{"generation": "naive", "batch": 1, "ms_per_step": timed(1, False)}]
    for b in [int(x) for x in a.batches.split(",")]:
        rows.append({"generation": "cached", "batch": b, "ms_per_step": timed(b, True)})
    if a.onnx:
        from speechopt.tasks import get_task

        task = get_task("vocoder")
        for art, label in ((load_artifact(resolve(a.vocoder)), "cached, task driver, torch runner"),
                           (load_artifact(resolve(a.onnx)), "cached, task driver, ONNX Runtime")):
            with task.driver(art, threads=a.threads) as d:
                for b in [int(x) for x in a.batches.split(",")]:
                    m = np.ascontiguousarray(mel.expand(b, -1, -1).numpy())
                    d({"mel": m, "samples": min(samples, 400)})  # warm-up
                    times = []
                    for _ in range(a.repeats):
                        t0 = time.perf_counter()
                        d({"mel": m, "samples": samples, "seed": 0})
                        times.append((time.perf_counter() - t0) * 1000 / samples)
                    rows.append({"generation": label, "batch": b, "ms_per_step": times})
    naive = statistics.median(rows[0]["ms_per_step"])
    for r in rows:
        r["median_ms_per_step"] = statistics.median(r["ms_per_step"])
        r["ms_per_clip_sample"] = r["median_ms_per_step"] / r["batch"]
        r["audio_seconds_per_second"] = 1000.0 / (r["ms_per_clip_sample"] * cfg.sample_rate)
        r["speedup_vs_naive"] = naive / r["ms_per_clip_sample"]

    same64 = bool(torch.equal(model.double().generate(mel.double(), num_samples=samples, seed=3, cached=True),
                              model.generate(mel.double(), num_samples=samples, seed=3, cached=False)))
    model.float()
    f32 = [model.generate(mel, num_samples=samples, seed=3, cached=c) for c in (True, False)]
    agree32 = float((f32[0] == f32[1]).float().mean())
    first_diff = int(np.argmax((f32[0] != f32[1]).numpy()[0])) if agree32 < 1 else None

    machine = machine_description(a.threads)
    result = {"vocoder": str(resolve(a.vocoder)), "checksum": load_artifact(resolve(a.vocoder)).checksum,
              "receptive_field": model.receptive_field, "layers": len(model.dilations), "samples": samples,
              "sample_rate": cfg.sample_rate, "threads": a.threads, "repeats": a.repeats, "machine": machine,
              "rows": rows, "same_samples_float64": same64, "float32_agreement": agree32,
              "float32_first_difference": first_diff, "command": " ".join(sys.argv)}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# WaveNet generation: naive vs cached (fast WaveNet)", "",
             f"Measured {time.strftime('%Y-%m-%d')} with `benchmarks/wavenet_generation.py` on {cpu_label(machine)}, "
             f"{a.threads} thread(s), torch {torch.__version__}; {samples} samples ({a.seconds} s) of the mel of "
             f"`{row['audio_filepath']}`; {len(model.dilations)} layers, receptive field {model.receptive_field} "
             f"samples; medians of {a.repeats} runs.", "",
             "| generation | batch | ms a step | ms a sample of audio | audio s per s | vs naive |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['generation']} | {r['batch']} | {r['median_ms_per_step']:.3f} | "
                     f"{r['ms_per_clip_sample']:.3f} | {r['audio_seconds_per_second']:.4f} | "
                     f"{r['speedup_vs_naive']:.1f}x |")
    lines += ["", f"Same samples, naive vs cached, same seed: float64 {'identical' if same64 else 'DIFFERENT'}; "
              f"float32 {agree32:.1%} identical"
              + (f" (first difference at sample {first_diff}: a draw flipped by float rounding, then the two "
                 "histories differ)" if first_diff is not None else ""), "",
              f"Command: `{result['command']}`", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
