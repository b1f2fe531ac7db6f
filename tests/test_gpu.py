"""GPU lane: build TensorRT engines for real, run them, and bench their WER drift (`make test-gpu`).

Every test here skips, with the precise reason, on a machine without a CUDA device or a usable TensorRT
(the reason comes from `torch.cuda.is_available()` and `speechopt.env.tensorrt_status()`, not from an
import attempt: pytest >= 9.2 fails, rather than skips, an `importorskip` of the TensorRT bindings when
their libraries are missing). None of these tests has been run in this repository's CPU-only CI.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

DATA = "zoo:eval"
pytestmark = pytest.mark.gpu


def _cuda_skip_reason() -> str | None:
    import torch

    if torch.cuda.is_available():
        return None
    build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
    return f"no CUDA device: torch {torch.__version__} ({build}) reports torch.cuda.is_available() == False"


@pytest.fixture(scope="module")
def cuda():
    reason = _cuda_skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def trt(cuda):
    from speechopt.env import tensorrt_status

    ok, reason = tensorrt_status()
    if not ok:
        pytest.skip(f"TensorRT unusable here: {reason}")
    import tensorrt

    return tensorrt


def test_env_reports_the_gpu(cuda):
    from speechopt.env import probe_environment

    env = probe_environment()
    assert env["torch"]["cuda_available"] and env["torch"]["devices"]
    major, minor = env["torch"]["devices"][0]["compute_capability"].split(".")
    assert int(major) >= 5 and minor.isdigit()


# ------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def crnn(tmp_path_factory, tiny_models):
    """The bundled CRNN-CTC if the zoo has it (so WER means something), else the tiny untrained one."""
    from speechopt.artifact import load_artifact
    from speechopt.zoo import list_zoo, resolve

    if any(e["name"] == "crnn-ctc" for e in list_zoo()):
        return load_artifact(resolve("zoo:crnn-ctc")), True
    return load_artifact(tiny_models["crnn-ctc"]), False


@pytest.fixture(scope="module")
def onnx_models(trt, crnn, tmp_path_factory):
    """{"fp32": onnx artifact, "fp16": fp16-converted onnx artifact (when the quantize step exists)}."""
    from speechopt.steps.export import export_model

    root = tmp_path_factory.mktemp("onnx")
    out = {"fp32": export_model(crnn[0], "onnx", root / "crnn.onnx", validation_data=DATA, max_validation_utts=8)}
    try:
        from speechopt.steps.quantize import QuantizeSettings, quantize
    except ImportError:
        return out
    out["fp16"] = quantize(out["fp32"], root / "crnn.fp16.onnx", QuantizeSettings(method="fp16"), validation_data=DATA)
    return out


@pytest.fixture(scope="module")
def engine(trt, onnx_models, tmp_path_factory):
    """An fp16 engine from the fp16 ONNX (fp32 if there is no fp16 ONNX), profile from the eval set."""
    from speechopt.steps.build import build_engine

    root = tmp_path_factory.mktemp("engines")
    precision = "fp16" if "fp16" in onnx_models else "fp32"
    return build_engine(onnx_models[precision], root / "crnn.engine", precision=precision, profile_from_data=DATA,
                        batch=(1, 4, 8), timing_cache=root / "timing.cache")


def _features(artifact, n=4):
    from speechopt.audio.features import Frontend, FrontendConfig
    from speechopt.data.manifest import read_manifest
    from speechopt.audio.io import load_utterance_audio
    from speechopt.zoo import resolve

    frontend = Frontend(FrontendConfig.from_dict(artifact.manifest["frontend"]))
    utts = read_manifest(resolve(DATA))[:n]
    audios = load_utterance_audio(utts, frontend.config.sample_rate)
    return frontend, audios


# ---------------------------------------------------------------------------------------------- tests
@pytest.mark.tensorrt
@pytest.mark.slow
def test_engine_manifest_records_what_it_needs(engine, trt):
    import torch

    info = engine.manifest["tensorrt"]
    assert engine.format == "tensorrt" and engine.graph_path().name == "model.engine"
    assert info["version"] == trt.__version__ and info["gpu"] == torch.cuda.get_device_name(0)
    assert info["compute_capability"] == "{}.{}".format(*torch.cuda.get_device_capability(0))
    prof = info["profile"]["features"]
    assert prof["min"][0] == 1 and prof["max"][0] == 8 and prof["min"][1] <= prof["opt"][1] <= prof["max"][1]
    assert info["strongly_typed"] or info["builder_flags"] == ["FP16"]
    assert engine.manifest["lineage"]["parent"]["format"] == "onnx"
    assert info["profiles"] == {"model": info["profile"]}
    for key in ("task", "frontend", "tokenizer", "graphs", "architecture"):
        assert key in engine.manifest
    assert (engine.path.parent / "timing.cache").stat().st_size > 0


@pytest.mark.tensorrt
@pytest.mark.slow
def test_engine_runs_and_matches_pytorch(engine, crnn):
    import torch

    from speechopt.backends.tensorrt.runner import TensorRTRunner
    from speechopt.errors import SpeechoptError
    from speechopt.models.pytorch import load_pytorch_model

    model = load_pytorch_model(crnn[0])
    frontend, audios = _features(crnn[0])
    tol = 0.5 if engine.manifest["precision"] == "fp16" else 1e-2
    with TensorRTRunner(engine, device="tensorrt") as runner:
        for a in audios:  # one at a time, then one padded batch
            feats, frames = frontend.from_arrays([a])
            out = runner.infer({"features": feats.numpy(), "lengths": frames.numpy()})
            runner.synchronize()
            with torch.inference_mode():
                ref_lp, ref_n = model(feats, frames)
            assert np.array_equal(out["out_lengths"], ref_n.numpy())
            n = int(ref_n[0])
            assert out["log_probs"].dtype == np.float32
            assert np.abs(out["log_probs"][0, :n] - ref_lp.numpy()[0, :n]).max() < tol
        feats, frames = frontend.from_arrays(audios[:3])
        out = runner.infer({"features": feats.numpy(), "lengths": frames.numpy()})
        assert out["log_probs"].shape[0] == 3
        too_long = np.zeros((1, engine.manifest["tensorrt"]["profile"]["features"]["max"][1] + 1, feats.shape[2]),
                            dtype=np.float32)
        with pytest.raises(SpeechoptError, match="outside the engine's profile"):
            runner.infer({"features": too_long, "lengths": np.array([too_long.shape[1]])})
        assert runner.describe()["gpu"]


@pytest.mark.tensorrt
@pytest.mark.slow
def test_version_compatible_engine_runs_and_the_timing_cache_is_reused(engine, onnx_models, crnn, tmp_path):
    """A version-compatible plan embeds a lean runtime: the runner must set engine_host_code_allowed to load it.
    The fixture's timing cache (same GPU, same TensorRT) must be accepted as is, not replaced."""
    import torch

    from speechopt.backends.tensorrt.runner import TensorRTRunner
    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.steps.build import build_engine

    cache = engine.path.parent / "timing.cache"
    art = build_engine(onnx_models["fp32"], tmp_path / "vc.engine", precision="fp32", profile_from_data=DATA,
                       batch=(1, 1, 2), timing_cache=cache, version_compatible=True)
    info = art.manifest["tensorrt"]
    assert info["version_compatible"] is True and info["timing_cache_note"] is None
    frontend, audios = _features(crnn[0], n=1)
    feats, frames = frontend.from_arrays(audios)
    with TensorRTRunner(art, device="tensorrt") as runner:
        out = runner.infer({"features": feats.numpy(), "lengths": frames.numpy()})
    with torch.inference_mode():
        ref_lp, ref_n = load_pytorch_model(crnn[0])(feats, frames)
    n = int(ref_n[0])
    assert np.array_equal(out["out_lengths"], ref_n.numpy())
    assert np.abs(out["log_probs"][0, :n] - ref_lp.numpy()[0, :n]).max() < 1e-2


@pytest.mark.tensorrt
def test_engine_from_another_gpu_is_refused(engine, tmp_path):
    from speechopt.artifact import MANIFEST, load_artifact
    from speechopt.backends.tensorrt.runner import TensorRTRunner
    from speechopt.errors import SpeechoptError

    moved = tmp_path / "other.engine"
    shutil.copytree(engine.path, moved)
    manifest = json.loads((moved / MANIFEST).read_text())
    manifest["tensorrt"]["gpu"] = "Some Other GPU"
    (moved / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SpeechoptError, match="rebuild it here"):
        TensorRTRunner(load_artifact(moved), device="tensorrt").activate()


@pytest.mark.tensorrt
@pytest.mark.slow
def test_bench_engine_wer_drift(engine, crnn, tmp_path):
    from typer.testing import CliRunner

    from speechopt.backends import list_backends
    from speechopt.cli import app

    assert ("tensorrt", "tensorrt") in list_backends(), "register TensorRTRunner in speechopt/backends/__init__.py"
    report = tmp_path / "report.json"
    r = CliRunner().invoke(app, ["bench", str(engine.path), "--reference", str(crnn[0].path), "--backend", "tensorrt",
                                 "--data", DATA, "--max-utterances", "40", "--batch-sizes", "1,8",
                                 "--min-seconds", "0.5", "--min-iters", "20", "--json", str(report)])
    assert r.exit_code == 0, r.output
    results = [x for x in json.loads(report.read_text())["results"] if not x["is_reference"]]
    assert len(results) == 1 and results[0]["backend"] == "tensorrt"
    drift = results[0]["wer_drift"]
    assert np.isfinite(drift)
    if crnn[1]:  # a trained model: fp16 TensorRT must not cost more than 2 WER points
        assert abs(drift) <= 0.02, results[0]
        assert results[0]["identical_transcripts"] >= 0.8


@pytest.mark.tensorrt
@pytest.mark.slow
def test_torch_tensorrt_path(trt, crnn, tmp_path):
    import torch

    from speechopt.backends.tensorrt.runner import TensorRTRunner
    from speechopt.env import probe_torch_tensorrt
    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.steps.build import build_engine

    reason = probe_torch_tensorrt()["reason"]
    if reason:
        pytest.skip(f"Torch-TensorRT unusable here: {reason}")
    art = build_engine(crnn[0], tmp_path / "crnn.tt", precision="fp16", profile_from_data=DATA, batch=(1, 2, 4),
                       via="torch-tensorrt")
    info = art.manifest["tensorrt"]["torch_tensorrt"]
    assert art.graph_path().name == "model.ep" and info["tensorrt_subgraphs"] >= 1
    if info["fallback"]:
        assert "LSTM" in info["note"]  # the CRNN's BiLSTM has no converter
    frontend, audios = _features(crnn[0], n=2)
    model = load_pytorch_model(crnn[0])
    with TensorRTRunner(art, device="tensorrt") as runner:
        for a in audios:
            feats, frames = frontend.from_arrays([a])
            out = runner.infer({"features": feats.numpy(), "lengths": frames.numpy()})
            with torch.inference_mode():
                ref_lp, ref_n = model(feats, frames)
            n = int(ref_n[0])
            assert np.abs(out["log_probs"][0, :n] - ref_lp.numpy()[0, :n]).max() < 0.5


@pytest.mark.tensorrt
@pytest.mark.slow
@pytest.mark.parametrize("model", ["zoo:fastspeech", "zoo:tacotron2"])
def test_tts_engines_synthesize_like_eager(trt, model, tmp_path):
    """TTS on TensorRT: export the bundled model, build one engine per graph with the profile from
    zoo:tts-eval, and bench it against eager: the same lengths and MCD below the export tolerance."""
    from speechopt.bench.harness import BenchSettings, bench, summary_rows
    from speechopt.steps.build import build_engine
    from speechopt.steps.export import export_model
    from speechopt.zoo import resolve

    onnx = export_model(str(resolve(model)), "onnx", tmp_path / "m.onnx", validation_data="zoo:tts-eval",
                        max_validation_utts=8)
    engine = build_engine(onnx.path, tmp_path / "m.engine", profile_from_data="zoo:tts-eval")
    assert set(engine.graphs) == set(onnx.graphs) and engine.manifest["tensorrt"]["dims"]["batch"] == [1, 1, 1]
    report = bench([str(engine.path)], str(resolve(model)),
                   BenchSettings(data="zoo:tts-eval", backends=["tensorrt"], batch_sizes=[1], max_utterances=8,
                                 warmup=2, min_iters=8, min_seconds=0.0), log=lambda *_: None)
    row = next(r for r in summary_rows(report) if r["backend"] == "tensorrt")
    assert row["drift"]["mcd"] < 0.5 and row["same_length"] >= 0.875 and row["first_audio_ms"] > 0
