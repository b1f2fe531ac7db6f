"""The generic path on an artifact of two graphs: an encoder, then a step graph with explicit state, driven
by a loop that the task owns and every backend shares (the shape Tacotron 2 takes next).

A toy architecture, export config and task are registered the way real ones are; nothing here knows
about ASR.
"""

from __future__ import annotations

import numpy as np
import pytest

from speechopt.artifact import load_artifact
from speechopt.errors import SpeechoptError
from speechopt.models.export_config import ExportConfig, tensor
from speechopt.models.registry import Architecture, register_architecture
from speechopt.tasks import register_task
from speechopt.tasks.base import Driver, Task

VOCAB, DIM, OUT, STEPS = 12, 16, 4, 6
TOY_DATA = __file__  # the toy task draws its token sequences itself; export only checks the path exists


def toy_model(vocab=VOCAB, dim=DIM, out=OUT):
    """Built in a function, so that importing this module does not import torch."""
    import torch
    from torch import nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, dim)
            self.enc = nn.Linear(dim, dim)
            self.cell = nn.GRUCell(out + dim, dim)
            self.proj = nn.Linear(dim, out)

        def encode(self, tokens):
            return torch.tanh(self.enc(self.embed(tokens)))

        def step(self, prev_frame, state, memory):
            weights = torch.softmax((memory @ state.unsqueeze(-1)).squeeze(-1), dim=-1)
            context = (weights.unsqueeze(-1) * memory).sum(1)
            new_state = self.cell(torch.cat([prev_frame, context], -1), state)
            return self.proj(new_state), new_state, weights

    return Model()


class ToyExportConfig(ExportConfig):
    def graphs(self):
        return {
            "encoder": ([tensor("tokens", "int64", "batch", "text")],
                        [tensor("memory", "float32", "batch", "text", DIM)]),
            "step": ([tensor("prev_frame", "float32", "batch", OUT), tensor("state", "float32", "batch", DIM),
                      tensor("memory", "float32", "batch", "text", DIM)],
                     [tensor("frame", "float32", "batch", OUT), tensor("new_state", "float32", "batch", DIM),
                      tensor("weights", "float32", "batch", "text")]),
        }

    def modules(self, model):
        from torch import nn

        class Encoder(nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, tokens):
                return self.m.encode(tokens)

        class Step(nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, prev_frame, state, memory):
                return self.m.step(prev_frame, state, memory)

        return {"encoder": Encoder(model), "step": Step(model)}

    def _inputs(self, graph, batch, text, seed):
        rng = np.random.default_rng(seed)
        if graph == "encoder":
            return {"tokens": rng.integers(0, VOCAB, (batch, text)).astype(np.int64)}
        return {"prev_frame": rng.standard_normal((batch, OUT)).astype(np.float32),
                "state": rng.standard_normal((batch, DIM)).astype(np.float32),
                "memory": rng.standard_normal((batch, text, DIM)).astype(np.float32)}

    def example_inputs(self, graph):
        import torch

        return tuple(torch.from_numpy(v) for v in self._inputs(graph, 2, 7, 0).values())

    def check_inputs(self, graph):
        return [self._inputs(graph, b, t, s) for s, (b, t) in enumerate([(1, 3), (3, 11)])]

    def onnx_exporters(self, model):
        return ["legacy"], "toy"


class ToyDriver(Driver):
    """Encoder once, then STEPS calls of the step graph, state fed back: the loop is the same on every backend."""

    def __call__(self, inputs):
        memory = self.runners["encoder"].infer({"tokens": inputs["tokens"]})["memory"]
        batch = memory.shape[0]
        frame, state = np.zeros((batch, OUT), np.float32), np.zeros((batch, DIM), np.float32)
        frames = []
        for _ in range(STEPS):
            out = self.runners["step"].infer({"prev_frame": frame, "state": state, "memory": memory})
            frame, state = out["frame"], out["new_state"]
            frames.append(frame)
        return {"frames": np.stack(frames, 1)}


class ToyTask(Task):
    name = "toy"

    def driver(self, artifact, device="cpu", threads=None):
        return ToyDriver(artifact, device, threads)

    def load_data(self, artifact, manifest, max_items=None, progress=None):
        rng = np.random.default_rng(1)
        return [{"tokens": rng.integers(0, VOCAB, (1, n)).astype(np.int64)} for n in (3, 9, 5)][:max_items]

    def run(self, driver, data, batch_size=1, progress=None):
        return [driver(item)["frames"] for item in data]

    def validate_export(self, source, candidate, data, atol, threads=None):
        with self.driver(source, threads=threads) as ref, self.driver(candidate, threads=threads) as out:
            diff = max(float(np.abs(a - b).max()) for a, b in zip(self.run(ref, data), self.run(out, data)))
        if not diff <= atol:
            raise SpeechoptError(f"validation failed: frames differ by {diff:.3g}; no artifact written")
        return {"passed": True, "max_abs_diff": diff}


@pytest.fixture(scope="module")
def toy_artifact(tmp_path_factory):
    import torch

    from speechopt.models.pytorch import save_pytorch_artifact

    register_architecture(Architecture("toy-seq2seq", "toy", f"{__name__}:toy_model", {}, "two-graph toy",
                                       export=f"{__name__}:ToyExportConfig"))
    register_task("toy", ToyTask())
    torch.manual_seed(0)
    return save_pytorch_artifact(tmp_path_factory.mktemp("toy") / "pt", toy_model().eval(), "toy-seq2seq", {}, {})


def test_pytorch_artifact_has_two_graphs_in_one_file(toy_artifact):
    art = load_artifact(toy_artifact.path)
    assert list(art.graphs) == ["encoder", "step"]
    assert {g["file"] for g in art.graphs.values()} == {"model.safetensors"}
    assert art.graph("step")["dynamic_axes"]["memory"] == {"0": "batch", "1": "text"}
    with pytest.raises(SpeechoptError, match="has graphs encoder, step; name one"):
        art.graph()


def test_loop_over_two_graphs_matches_on_pytorch_and_onnxruntime(toy_artifact, tmp_path, one_thread):
    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.steps.export import export_model
    from speechopt.tasks import get_task

    task = get_task("toy")
    data = task.load_data(toy_artifact, None)
    onnx = export_model(toy_artifact.path, "onnx", tmp_path / "onnx", validation_data=TOY_DATA, atol=1e-5)
    assert sorted(onnx.manifest["files"]) == ["encoder.onnx", "step.onnx"]
    assert onnx.manifest["export"]["graphs"]["step"]["exporter"] == "legacy"
    assert onnx.manifest["validation"]["passed"]
    with task.driver(toy_artifact) as eager, task.driver(load_artifact(onnx.path)) as ort:
        assert {r.backend for r in ort.runners.values()} == {"onnxruntime"}
        torch_frames, ort_frames = task.run(eager, data), task.run(ort, data)

    # the reference: the model's own methods, looped in torch, outside every runner
    import torch

    model = load_pytorch_model(toy_artifact)
    for item, a, b in zip(data, torch_frames, ort_frames):
        with torch.inference_mode():
            memory = model.encode(torch.from_numpy(item["tokens"]))
            frame, state = torch.zeros(1, OUT), torch.zeros(1, DIM)
            frames = []
            for _ in range(STEPS):
                frame, state, _ = model.step(frame, state, memory)
                frames.append(frame)
        expected = torch.stack(frames, 1).numpy()
        assert a.shape == (1, STEPS, OUT)
        np.testing.assert_allclose(a, expected, atol=1e-6)
        np.testing.assert_allclose(b, expected, atol=1e-5)


def test_a_frozen_axis_in_one_graph_fails_the_export(toy_artifact, tmp_path, monkeypatch, one_thread):
    """The step graph exported with a static text length fails on shapes it never saw; nothing is written."""
    from speechopt.steps import export as export_step

    real = export_step.exporters.onnx_legacy

    def static_step(module, example, path, opset, names, dynamic_axes):
        if "prev_frame" in names[0]:
            dynamic_axes = {}
        return real(module, example, path, opset, names, dynamic_axes)

    monkeypatch.setattr(export_step.exporters, "onnx_legacy", static_step)
    with pytest.raises(SpeechoptError, match="ONNX export of toy-seq2seq failed.*a shape not seen at export"):
        export_step.export_model(toy_artifact.path, "onnx", tmp_path / "x", validation_data=TOY_DATA)
    assert not (tmp_path / "x").exists()
