"""Where the time of one WaveNet sample goes in ONNX Runtime: the step graph's nodes by operator type.

    speechopt export zoo:wavenet --to onnx -o wn-onnx
    .venv/bin/python benchmarks/wavenet_step_profile.py --onnx wn-onnx --threads 1 \
        --out benchmarks/results/wavenet-step-profile

The step graph runs once a sample, so its fixed costs are paid 16,000 times a second of audio. This reports,
at batch 1 on the given thread count: the median time of a bare `session.run` of the step (real conditioning
and queue state from a short generation, not zeros); the same for a graph of one Identity node with the same
inputs (the cost of a call that does no arithmetic: argument checks, output allocation, the copy back to
numpy); the nodes of the graph as ONNX Runtime runs it (after its graph optimizations, read from
`optimized_model_filepath`) and the multiply-adds of its matrix products (from their weights' shapes). Their
difference, spread over the nodes, is what a node costs beyond its arithmetic. ONNX Runtime's own profiler
is not used: at a few microseconds a node its per-node overhead is larger than the nodes (a profiled run
took 15x a plain one), so its shares only count nodes. Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path


def _session(path, threads: int, **extra):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # not the warning that a saved optimized graph is CPU-specific
    for k, v in extra.items():
        setattr(options, k, v)
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _median_ms(run, repeats: int, calls: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            run()
        times.append((time.perf_counter() - t0) / calls * 1e3)
    return statistics.median(times)


def _identity_graph(inputs, path: Path) -> None:
    """A graph with the step's inputs whose outputs are the inputs: a call with no arithmetic."""
    import onnx
    from onnx import TensorProto, helper

    types = {"int64": TensorProto.INT64, "float32": TensorProto.FLOAT}
    ins, outs, nodes = [], [], []
    for t in inputs:
        shape = [d if isinstance(d, int) else str(d) for d in t["shape"]]
        ins.append(helper.make_tensor_value_info(t["name"], types[t["dtype"]], shape))
        outs.append(helper.make_tensor_value_info(t["name"] + "_out", types[t["dtype"]], shape))
        nodes.append(helper.make_node("Identity", [t["name"]], [t["name"] + "_out"]))
    model = helper.make_model(helper.make_graph(nodes, "identity", ins, outs),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))


def _real_feeds(artifact) -> dict:
    """Step inputs at sample 2,000 of a generation from a real mel: queues full of real activations."""
    import numpy as np

    from speechopt.tasks import get_task
    from speechopt.zoo import resolve

    task = get_task("vocoder")
    data = task.load_data(artifact, resolve("zoo:tts-eval"), 1)
    driver = task.driver(artifact, threads=1).activate()
    step = driver.runners["step"]
    captured = {}
    original = step.infer

    def spy(feeds):
        captured.update({k: np.array(v) for k, v in feeds.items()})
        return original(feeds)

    step.infer = spy
    driver({"mel": data.mels[0][None, :12], "samples": 2000, "seed": 0, "temperature": 1.0})
    return captured


def _matmul_macs(model) -> int:
    """Multiply-adds of the matrix products at batch 1: the product of each product's weight dimensions."""
    import numpy as np
    from onnx import numpy_helper

    weights = {t.name: numpy_helper.to_array(t).shape for t in model.graph.initializer}
    total = 0
    for n in model.graph.node:
        if n.op_type in ("Gemm", "FusedGemm", "MatMul", "FusedMatMul"):
            total += sum(int(np.prod(weights[i])) for i in n.input[1:2] if i in weights)
    return total


def profile(onnx_dir: str, threads: int, repeats: int, calls: int) -> dict:
    import onnx
    import onnxruntime as ort

    from speechopt.artifact import load_artifact

    artifact = load_artifact(onnx_dir)
    graph = artifact.graph("step")
    path = artifact.graph_path("step")
    feeds = _real_feeds(artifact)
    names = [t["name"] for t in graph["outputs"]]
    with tempfile.TemporaryDirectory() as tmp:
        optimized = Path(tmp) / "optimized.onnx"
        session = _session(path, threads, optimized_model_filepath=str(optimized))
        session.run(names, feeds)
        optimized_model = onnx.load(str(optimized))
        nodes = Counter(n.op_type for n in optimized_model.graph.node)
        step_ms = _median_ms(lambda: session.run(names, feeds), repeats, calls)

        _identity_graph(graph["inputs"], Path(tmp) / "identity.onnx")
        ident = _session(Path(tmp) / "identity.onnx", threads)
        ident_names = [o.name for o in ident.get_outputs()]
        identity_ms = _median_ms(lambda: ident.run(ident_names, feeds), repeats, calls)

    macs = _matmul_macs(optimized_model)
    return {"onnx": str(artifact.path), "threads": threads, "onnxruntime": ort.__version__,
            "step_ms": step_ms, "identity_ms": identity_ms, "nodes": dict(nodes.most_common()),
            "node_count": sum(nodes.values()), "matmul_macs": macs, "repeats": repeats, "calls": calls,
            "us_a_node_beyond_a_call": (step_ms - identity_ms) * 1e3 / max(sum(nodes.values()), 1)}


def to_markdown(r: dict, machine: str, command: str) -> str:
    lines = ["# WaveNet step graph: where one sample's time goes in ONNX Runtime", "",
             f"{machine}, {r['threads']} thread(s), onnxruntime {r['onnxruntime']}; batch 1; medians of "
             f"{r['repeats']} x {r['calls']} calls with the inputs of sample 2,000 of a real generation.", "",
             f"- a bare `session.run` of the step graph: **{r['step_ms'] * 1e3:.1f} us**",
             f"- the same call to a graph of one Identity node a tensor (no arithmetic): {r['identity_ms'] * 1e3:.1f} us",
             f"- nodes ONNX Runtime runs (after its optimizations): {r['node_count']}, so "
             f"**{r['us_a_node_beyond_a_call']:.2f} us a node** beyond the call",
             f"- multiply-adds of its matrix products: {r['matmul_macs']:,} (about "
             f"{r['matmul_macs'] / 1e3 / max(r['step_ms'] * 1e3, 1e-9):.2f} GMAC/s at the measured step time)", "",
             "| operator | nodes |", "|---|---:|"]
    lines += [f"| {op} | {n} |" for op, n in r["nodes"].items()]
    lines += ["", f"Command: `{command}`", ""]
    return "\n".join(lines)


def main() -> None:
    import platform
    import sys


    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--onnx", required=True, help="a WaveNet exported with `speechopt export --to onnx`")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--out", required=True, help="path stem: writes STEM.md and STEM.json")
    a = p.parse_args()
    from speechopt.bench.machine import cpu_label, machine_description

    r = profile(a.onnx, a.threads, a.repeats, a.calls)
    machine = f"{cpu_label(machine_description(a.threads))} ({platform.machine()})"
    command = "benchmarks/wavenet_step_profile.py " + " ".join(sys.argv[1:])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out + ".json").write_text(json.dumps({"machine": machine, **r}, indent=2) + "\n")
    Path(a.out + ".md").write_text(to_markdown(r, machine, command))
    print(Path(a.out + ".md").read_text())


if __name__ == "__main__":
    main()
