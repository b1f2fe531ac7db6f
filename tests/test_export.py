"""The export step: TorchScript, ONNX and torch.export programs, validated on real utterances."""

from __future__ import annotations

import copy
import tempfile
import warnings

import numpy as np
import pytest

from speechopt.artifact import load_artifact
from speechopt.errors import SpeechoptError
from speechopt.steps import export as export_step
from speechopt.steps.export import export_model

ARCHS = ("cnn-ctc", "lstm-ctc", "crnn-ctc", "separable-ctc")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def exported(tiny_models, tiny_corpus, tmp_path_factory):
    """(arch, format) -> artifact path: every architecture exported to torchscript and onnx (exporter auto)."""
    root = tmp_path_factory.mktemp("exported")
    out = {}
    for arch in ARCHS:
        for to in ("torchscript", "onnx"):
            out[arch, to] = export_model(tiny_models[arch], to, root / f"{arch}.{to}", validation_data=tiny_corpus).path
    return out


def _eager(model, features, lengths):
    import torch

    with torch.inference_mode():
        lp, ol = model(torch.from_numpy(features), torch.from_numpy(lengths))
    return lp.numpy(), ol.numpy()


def _random_batch(batch, frames, seed):
    rng = np.random.default_rng(seed)
    lengths = np.array([frames - 7 * i for i in range(batch)], dtype=np.int64)
    features = rng.standard_normal((batch, frames, 64)).astype(np.float32)
    features *= (np.arange(frames)[None, :] < lengths[:, None])[..., None]
    return features, lengths


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("to", ["torchscript", "onnx"])
def test_export_validates_and_records_lineage(exported, tiny_models, tiny_corpus, arch, to):
    artifact = load_artifact(exported[arch, to])  # verifies every checksum
    source = load_artifact(tiny_models[arch])
    m = artifact.manifest
    assert artifact.format == to
    assert artifact.graph_path().name == {"torchscript": "model.ts", "onnx": "model.onnx"}[to]
    for key in ("task", "architecture", "frontend", "tokenizer"):
        assert m[key] == source.manifest[key]
    for key in ("inputs", "outputs", "dynamic_axes"):
        assert m["graphs"]["model"][key] == source.graphs["model"][key]
    assert m["lineage"]["parent"]["checksum"] == source.checksum
    assert m["lineage"]["step"] == "export" and m["lineage"]["history"] == ["export"]
    assert m["lineage"]["settings"]["to"] == to
    v = m["validation"]
    assert v["passed"] and v["utterances"] == 12 and v["transcripts_equal"] == "12/12"
    assert v["atol"] == 1e-3 and 0 <= v["mean_abs_diff"] <= v["max_abs_diff"] <= 1e-3
    assert v["data"] == str(tiny_corpus)
    assert [(c["batch"], c["frames"]) for c in m["export"]["dynamic_shape_check"]] == [(1, 37), (3, 101), (3, 263)]
    if to == "torchscript":
        assert m["export"]["exporter"] == "torch.jit.trace"
        assert any("deprecated" in n for n in m["notes"])


def test_onnx_exporter_choice_is_recorded(exported):
    exports = {arch: load_artifact(exported[arch, "onnx"]).manifest["export"] for arch in ARCHS}
    # RNN models go straight to the legacy exporter; the CNN keeps dynamo, which works for it.
    assert exports["lstm-ctc"]["exporter"] == exports["crnn-ctc"]["exporter"] == "legacy"
    assert exports["cnn-ctc"]["exporter"] == exports["separable-ctc"]["exporter"] == "dynamo"
    for info in exports.values():
        assert info["fallback"] is False and info["attempts"] == [] and info["requested_exporter"] == "auto"
        assert info["opset"] == 17


@pytest.mark.parametrize("arch", ARCHS)
def test_onnx_runs_unseen_batch_sizes_and_lengths(exported, tiny_models, arch):
    import onnx
    import onnxruntime as ort

    from speechopt.models.pytorch import load_pytorch_model

    path = load_artifact(exported[arch, "onnx"]).graph_path()
    graph = onnx.load(str(path)).graph
    features_dims = graph.input[0].type.tensor_type.shape.dim
    assert features_dims[0].dim_param and features_dims[1].dim_param  # symbolic batch and time, not numbers
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model = load_pytorch_model(load_artifact(tiny_models[arch]))
    for seed, (batch, frames) in enumerate([(1, 29), (4, 77), (5, 333)]):
        features, lengths = _random_batch(batch, frames, seed)
        lp, ol = session.run(None, {"features": features, "lengths": lengths})
        ref_lp, ref_ol = _eager(model, features, lengths)
        assert lp.shape == ref_lp.shape and np.array_equal(ol, ref_ol)
        for i, n in enumerate(ref_ol):
            assert np.abs(lp[i, :n] - ref_lp[i, :n]).max() < 1e-4


def test_exported_program_cnn(tiny_models, tiny_corpus, tmp_path):
    from speechopt.backends import create_runner
    from speechopt.models.pytorch import load_pytorch_model

    artifact = export_model(tiny_models["cnn-ctc"], "exported-program", tmp_path / "cnn.pt2",
                            validation_data=tiny_corpus, max_validation_utts=4)
    artifact = load_artifact(artifact.path)
    assert artifact.graph_path().name == "model.pt2"
    assert artifact.manifest["validation"]["max_abs_diff"] <= 1e-3
    assert artifact.manifest["export"]["weights_only_safe_load"] is False
    model = load_pytorch_model(load_artifact(tiny_models["cnn-ctc"]))
    features, lengths = _random_batch(2, 51, seed=9)
    with create_runner(artifact, "cpu") as runner:
        out = runner.infer({"features": features, "lengths": lengths})
    ref_lp, ref_ol = _eager(model, features, lengths)
    np.testing.assert_allclose(out["log_probs"], ref_lp, atol=1e-5)
    np.testing.assert_array_equal(out["out_lengths"], ref_ol)


def test_a_pt2_with_pickled_payloads_is_refused_before_torch_export_load(tiny_models, tiny_corpus, tmp_path,
                                                                         monkeypatch):
    """torch.export.load unpickles payloads flagged use_pickle: the runner reads the archive first and refuses
    one that has any (unless SPEECHOPT_TRUST_PICKLE=1); what `speechopt export` writes has none."""
    import json
    import zipfile

    import torch

    import speechopt.backends.torch_runner as tr
    from speechopt.backends import create_runner

    art = load_artifact(export_model(tiny_models["cnn-ctc"], "exported-program", tmp_path / "cnn.pt2",
                                     validation_data=tiny_corpus, max_validation_utts=1).path)
    assert tr.pt2_unsafe_members(art.graph_path()) == []
    tampered = tmp_path / "tampered.pt2"
    with zipfile.ZipFile(art.graph_path()) as src, zipfile.ZipFile(tampered, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("_weights_config.json"):
                cfg = json.loads(data)
                first = next(iter(cfg["config"]))
                cfg["config"][first]["use_pickle"] = True
                data = json.dumps(cfg).encode()
            dst.writestr(info, data)
    unsafe = tr.pt2_unsafe_members(tampered)
    assert len(unsafe) == 1 and "weights_config.json" in unsafe[0]
    assert tr.pt2_unsafe_members(tmp_path / "cnn.pt2" / "manifest.json")[0].startswith("the whole file")

    def never(*a, **k):
        raise AssertionError("torch.export.load ran on a refused archive")

    monkeypatch.setattr(tr, "pt2_unsafe_members", lambda path: ["0.weight (data/weights/model_weights_config.json)"])
    monkeypatch.setattr(torch.export, "load", never)
    monkeypatch.delenv(tr.TRUST_PICKLE_ENV, raising=False)
    with pytest.raises(SpeechoptError, match="refusing to load: torch.export.load would unpickle") as e:
        with create_runner(art, "cpu"):
            pass
    assert "\n" not in str(e.value) and "SPEECHOPT_TRUST_PICKLE=1" in str(e.value)


def test_exported_program_lstm_keeps_time_dynamic(tiny_models, tiny_corpus, tmp_path):
    """lstm-ctc folds frame pairs with an explicit length, so torch.export keeps the time axis symbolic."""
    art = export_model(tiny_models["lstm-ctc"], "exported-program", tmp_path / "lstm.pt2", validation_data=tiny_corpus,
                       max_validation_utts=2)
    checks = art.manifest["export"]["dynamic_shape_check"]
    assert {c["batch"] for c in checks} >= {1, 3} and len({c["frames"] for c in checks}) >= 2


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Route tempfile to a folder of our own so a test can see what an export leaves behind."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def test_failed_validation_writes_nothing(tiny_models, tiny_corpus, tmp_path, private_tmp, monkeypatch):
    import torch

    real_export = export_step.exporters.torchscript

    def export_a_different_model(model, *args):
        broken = copy.deepcopy(model)
        with torch.no_grad():
            broken.head.bias[1] += 3.0  # favours one character: log-probs and transcripts change
        return real_export(broken, *args)

    monkeypatch.setattr(export_step.exporters, "torchscript", export_a_different_model)
    # Let the broken model through the random-input shape check so the real-utterance validation judges it.
    monkeypatch.setattr(export_step.validation, "check_dynamic_shapes", lambda *args: [])
    out = tmp_path / "out" / "cnn.ts"
    with pytest.raises(SpeechoptError, match="validation failed") as err:
        export_model(tiny_models["cnn-ctc"], "torchscript", out, validation_data=tiny_corpus, max_validation_utts=3)
    assert "no artifact written" in str(err.value) and "\n" not in str(err.value)
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    assert list(private_tmp.iterdir()) == []


def test_tolerance_is_enforced(tiny_models, tiny_corpus, tmp_path):
    # ONNX Runtime reorders float ops, so an exact-match tolerance cannot hold (diffs are ~1e-7).
    with pytest.raises(SpeechoptError, match=r"atol 1e-12"):
        export_model(tiny_models["lstm-ctc"], "onnx", tmp_path / "x", validation_data=tiny_corpus,
                     atol=1e-12, max_validation_utts=2, exporter="legacy")
    assert not (tmp_path / "x").exists()


def test_frozen_axis_makes_auto_fall_back(tiny_models, tiny_corpus, tmp_path, monkeypatch):
    import torch

    def export_with_static_shapes(model, example, path, opset, *names_and_shapes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, example, str(path), dynamo=False, opset_version=opset,
                              input_names=["features", "lengths"], output_names=["log_probs", "out_lengths"])

    monkeypatch.setattr(export_step.exporters, "onnx_dynamo", export_with_static_shapes)
    artifact = export_model(tiny_models["cnn-ctc"], "onnx", tmp_path / "cnn.onnx", validation_data=tiny_corpus,
                            max_validation_utts=2)
    info = artifact.manifest["export"]
    assert info["exporter"] == "legacy" and info["fallback"] is True
    assert info["attempts"][0]["exporter"] == "dynamo"
    assert "batch 1 x 37 frames" in info["attempts"][0]["error"]

    with pytest.raises(SpeechoptError, match="ONNX export of cnn-ctc failed") as err:
        export_model(tiny_models["cnn-ctc"], "onnx", tmp_path / "again.onnx", validation_data=tiny_corpus,
                     max_validation_utts=2, exporter="dynamo")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "again.onnx").exists()


def test_non_pytorch_source_is_refused(exported, tmp_path):
    with pytest.raises(SpeechoptError, match="export needs a pytorch artifact as source, this one is torchscript"):
        export_model(exported["cnn-ctc", "torchscript"], "onnx", tmp_path / "x")


def test_bad_arguments_fail_before_any_work(tiny_models, exported, tmp_path):
    with pytest.raises(SpeechoptError, match="cannot export to 'tflite'"):
        export_model(tiny_models["cnn-ctc"], "tflite", tmp_path / "x")
    with pytest.raises(SpeechoptError, match="unknown ONNX exporter"):
        export_model(tiny_models["cnn-ctc"], "onnx", tmp_path / "x", exporter="fast")
    with pytest.raises(SpeechoptError, match="already exists"):
        export_model(tiny_models["cnn-ctc"], "torchscript", exported["cnn-ctc", "torchscript"])
    with pytest.raises(SpeechoptError, match="validation manifest not found"):
        export_model(tiny_models["cnn-ctc"], "torchscript", tmp_path / "x", validation_data=tmp_path / "none.jsonl")


def test_overwrite_and_script_mode(tiny_models, tiny_corpus, tmp_path):
    out = tmp_path / "crnn.ts"
    export_model(tiny_models["crnn-ctc"], "torchscript", out, validation_data=tiny_corpus, max_validation_utts=2)
    artifact = export_model(tiny_models["crnn-ctc"], "torchscript", out, mode="script", validation_data=tiny_corpus,
                            max_validation_utts=2, overwrite=True)
    assert load_artifact(out).manifest["export"]["exporter"] == "torch.jit.script"
    assert artifact.manifest["lineage"]["settings"]["mode"] == "script"
