"""Checks of an exported graph before anything is written: shapes it never saw, against the eager module.

A frozen dynamic axis (the exporter specialised batch or time to the example's size) fails here, not in
production. Real-data validation of the whole artifact is the task's (`task.validate_export`).
"""

from __future__ import annotations

import numpy as np

from speechopt.errors import SpeechoptError, first_line


def eager_outputs(module, inputs: dict, input_names: list[str], output_names: list[str]) -> dict:
    import torch

    args = [torch.from_numpy(np.ascontiguousarray(inputs[n])) for n in input_names]
    # no_grad, not inference_mode: a scripted module (Tacotron 2's in-graph loop) run after its ONNX export
    # fails under inference_mode ("Inference tensors cannot be saved for backward")
    with torch.no_grad():
        out = module(*args)
    if isinstance(out, torch.Tensor):
        out = (out,)
    return {name: o.numpy() for name, o in zip(output_names, out)}


def check_dynamic_shapes(module, config, graph: str, candidate, atol: float, threads=None) -> list[dict]:
    """Run the exported `graph` of `candidate` on inputs of shapes never seen at export; compare with eager."""
    from speechopt.backends import create_runner

    results = []
    with create_runner(candidate, "cpu", threads=threads, graph=graph) as runner:
        for inputs in config.check_inputs(graph):
            ref = eager_outputs(module, inputs, runner.input_names, runner.output_names)
            try:
                out = runner.infer(inputs)
            except Exception as exc:  # a frozen axis surfaces as the runtime's own shape error
                raise SpeechoptError(f"exported model fails on {config.describe(graph, inputs)}, a shape not seen at export "
                                     f"({first_line(exc)})") from None
            diff = config.compare(graph, inputs, ref, out)
            if not diff <= atol:
                raise SpeechoptError(f"exported model differs by {diff:.3g} (atol {atol:g}) on {config.describe(graph, inputs)}, "
                                     "a shape not seen at export")
            results.append({**config.check_record(graph, inputs), "max_abs_diff": diff})
    return results
