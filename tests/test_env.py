"""The environment probe: runs anywhere, never raises, and says precisely why a GPU runtime is missing."""

import json
import sys
import time

import pytest
from typer.testing import CliRunner

from speechopt.env import (
    format_environment,
    probe_environment,
    probe_provider,
    tensorrt_status,
    torch_tensorrt_pairing,
)


def test_probe_has_every_section_and_is_json():
    env = probe_environment()
    assert set(env) >= {"python", "torch", "onnxruntime", "tensorrt", "torch_tensorrt", "tensorrt_usable"}
    assert set(env["torch"]) >= {"version", "cuda_build", "cuda_available", "devices", "reason"}
    assert set(env["onnxruntime"]) >= {"version", "compiled_providers", "providers"}
    assert set(env["onnxruntime"]["providers"]) == {"CUDAExecutionProvider", "TensorrtExecutionProvider"}
    json.dumps(env)  # JSON-ready
    # Whatever is missing comes with a reason, never a bare False.
    for key in ("tensorrt", "torch_tensorrt"):
        assert env[key]["version"] is not None or env[key]["reason"]
    usable = env["tensorrt_usable"]
    assert isinstance(usable["ok"], bool) and usable["reason"]
    if not env["torch"]["cuda_available"]:
        assert env["torch"]["reason"]
        assert usable["ok"] is False


def test_tensorrt_missing_is_reported_with_its_reason():
    env = probe_environment()
    if env["tensorrt"]["version"] is not None:
        pytest.skip(f"tensorrt {env['tensorrt']['version']} is installed here")
    assert env["tensorrt"]["reason"] == "the tensorrt package is not installed"
    ok, reason = tensorrt_status()
    assert not ok and "tensorrt" in reason and "\n" not in reason


@pytest.fixture
def fake_tensorrt(tmp_path, monkeypatch):
    """Install a fake `tensorrt` package whose __init__ is the given source."""

    def make(source: str):
        pkg = tmp_path / "tensorrt"
        pkg.mkdir()
        (pkg / "__init__.py").write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.delitem(sys.modules, "tensorrt", raising=False)

    yield make
    sys.modules.pop("tensorrt", None)


def test_broken_bindings_report_the_loader_error(fake_tensorrt):
    # What the real bindings wheel does when the libs wheel is missing.
    fake_tensorrt("raise ImportError('libnvonnxparser.so.11: cannot open shared object file: No such file')\n")
    ok, reason = tensorrt_status()
    assert not ok
    assert reason == ("tensorrt is installed but does not import "
                      "(ImportError: libnvonnxparser.so.11: cannot open shared object file: No such file)")


def test_tensorrt_without_cuda_names_the_missing_device(fake_tensorrt):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    fake_tensorrt("__version__ = '11.4.0.106'\n")
    ok, reason = tensorrt_status()
    assert not ok
    assert ("CPU-only build" in reason) if torch.version.cuda is None else ("sees no CUDA device" in reason)


def test_provider_probe_sees_through_silent_cpu_fallback():
    ort = pytest.importorskip("onnxruntime")
    from speechopt.env import _identity_model_bytes

    model = _identity_model_bytes()
    assert probe_provider(ort, "CPUExecutionProvider", model) == {"loads": True, "reason": None}
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider; its fallback path is not what is tested here")
    # ORT warns and runs on CPU: the probe must report that, not "loads".
    result = probe_provider(ort, "CUDAExecutionProvider", model)
    assert result["loads"] is False
    assert "CPUExecutionProvider" in result["reason"] and "\n" not in result["reason"]


def test_torch_tensorrt_pairing():
    assert torch_tensorrt_pairing("2.13.0+cpu", "2.13.1") is None
    assert torch_tensorrt_pairing("2.14.1+cu130", "2.14.0") is None
    msg = torch_tensorrt_pairing("2.13.0", "2.14.0")
    assert "needs torch 2.14.x" in msg and "torch-tensorrt 2.13.x" in msg


def test_format_lists_gpu_devices_and_usable_tensorrt():
    env = {
        "python": "3.11.7", "platform": "Linux",
        "torch": {"version": "2.14.1+cu130", "cuda_build": "13.0", "cuda_available": True, "reason": None,
                  "devices": [{"index": 0, "name": "NVIDIA L4", "compute_capability": "8.9", "memory_gb": 22.0}]},
        "onnxruntime": {"version": "1.31.1", "packages": {"onnxruntime-gpu": "1.31.1"},
                        "compiled_providers": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
                        "providers": {"CUDAExecutionProvider": {"compiled": True, "loads": True, "reason": None},
                                      "TensorrtExecutionProvider": {"compiled": True, "loads": False,
                                                                    "reason": "libnvinfer.so.10: cannot open"}}},
        "tensorrt": {"version": "11.1.0.106", "reason": None},
        "torch_tensorrt": {"version": "2.14.0", "reason": None},
        "tensorrt_usable": {"ok": True, "reason": "TensorRT 11.1.0.106 on NVIDIA L4"},
    }
    text = "\n".join(format_environment(env))
    assert "NVIDIA L4, compute capability 8.9" in text
    assert "CUDAExecutionProvider      loads" in text
    assert "unusable: libnvinfer.so.10: cannot open" in text
    assert "TensorRT builds yes: TensorRT 11.1.0.106 on NVIDIA L4" in text
    assert "to enable" not in text


def _app():
    from speechopt.cli import app

    return app


def test_env_command_text_and_json():
    runner = CliRunner()
    r = runner.invoke(_app(), ["env"])
    assert r.exit_code == 0, r.output
    assert "onnxruntime" in r.stdout and "TensorRT builds" in r.stdout
    t0 = time.perf_counter()
    r = runner.invoke(_app(), ["env", "--json"])
    assert r.exit_code == 0, r.output
    env = json.loads(r.stdout)  # nothing but JSON on stdout (ORT's fallback chatter is captured)
    assert env["python"] and "tensorrt_usable" in env
    assert time.perf_counter() - t0 < 20
