import json

import pytest
import torch

from speechopt.artifact import load_artifact, write_artifact
from speechopt.errors import SpeechoptError
from speechopt.models.pytorch import load_pytorch_model
from speechopt.tasks.asr import frontend_config


def test_pytorch_artifact_round_trip(tiny_models, tiny_corpus):
    from speechopt.audio.features import Frontend

    for name, path in tiny_models.items():
        art = load_artifact(path)
        assert art.task == "asr" and art.format == "pytorch"
        assert art.architecture["name"] == name
        assert list(art.graphs) == ["model"] and art.graph()["file"] == "model.safetensors"
        assert art.graph("model")["inputs"][0]["shape"] == ["batch", "frames", 64]
        assert art.graph()["dynamic_axes"]["features"] == {"0": "batch", "1": "frames"}
        assert set(art.manifest["versions"]) >= {"python", "torch", "numpy"}
        assert len(art.checksum) == 64
        model = load_pytorch_model(art)
        feats, frames = Frontend(frontend_config(art)).from_arrays([torch.randn(4000).numpy() * 0.1])
        lp, ol = model(feats, frames)
        assert lp.shape[0] == 1 and int(ol[0]) == (int(frames[0]) - 1) // 2 + 1


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_tampered_and_truncated_files_are_refused(tiny_models, tmp_path):
    art = _copy(tiny_models["cnn-ctc"], tmp_path / "a")
    weights = art / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(SpeechoptError, match="checksum mismatch"):
        load_artifact(art)
    weights.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(SpeechoptError, match="checksum mismatch"):
        load_artifact(art)
    weights.unlink()
    with pytest.raises(SpeechoptError, match="missing"):
        load_artifact(art)


def test_not_an_artifact(tmp_path):
    with pytest.raises(SpeechoptError, match="not found"):
        load_artifact(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpeechoptError, match="no manifest.json"):
        load_artifact(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{oops")
    with pytest.raises(SpeechoptError, match="corrupt manifest"):
        load_artifact(tmp_path / "bad")


def test_corrupt_weights_with_matching_manifest(tiny_models, tmp_path):
    """A manifest rewritten to match garbage weights still cannot unpickle or load anything."""
    from speechopt.io import sha256_file

    art = _copy(tiny_models["cnn-ctc"], tmp_path / "a")
    (art / "model.safetensors").write_bytes(b"\x80\x04garbage pickle")
    m = json.loads((art / "manifest.json").read_text())
    m["files"]["model.safetensors"].update(sha256=sha256_file(art / "model.safetensors"),
                                       bytes=(art / "model.safetensors").stat().st_size)
    (art / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(SpeechoptError, match="cannot read weights"):
        load_pytorch_model(load_artifact(art))


def test_failed_write_leaves_nothing(tmp_path):
    def boom(path):
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_artifact(tmp_path / "out", {"task": "asr", "format": "onnx"}, {"model.onnx": boom})
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(tmp_path):
    spec = {"task": "asr", "format": "onnx"}
    write_artifact(tmp_path / "out", spec, {"m.onnx": lambda p: p.write_text("1")})
    with pytest.raises(SpeechoptError, match="already exists"):
        write_artifact(tmp_path / "out", spec, {"m.onnx": lambda p: p.write_text("2")})
    a = write_artifact(tmp_path / "out", spec, {"m.onnx": lambda p: p.write_text("2")}, overwrite=True)
    assert (a.path / "m.onnx").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_lineage_records_parent(tiny_models, tmp_path):
    parent = load_artifact(tiny_models["cnn-ctc"])
    child = write_artifact(tmp_path / "c", {"task": "asr", "format": "onnx"}, {"m.onnx": lambda p: p.write_text("x")},
                           parent=parent, step="export", settings={"opset": 17})
    lineage = load_artifact(child.path).manifest["lineage"]
    assert lineage["parent"]["checksum"] == parent.checksum
    assert lineage["step"] == "export" and lineage["settings"] == {"opset": 17}


def test_compressed_size_sees_zeros_that_disk_size_does_not(tmp_path):
    import os

    spec = {"task": "asr", "format": "onnx"}
    zeros = write_artifact(tmp_path / "zeros", spec, {"m.onnx": lambda p: p.write_bytes(bytes(1 << 20))})
    noise = write_artifact(tmp_path / "noise", spec, {"m.onnx": lambda p: p.write_bytes(os.urandom(1 << 20))})
    assert zeros.size_bytes() == noise.size_bytes() == 1 << 20
    assert zeros.compressed_bytes() < 0.01 * zeros.size_bytes()
    assert noise.compressed_bytes() > 0.99 * noise.size_bytes()


def _rewrite(art, edit):
    m = json.loads((art / "manifest.json").read_text())
    edit(m)
    (art / "manifest.json").write_text(json.dumps(m))


def test_schema1_manifest_loads_as_one_graph(tiny_models, tmp_path):
    """Manifests written before named graphs (one `signature`, the file by role) still load and run."""
    art = _copy(tiny_models["crnn-ctc"], tmp_path / "old")

    def to_schema1(m):
        graph = m.pop("graphs")["model"]
        m["signature"] = {"inputs": graph["inputs"], "outputs": graph["outputs"]}
        m["files"]["model.safetensors"]["role"] = "model"
        m["schema"] = 1

    _rewrite(art, to_schema1)
    old = load_artifact(art)
    assert old.graph()["file"] == "model.safetensors" and old.graph()["dynamic_axes"]["log_probs"] == {
        "0": "batch", "1": "out_frames"}
    assert old.checksum == load_artifact(tiny_models["crnn-ctc"]).checksum  # the same files, the same address
    load_pytorch_model(old)


def test_file_names_outside_the_artifact_are_refused(tiny_models, tmp_path):
    """A manifest naming "../outside.bin" (with a matching checksum) must not be read at all."""
    from speechopt.io import sha256_file

    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"not yours")
    art = _copy(tiny_models["cnn-ctc"], tmp_path / "a")
    _rewrite(art, lambda m: m["files"].update({"../outside.bin": {
        "sha256": sha256_file(outside), "bytes": outside.stat().st_size, "role": "model"}}))
    with pytest.raises(SpeechoptError, match="not a plain file name inside the artifact"):
        load_artifact(art)
    art2 = _copy(tiny_models["cnn-ctc"], tmp_path / "b")
    _rewrite(art2, lambda m: m["graphs"]["model"].update(file="other.safetensors"))
    with pytest.raises(SpeechoptError, match="which the manifest does not list"):
        load_artifact(art2)


def test_symlinked_files_are_refused(tiny_models, tmp_path):
    art = _copy(tiny_models["cnn-ctc"], tmp_path / "a")
    real = tmp_path / "elsewhere.safetensors"
    (art / "model.safetensors").rename(real)
    (art / "model.safetensors").symlink_to(real)
    with pytest.raises(SpeechoptError, match="symbolic link"):
        load_artifact(art)


def test_writer_refuses_graphs_without_files(tmp_path):
    from speechopt.artifact import graph_entry

    spec = {"task": "asr", "format": "onnx", "graphs": {"enc": graph_entry("enc.onnx", [], [])}}
    with pytest.raises(ValueError, match="not written"):
        write_artifact(tmp_path / "x", spec, {"other.onnx": lambda p: p.write_text("1")})
    with pytest.raises(SpeechoptError, match="not a plain file name"):
        write_artifact(tmp_path / "y", {"task": "asr", "format": "onnx"}, {"../z.onnx": lambda p: p.write_text("1")})


def test_pipeline_references_components_by_checksum(tiny_models, tmp_path):
    parts = {role: _copy(tiny_models[arch], tmp_path / role) for role, arch in (("acoustic", "cnn-ctc"),
                                                                                 ("vocoder", "lstm-ctc"))}
    refs = {role: {"path": str(p), "checksum": load_artifact(p).checksum} for role, p in parts.items()}
    pipe = write_artifact(tmp_path / "pipe", {"task": "tts", "format": "pipeline", "components": refs}, {})
    loaded = load_artifact(pipe.path)
    assert loaded.component("vocoder").architecture["name"] == "lstm-ctc"
    assert loaded.checksum != write_artifact(tmp_path / "pipe2", {"task": "tts", "format": "pipeline",
                                                                   "components": {"acoustic": refs["acoustic"]}},
                                             {}).checksum
    with pytest.raises(SpeechoptError, match="no component 'postnet'"):
        loaded.component("postnet")
    # the vocoder is replaced by another model: the pipeline refuses it instead of running a mismatch
    import shutil

    shutil.rmtree(parts["vocoder"])
    _copy(tiny_models["crnn-ctc"], parts["vocoder"])
    with pytest.raises(SpeechoptError, match="not the vocoder this pipeline was made with"):
        loaded.component("vocoder")
