"""Runners: same outputs as the eager model, honest device errors, ONNX Runtime provider options."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from speechopt.artifact import load_artifact
from speechopt.backends import create_runner, list_backends
from speechopt.backends.onnxrt import check_providers, provider_options, trt_profile_shapes
from speechopt.errors import BackendUnavailable, SpeechoptError
from speechopt.steps.export import export_model
from speechopt.tasks.asr import frontend_config

# The 10 ms log-mel default: 0.16 s to 30 s, tuned for batch 8 of 10 s utterances.
DEFAULT_TRT_PROFILE = {"min": {"batch": 1, "frames": 16}, "opt": {"batch": 8, "frames": 1000},
                       "max": {"batch": 32, "frames": 3000}}


def asr_graph(n_features: int, vocab_size: int) -> dict:
    from speechopt.models.asr_export import CtcExportConfig

    inputs, outputs = CtcExportConfig({"architecture": {"config": {"n_features": n_features,
                                                                   "vocab_size": vocab_size}}}).graphs()["model"]
    return {"inputs": inputs, "outputs": outputs}

ARCHS = ("cnn-ctc", "lstm-ctc", "crnn-ctc")


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def artifacts(tiny_models, tiny_corpus, tmp_path_factory):
    """(arch, format) -> Artifact for pytorch, torchscript and onnx (legacy exporter: the fast one)."""
    root = tmp_path_factory.mktemp("runners")
    out = {}
    for arch in ARCHS:
        out[arch, "pytorch"] = load_artifact(tiny_models[arch])
        for to in ("torchscript", "onnx"):
            out[arch, to] = export_model(tiny_models[arch], to, root / f"{arch}.{to}", exporter="legacy",
                                         validation_data=tiny_corpus, max_validation_utts=2)
    return out


@pytest.fixture(scope="module")
def speech_batch(tiny_corpus, tiny_models):
    """Features of 4 real utterances, padded into one batch."""
    from speechopt.audio.features import Frontend
    from speechopt.data.manifest import read_manifest
    from speechopt.audio.io import load_utterance_audio

    artifact = load_artifact(tiny_models["cnn-ctc"])
    frontend = Frontend(frontend_config(artifact))
    audios = load_utterance_audio(read_manifest(tiny_corpus)[:4], frontend.config.sample_rate)
    feats, frames = frontend.from_arrays(audios)
    return feats.numpy(), frames.numpy()


def _eager(artifact, features, lengths):
    import torch

    from speechopt.models.pytorch import load_pytorch_model

    with torch.inference_mode():
        lp, ol = load_pytorch_model(artifact)(torch.from_numpy(features), torch.from_numpy(lengths))
    return lp.numpy(), ol.numpy()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("fmt", ["pytorch", "torchscript", "onnx"])
def test_runner_matches_eager_model(artifacts, speech_batch, arch, fmt):
    features, lengths = speech_batch
    ref_lp, ref_ol = _eager(artifacts[arch, "pytorch"], features, lengths)
    with create_runner(artifacts[arch, fmt], "cpu", threads=1) as runner:
        out = runner.infer({"features": features, "lengths": lengths})
        info = runner.describe()
    assert list(out) == ["log_probs", "out_lengths"]
    assert out["log_probs"].dtype == np.float32 and out["log_probs"].shape == ref_lp.shape
    np.testing.assert_array_equal(out["out_lengths"], ref_ol)
    for i, n in enumerate(ref_ol):
        np.testing.assert_allclose(out["log_probs"][i, :n], ref_lp[i, :n], atol=1e-5)
    assert info["device"] == "cpu"
    if fmt == "onnx":
        assert info["providers"] == ["CPUExecutionProvider"] and info["intra_op_threads"] == 1
    else:
        assert info["intra_op_threads"] == 1


def test_runner_lifecycle_and_inputs(artifacts, speech_batch):
    runner = create_runner(artifacts["cnn-ctc", "onnx"], "cpu")
    with pytest.raises(RuntimeError, match="before activate"):
        runner.infer({})
    with runner:
        with pytest.raises(SpeechoptError, match="missing inputs"):
            runner.infer({"features": speech_batch[0]})
        # int32 lengths are cast to the signature's int64 rather than failing inside the runtime
        out = runner.infer({"features": speech_batch[0], "lengths": speech_batch[1].astype(np.int32)})
        assert out["out_lengths"].dtype == np.int64
        runner.synchronize()
    assert not runner.active


@pytest.mark.parametrize("fmt", ["pytorch", "torchscript"])
def test_torch_cuda_unavailable_is_one_line(artifacts, fmt):
    if _cuda_available():
        pytest.skip("this machine has a CUDA device")
    runner = create_runner(artifacts["cnn-ctc", fmt], "cuda")
    with pytest.raises(BackendUnavailable) as err:
        runner.activate()
    message = str(err.value)
    assert "\n" not in message and "no CUDA device" in message
    assert "CUDA build of torch" in message and "NVIDIA GPU" in message
    assert not runner.active


@pytest.mark.parametrize("device", ["cuda", "tensorrt"])
def test_onnxruntime_gpu_unavailable_is_one_line(artifacts, device):
    import onnxruntime as ort

    provider = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}[device]
    if provider in ort.get_available_providers():
        pytest.skip(f"this onnxruntime has {provider}; the fallback check is unit-tested below")
    with pytest.raises(BackendUnavailable) as err:
        create_runner(artifacts["cnn-ctc", "onnx"], device).activate()
    message = str(err.value)
    assert "\n" not in message
    assert provider in message and "CPUExecutionProvider" in message  # what was asked, what there is
    assert "pip install 'speechopt[gpu]'" in message


def test_silent_cpu_fallback_is_refused():
    # onnxruntime-gpu lists CUDA as available without a GPU, then quietly runs the session on CPU.
    available = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    check_providers("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"], available)
    with pytest.raises(BackendUnavailable, match="fell back to CPUExecutionProvider") as err:
        check_providers("cuda", ["CPUExecutionProvider"], available)
    assert "speechopt[gpu]" in str(err.value)
    with pytest.raises(BackendUnavailable, match="fell back to CUDAExecutionProvider"):
        check_providers("tensorrt", ["CUDAExecutionProvider", "CPUExecutionProvider"], available)
    check_providers("cpu", ["CPUExecutionProvider"], ["CPUExecutionProvider"])


def test_missing_onnxruntime_is_one_line(artifacts, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` raise ImportError
    with pytest.raises(BackendUnavailable, match=r"onnxruntime is not installed; pip install 'speechopt\[onnx\]'"):
        create_runner(artifacts["cnn-ctc", "onnx"], "cpu").activate()


def test_provider_options():
    assert provider_options("cpu") == [("CPUExecutionProvider", {})]
    assert provider_options("cuda", device_id=1) == [("CUDAExecutionProvider", {"device_id": 1}),
                                                    ("CPUExecutionProvider", {})]
    shapes = trt_profile_shapes(asr_graph(64, 29), DEFAULT_TRT_PROFILE)
    assert shapes == {
        "trt_profile_min_shapes": "features:1x16x64,lengths:1",
        "trt_profile_opt_shapes": "features:8x1000x64,lengths:8",
        "trt_profile_max_shapes": "features:32x3000x64,lengths:32",
    }
    providers = provider_options("tensorrt", device_id=0, fp16=True, engine_cache_path="/cache/x",
                                 profile_shapes=shapes)
    assert [name for name, _ in providers] == ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                               "CPUExecutionProvider"]
    trt = providers[0][1]
    assert trt["device_id"] == 0 and trt["trt_fp16_enable"] is True
    assert trt["trt_engine_cache_enable"] is True and trt["trt_engine_cache_path"] == "/cache/x"
    assert trt["trt_profile_opt_shapes"] == "features:8x1000x64,lengths:8"
    assert provider_options("tensorrt")[0][1] == {"device_id": 0, "trt_fp16_enable": False,
                                                  "trt_engine_cache_enable": False}
    with pytest.raises(SpeechoptError, match="not 'tpu'"):
        provider_options("tpu")


def test_trt_profile_needs_every_dynamic_dimension():
    profile = {kind: {"batch": 1} for kind in ("min", "opt", "max")}
    with pytest.raises(SpeechoptError, match="no min size for dimension 'frames'"):
        trt_profile_shapes(asr_graph(64, 29), profile)
    custom = {**DEFAULT_TRT_PROFILE, "max": {"batch": 4, "frames": 500}}
    assert trt_profile_shapes(asr_graph(80, 29), custom)["trt_profile_max_shapes"] == "features:4x500x80,lengths:4"


def test_runners_are_registered_without_importing_runtimes():
    backends = set(list_backends())
    for pair in [("pytorch", "cpu"), ("pytorch", "cuda"), ("torchscript", "cpu"), ("exported-program", "cpu"),
                 ("onnx", "cpu"), ("onnx", "cuda"), ("onnx", "tensorrt")]:
        assert pair in backends
    code = "import sys, speechopt.backends; print(sorted({'torch', 'onnx', 'onnxruntime'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_unknown_device_is_refused(artifacts):
    with pytest.raises(SpeechoptError, match="no runner for a onnx artifact on tpu"):
        create_runner(artifacts["cnn-ctc", "onnx"], "tpu")


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA device; none here")
@pytest.mark.parametrize("fmt", ["pytorch", "torchscript"])
def test_torch_runner_on_cuda_matches_cpu(artifacts, speech_batch, fmt):
    features, lengths = speech_batch
    artifact = artifacts["cnn-ctc", fmt]
    with create_runner(artifact, "cpu") as cpu, create_runner(artifact, "cuda") as gpu:
        ref = cpu.infer({"features": features, "lengths": lengths})
        out = gpu.infer({"features": features, "lengths": lengths})
        gpu.synchronize()
    np.testing.assert_allclose(out["log_probs"], ref["log_probs"], atol=1e-4)


def test_default_trt_profile_is_in_the_models_frames():
    from speechopt.audio.features import FrontendConfig
    from speechopt.tasks.asr.task import default_trt_profile

    assert default_trt_profile(FrontendConfig()) == DEFAULT_TRT_PROFILE  # 10 ms log-mel frames
    waveform = default_trt_profile(FrontendConfig(kind="waveform"))  # one frame per sample (wav2vec2)
    assert [waveform[k]["frames"] for k in ("min", "opt", "max")] == [2560, 160000, 480000]
    assert trt_profile_shapes(asr_graph(1, 32), waveform)["trt_profile_max_shapes"] == "features:32x480000x1,lengths:32"
