"""Where batch-1 time goes: per-module time of a PyTorch ASR model and per-operator time of ONNX variants.

    .venv/bin/python benchmarks/batch1_profile.py --model zoo:crnn-ctc --onnx DIR [DIR ...] \
        --out benchmarks/results/crnn-ctc-batch1-profile

PyTorch eager: forward hooks time each top-level submodule (conv front end, projection, LSTM, head) over
the same utterances, one at a time; what the hooks do not cover is reported as "rest". ONNX Runtime: the
session's own profiler (`SessionOptions.enable_profiling`), summed by operator type. Both after a warm-up
pass, on the given thread count. Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path



def load_inputs(data: str, frontend_config, n: int):
    from speechopt.audio.features import Frontend
    from speechopt.data.manifest import read_manifest
    from speechopt.audio.io import load_utterance_audio

    frontend = Frontend(frontend_config)
    utts = read_manifest(data)[:n]
    inputs = []
    for audio in load_utterance_audio(utts, frontend.config.sample_rate):
        feats, frames = frontend.from_arrays([audio])
        inputs.append((feats, frames))
    return inputs, sum(u.duration for u in utts)


def profile_eager(model, inputs) -> dict:
    import torch

    spent: dict[str, float] = defaultdict(float)
    starts: dict[str, float] = {}

    def pre(name):
        return lambda *_: starts.__setitem__(name, time.perf_counter())

    def post(name):
        def hook(*_):
            spent[name] += time.perf_counter() - starts[name]
        return hook

    for name, child in model.named_children():
        child.register_forward_pre_hook(pre(name))
        child.register_forward_hook(post(name))
    with torch.inference_mode():
        for feats, frames in inputs:  # warm-up
            model(feats, frames)
        spent.clear()
        t0 = time.perf_counter()
        for feats, frames in inputs:
            model(feats, frames)
        total = time.perf_counter() - t0
    parts = {k: v * 1e3 / len(inputs) for k, v in spent.items()}
    parts["rest"] = total * 1e3 / len(inputs) - sum(parts.values())
    return {"ms_per_utt": total * 1e3 / len(inputs), "parts_ms": parts}


def profile_onnx(path: Path, inputs, threads: int) -> dict:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    feeds = [{"features": f.numpy(), "lengths": n.numpy()} for f, n in inputs]
    plain = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    for feed in feeds:  # warm-up, and the unprofiled time
        plain.run(None, feed)
    t0 = time.perf_counter()
    for feed in feeds:
        plain.run(None, feed)
    total = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "ort")
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        for feed in feeds:
            sess.run(None, feed)
        events = json.loads(Path(sess.end_profiling()).read_text())
    by_op: dict[str, float] = defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] += e["dur"] / 1e3  # microseconds to ms
    parts = {k: v / len(feeds) for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])}
    return {"ms_per_utt": total * 1e3 / len(feeds), "parts_ms": parts}


def main() -> None:
    import torch

    from speechopt.artifact import load_artifact
    from speechopt.bench.machine import cpu_label, machine_description
    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.tasks.asr import frontend_config
    from speechopt.zoo import resolve

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="zoo:crnn-ctc", help="pytorch artifact")
    p.add_argument("--onnx", nargs="*", default=[], help="onnx artifacts (same frontend) to profile by operator")
    p.add_argument("--data", default="zoo:eval")
    p.add_argument("--utterances", type=int, default=160)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, help="output path without suffix")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    ref = load_artifact(resolve(args.model))
    inputs, seconds = load_inputs(str(resolve(args.data)), frontend_config(ref), args.utterances)
    results = {"eager " + ref.name: profile_eager(load_pytorch_model(ref).eval(), inputs)}
    for path in args.onnx:
        art = load_artifact(resolve(path))
        results[f"ort {art.name}"] = profile_onnx(art.graph_path(), inputs, args.threads)

    lines = [f"# Where batch-1 time goes: `{args.model}`", "",
             f"Measured {time.strftime('%Y-%m-%d')} with `benchmarks/batch1_profile.py` on {cpu_label(machine_description(args.threads))}, "
             f"{args.threads} thread(s), torch {torch.__version__}; {len(inputs)} utterances of `{args.data}` "
             f"({seconds / len(inputs):.2f} s mean), one at a time, after a warm-up pass.", ""]
    for label, r in results.items():
        lines += [f"## {label}: {r['ms_per_utt']:.2f} ms per utterance", "", "| part | ms | share |", "|---|---|---|"]
        total = sum(r["parts_ms"].values())  # eager: its "rest" makes this the per-utterance time
        small = {k: v for k, v in r["parts_ms"].items() if v < 0.01 * total}
        for part, ms in r["parts_ms"].items():
            if part not in small:
                lines.append(f"| {part} | {ms:.3f} | {ms / total:.0%} |")
        if small:
            ms = sum(small.values())
            lines.append(f"| {len(small)} other operator types, each under 1% | {ms:.3f} | {ms / total:.0%} |")
        lines.append("")
    lines.append("ONNX Runtime shares are of the time inside operators (the profiler's kernel times); the per-utterance "
                 "figure above them is the unprofiled `run()` time.")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
