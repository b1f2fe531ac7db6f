"""TensorRT build step, GPU-free lane: the pure logic for real, and clean one-line failures without a GPU.

Nothing here proves that TensorRT builds or runs an engine (that is tests/test_gpu.py, on a GPU machine).
"""

import time
from pathlib import Path

import numpy as np
import pytest
from conftest import one_error_line
from typer.testing import CliRunner

from speechopt.artifact import MAIN_GRAPH, graph_entry, load_artifact, write_artifact
from speechopt.audio.features import FrontendConfig
from speechopt.env import tensorrt_status
from speechopt.errors import BackendUnavailable, SpeechoptError
from speechopt.backends.tensorrt.compat import check_engine_compatible, normalize_hardware, version_compatible_runs
from speechopt.backends.tensorrt.precision import onnx_precision, plan_precision
from speechopt.backends.tensorrt.profiles import (
    EXPORT_MIN_FRAMES,
    MIN_FRAMES,
    graph_shapes,
    model_min_frames,
    parse_shape,
    plan_graph_shapes,
    profile_from_durations,
    tensor_shapes,
    validate_shapes,
)
from speechopt.backends.tensorrt.torch_trt import (
    example_sizes,
    export_for_tensorrt,
    partition_summary,
    torch_tensorrt_compile_settings,
    torch_tensorrt_save_settings,
)
from speechopt.steps.build import build_engine

FE = FrontendConfig()  # 16 kHz, hop 160: frames = samples // 160 + 1


def one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and msg
    return msg


# ------------------------------------------------------------------------------------------- profiles
def test_profile_from_durations_min_median_max():
    p = profile_from_durations([0.5, 1.0, 2.0, 3.0, 10.2], FE)
    # 0.5 s -> 8000 samples -> 51 frames; median 2.0 s -> 201; 10.2 s -> 1021, rounded up to 1100.
    assert p["min"] == (1, 51) and p["opt"] == (8, 201) and p["max"] == (16, 1100)
    assert p["source"]["utterances"] == 5 and p["source"]["frames"]["max"] == 1021


def test_profile_respects_the_models_minimum_and_percentile_and_batch():
    p = profile_from_durations([0.005, 1.0, 1.0, 9.0], FE, batch=(2, 4, 32), opt_percentile=90)
    assert p["min"] == (2, MIN_FRAMES)  # 0.005 s is 1 frame: below what the exported model accepts
    assert p["opt"][0] == 4 and 101 < p["opt"][1] <= 901 and p["max"] == (32, 1000)
    p = profile_from_durations([2.0, 2.0], FE, subsampling_min_frames=300)
    assert p["min"][1] == 300 and p["opt"][1] == 300 and p["max"][1] == 300


def test_profile_from_the_bundled_eval_set_covers_every_utterance():
    from speechopt.data.manifest import read_manifest
    from speechopt.zoo import resolve

    utts = read_manifest(resolve("zoo:eval"), check_files=False)
    p = profile_from_durations([u.duration for u in utts], FE)
    frames = [FE.num_frames(int(round(u.duration * FE.sample_rate))) for u in utts]
    assert p["min"][1] == max(min(frames), MIN_FRAMES) and p["max"][1] >= max(frames)
    assert p["min"][1] <= p["opt"][1] <= p["max"][1]


@pytest.mark.parametrize("durations, batch, match", [
    ([], (1, 8, 16), "no utterances"),
    ([1.0, 0.0, 2.0], (1, 8, 16), "1 of 3 utterances have no positive duration"),
    ([1.0], (1, 8), "batch must be"),
    ([1.0], (8, 1, 16), "profile batch: need min <= opt <= max"),
])
def test_profile_errors(durations, batch, match):
    with pytest.raises(SpeechoptError, match=match) as e:
        profile_from_durations(durations, FE, batch=batch)
    one_line(e)


def test_validate_shapes():
    assert validate_shapes((1, 16), (8, 500), (16, 3000)) == {"min": (1, 16), "opt": (8, 500), "max": (16, 3000)}
    for args, match in [
        (((1, 600), (8, 500), (16, 3000)), "frames: need min <= opt <= max"),
        (((1, 16), (32, 500), (16, 3000)), "batch: need min <= opt <= max"),
        (((0, 16), (8, 500), (16, 3000)), "must be positive"),
        (((1, 2), (8, 500), (16, 3000)), "below the 3 frames"),
        (((1,), (8, 500), (16, 3000)), r"must be \(batch, frames\)"),
    ]:
        with pytest.raises(SpeechoptError, match=match) as e:
            validate_shapes(*args)
        one_line(e)
    with pytest.raises(SpeechoptError, match="below the 8 frames"):
        validate_shapes((1, 5), (8, 500), (16, 3000), min_frames=8)


def test_parse_shape_and_tensor_shapes():
    assert parse_shape("8x500") == (8, 500) and parse_shape("1X16") == (1, 16)
    for bad in ("8", "8x500x64", "ax3"):
        with pytest.raises(SpeechoptError, match="BATCHxFRAMES"):
            parse_shape(bad)
    shapes = tensor_shapes({"min": (1, 16), "opt": (8, 500), "max": (16, 3000)}, 64)
    assert shapes == {"features": {"min": [1, 16, 64], "opt": [8, 500, 64], "max": [16, 3000, 64]},
                      "lengths": {"min": [1], "opt": [8], "max": [16]}}


def test_model_min_frames_follows_the_export():
    assert model_min_frames({}) == MIN_FRAMES
    assert model_min_frames({"export": {"min_frames": 12}}) == 12
    assert model_min_frames({"export": {"dynamic_shapes": {"features": {"1": "frames>=8"}}}}) == 8
    from speechopt.models.asr_export import MIN_FRAMES as EXPORT_MIN  # the export step's bound for ASR models

    assert model_min_frames({"lineage": {"history": ["export"]}}) == max(MIN_FRAMES, EXPORT_MIN)
    assert EXPORT_MIN_FRAMES == EXPORT_MIN  # the backends' fallback mirrors the export step's bound


# A TTS-like artifact: two graphs sharing named dimensions ("batch", "tokens", "frames"), fixed sizes as ints.
TWO_GRAPHS = {
    "encoder": graph_entry("encoder.onnx", [{"name": "tokens", "dtype": "int64", "shape": ["batch", "tokens"]},
                                            {"name": "lengths", "dtype": "int64", "shape": ["batch"]}],
                           [{"name": "memory", "dtype": "float32", "shape": ["batch", "tokens", 256]}]),
    "decoder": graph_entry("decoder.onnx", [{"name": "memory", "dtype": "float32", "shape": ["batch", "tokens", 256]},
                                            {"name": "frame", "dtype": "float32", "shape": ["batch", 80]}],
                           [{"name": "next_frame", "dtype": "float32", "shape": ["batch", 80]}]),
}


def test_per_graph_shape_plan_from_named_dims():
    ranges = {"batch": (1, 4, 8), "tokens": (2, 50, 200)}
    plan = plan_graph_shapes(TWO_GRAPHS, ranges)
    assert list(plan) == ["encoder", "decoder"]
    assert plan["encoder"] == {"tokens": {"min": [1, 2], "opt": [4, 50], "max": [8, 200]},
                               "lengths": {"min": [1], "opt": [4], "max": [8]}}
    assert plan["decoder"] == {"memory": {"min": [1, 2, 256], "opt": [4, 50, 256], "max": [8, 200, 256]},
                               "frame": {"min": [1, 80], "opt": [4, 80], "max": [8, 80]}}
    # The ASR (batch, frames) profile is the same machinery: tensor_shapes == graph_shapes on the ASR inputs.
    asr = [{"name": "features", "dtype": "float32", "shape": ["batch", "frames", 64]},
           {"name": "lengths", "dtype": "int64", "shape": ["batch"]}]
    profile = {"min": (1, 16), "opt": (8, 500), "max": (16, 3000)}
    assert graph_shapes(asr, {"batch": (1, 8, 16), "frames": (16, 500, 3000)}) == tensor_shapes(profile, 64)


def test_a_named_dim_the_profile_does_not_cover_is_one_line():
    with pytest.raises(SpeechoptError, match=r"graph encoder: input tokens has dynamic dimension 'tokens' \(axis 1\), "
                       r"which the optimization profile does not cover \(it gives batch, frames\)") as e:
        plan_graph_shapes(TWO_GRAPHS, {"batch": (1, 8, 16), "frames": (16, 500, 3000)}, "tts.onnx")
    assert one_line(e).startswith("tts.onnx: graph encoder: ")
    with pytest.raises(SpeechoptError, match="profile tokens: need min <= opt <= max, got 5, 2, 200") as e:
        plan_graph_shapes(TWO_GRAPHS, {"batch": (1, 4, 8), "tokens": (5, 2, 200)})
    one_line(e)


def test_backends_import_nothing_from_steps_or_tasks():
    """Layers point one way (cli -> recipes -> bench, steps -> tasks -> backends -> artifacts)."""
    import ast

    import speechopt.backends

    root = Path(speechopt.backends.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert root / "tensorrt" / "runner.py" in files
    bad = []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{f.relative_to(root)}: {n}" for n in names
                    if n.split(".")[:2] in (["speechopt", "steps"], ["speechopt", "tasks"])]
    assert bad == []


def test_normalize_hardware():
    assert [normalize_hardware(v) for v in (False, None, "none", True, "ampere-plus", "same-cc")] == [
        "none", "none", "none", "ampere_plus", "ampere_plus", "same_compute_capability"]
    with pytest.raises(SpeechoptError, match="unknown hardware compatibility"):
        normalize_hardware("turing")


# ------------------------------------------------------------------------------------------ precision
def _onnx_file(tmp_path, name, nodes, inits=(), in_type=None, out_type=None):
    from onnx import TensorProto, helper, save

    in_type = in_type or TensorProto.FLOAT
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", in_type, [1, 4])],
                              [helper.make_tensor_value_info("y", out_type or in_type, [1, 4])], list(inits))
    path = tmp_path / f"{name}.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]), str(path))
    return path


def test_onnx_precision_reads_the_graph(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    w32 = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")
    w16 = numpy_helper.from_array(np.eye(4, dtype=np.float16), "w")
    scale = numpy_helper.from_array(np.array(0.1, dtype=np.float32), "s")
    zp8 = numpy_helper.from_array(np.array(0, dtype=np.int8), "z")
    fp32 = _onnx_file(tmp_path, "fp32", [helper.make_node("MatMul", ["x", "w"], ["y"])], [w32])
    # keep_io_types fp16: fp32 I/O, fp16 weights and casts (what `speechopt quantize --method fp16` makes)
    fp16 = _onnx_file(tmp_path, "fp16", [
        helper.make_node("Cast", ["x"], ["xh"], to=TensorProto.FLOAT16),
        helper.make_node("MatMul", ["xh", "w"], ["yh"]),
        helper.make_node("Cast", ["yh"], ["y"], to=TensorProto.FLOAT)], [w16])
    qdq = _onnx_file(tmp_path, "qdq", [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
        helper.make_node("MatMul", ["xd", "w"], ["y"])], [w32, scale, zp8])
    dyn = _onnx_file(tmp_path, "dyn", [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
        helper.make_node("Identity", ["x"], ["y"])])
    qop = _onnx_file(tmp_path, "qop", [helper.make_node("QLinearMatMul", ["x", "s", "z", "w", "s", "z", "s", "z"], ["y"])],
                     [w32, scale, zp8])
    assert [onnx_precision(p) for p in (fp32, fp16, qdq, dyn, qop)] == [
        "fp32", "fp16", "int8", "int8-dynamic", "int8-qoperator"]


def test_precision_plan_per_tensorrt_major():
    for major in (10, 11):
        assert plan_precision("fp32", "fp32", major) == {"strongly_typed": True, "flags": [],
                                                         "mode": "strongly typed: precision from the fp32 ONNX"}
        assert plan_precision("fp16", "fp16", major)["strongly_typed"]
        assert plan_precision("int8", "int8", major)["flags"] == []
    # 10.x may still make fp16 from an fp32 model with the (deprecated) builder flag ...
    p = plan_precision("fp16", "fp32", 10)
    assert p["strongly_typed"] is False and p["flags"] == ["FP16"]
    # ... 11.x cannot: the flag is gone, the ONNX must carry fp16.
    with pytest.raises(SpeechoptError, match="speechopt quantize --method fp16") as e:
        plan_precision("fp16", "fp32", 11)
    one_line(e)
    for requested, model, match in [
        ("int8", "fp32", "speechopt quantize --method static"),
        ("int8", "fp16", "Q/DQ"),
        ("fp32", "fp16", "already fp16"),
        ("fp16", "int8", "needs an fp32 or fp16 ONNX"),
        ("int8", "int8-dynamic", "dynamically quantized"),
        ("int8", "int8-qoperator", "QOperator"),
        ("bf16", "fp32", "unknown precision"),
    ]:
        with pytest.raises(SpeechoptError, match=match) as e:
            plan_precision(requested, model, 11)
        one_line(e)


# -------------------------------------------------------------------------------------- compatibility
def test_version_compatible_runs():
    assert version_compatible_runs("10.13.0.35", "10.13.0.35")
    assert version_compatible_runs("10.8.0.43", "10.13.0.35")
    assert version_compatible_runs("10.16.1.11", "11.1.0.106")  # NVIDIA's one supported cross-major pair (+ 8 -> 10)
    assert version_compatible_runs("8.6.1", "10.0.0")
    assert not version_compatible_runs("10.13.0", "10.8.0")  # never an older runtime
    assert not version_compatible_runs("8.6.1", "11.0.0")
    assert not version_compatible_runs("8.5.3", "8.6.1")  # version compatibility starts at 8.6
    assert not version_compatible_runs("11.1.0", "12.0.0")


def _engine_manifest(**info):
    base = {"version": "10.13.0.35", "gpu": "NVIDIA L4", "compute_capability": "8.9",
            "version_compatible": False, "hardware_compatibility": "none"}
    return {"name": "crnn.engine", "tensorrt": {**base, **info}}


def test_check_engine_compatible():
    check_engine_compatible(_engine_manifest(), "10.13.0.35", "NVIDIA L4", "8.9")
    cases = [
        (_engine_manifest(), ("10.13.3.9", "NVIDIA L4", "8.9"), "exact version that built them"),
        (_engine_manifest(), ("10.13.0.35", "NVIDIA A10G", "8.6"), "specific to the GPU that built them"),
        (_engine_manifest(), ("10.13.0.35", "NVIDIA L40S", "8.9"), "specific to the GPU"),  # same SM, other GPU
        (_engine_manifest(version_compatible=True), ("10.8.0.43", "NVIDIA L4", "8.9"), "cannot run on TensorRT 10.8"),
        (_engine_manifest(hardware_compatibility="ampere_plus"), ("10.13.0.35", "Tesla T4", "7.5"), "Ampere and newer"),
        (_engine_manifest(hardware_compatibility="same_compute_capability"), ("10.13.0.35", "NVIDIA A100", "8.0"),
         "compute capability 8.9 GPUs"),
        ({"name": "old", "tensorrt": {}}, ("10.13.0.35", "NVIDIA L4", "8.9"), "does not say which TensorRT"),
    ]
    for manifest, here, match in cases:
        with pytest.raises(SpeechoptError, match=match) as e:
            check_engine_compatible(manifest, *here)
        assert "rebuild" in one_line(e)
    # What the flags allow:
    check_engine_compatible(_engine_manifest(version_compatible=True), "11.1.0.106", "NVIDIA L4", "8.9")
    check_engine_compatible(_engine_manifest(hardware_compatibility="ampere_plus"), "10.13.0.35", "NVIDIA H100", "9.0")
    check_engine_compatible(_engine_manifest(hardware_compatibility="same_compute_capability"),
                            "10.13.0.35", "NVIDIA L40S", "8.9")


# ------------------------------------------------------------------------- Torch-TensorRT, CPU-testable parts
def test_partition_summary_reads_torch_tensorrt_submodule_names():
    import torch

    def graph_module(fn):
        return torch.fx.symbolic_trace(fn)

    class Relu(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x) + 1

    root = torch.nn.Module()
    root.add_module("_run_on_acc_0", graph_module(torch.nn.Identity()))
    root.add_module("_run_on_gpu_1", graph_module(Relu()))
    root.add_module("_run_on_acc_2", graph_module(torch.nn.Identity()))
    s = partition_summary(root)
    assert s["tensorrt_subgraphs"] == 2 and s["pytorch_subgraphs"] == 1 and s["fallback"]
    assert "relu" in s["fallback_ops"]
    assert partition_summary(torch.nn.Sequential())["fallback"] is False


def test_export_for_tensorrt_keeps_the_profile_dynamic(tiny_models):
    import torch

    from speechopt.models.pytorch import load_pytorch_model

    model = load_pytorch_model(load_artifact(tiny_models["cnn-ctc"]))
    profile = {"min": (1, 3), "opt": (4, 200), "max": (8, 1000)}
    program = export_for_tensorrt(model, profile, 64, device="cpu")
    ranges = sorted((int(r.lower), int(r.upper)) for r in program.range_constraints.values())
    assert (1, 8) in ranges and (3, 1000) in ranges
    x, n = torch.randn(3, 57, 64), torch.tensor([57, 40, 3])
    with torch.inference_mode():
        a, b = program.module()(x, n), model(x, n)
    assert torch.equal(a[1], b[1]) and torch.allclose(a[0], b[0], atol=1e-5)


def test_example_sizes_avoid_size_one_on_dynamic_axes():
    assert example_sizes({"min": (1, 3), "opt": (8, 500), "max": (16, 3000)}) == (8, 500)
    assert example_sizes({"min": (1, 3), "opt": (1, 3), "max": (8, 100)}) == (2, 3)  # 1 would be specialized
    assert example_sizes({"min": (1, 3), "opt": (1, 3), "max": (1, 3)}) == (1, 3)  # static anyway


def test_torch_tensorrt_compile_settings_per_release():
    import torch

    base = {"workspace_size", "version_compatible", "hardware_compatible", "timing_cache_path", "disable_tf32"}
    autocast = base | {"enable_autocast", "autocast_low_precision_type"}  # 2.13-like: strongly typed only
    common = dict(workspace_mb=256, timing_cache=None, version_compatible=False, hardware="none")
    kw = torch_tensorrt_compile_settings("fp16", autocast, **common)
    assert kw == {"workspace_size": 256 << 20, "version_compatible": False, "hardware_compatible": False,
                  "enable_autocast": True, "autocast_low_precision_type": torch.float16}
    # Releases with both switches: autocast goes with explicit typing, never with enabled_precisions.
    kw = torch_tensorrt_compile_settings("fp16", autocast | {"use_explicit_typing", "enabled_precisions"}, **common)
    assert kw["use_explicit_typing"] is True and kw["enable_autocast"] and "enabled_precisions" not in kw
    # Older releases: weak typing, with explicit typing off where the switch exists (pytorch/TensorRT#4070).
    kw = torch_tensorrt_compile_settings("fp16", base | {"enabled_precisions", "use_explicit_typing"}, **common)
    assert kw["enabled_precisions"] == {torch.float16} and kw["use_explicit_typing"] is False
    assert "use_explicit_typing" not in torch_tensorrt_compile_settings("fp16", base | {"enabled_precisions"}, **common)
    # fp32 means fp32 (no TF32), as in the native build; the rest passes through.
    kw = torch_tensorrt_compile_settings("fp32", autocast, workspace_mb=1, timing_cache=Path("/c/timing.bin"),
                                         version_compatible=True, hardware="ampere_plus")
    assert kw["disable_tf32"] is True and kw["timing_cache_path"] == "/c/timing.bin"
    assert kw["version_compatible"] is True and kw["hardware_compatible"] is True and "enable_autocast" not in kw
    # A setting the release does not take is refused with one line, not dropped.
    with pytest.raises(SpeechoptError, match="torch-tensorrt 2.4.1 does not accept enabled_precisions") as e:
        torch_tensorrt_compile_settings("fp16", base, version="2.4.1", **common)
    one_line(e)
    with pytest.raises(SpeechoptError, match="does not accept timing_cache_path"):
        torch_tensorrt_compile_settings("fp32", base - {"timing_cache_path"}, **{**common, "timing_cache": Path("t")})


def test_torch_tensorrt_save_settings_keep_the_axes_dynamic():
    profile = {"min": (1, 8), "opt": (1, 200), "max": (8, 1000)}
    kw = torch_tensorrt_save_settings({"output_format", "arg_inputs", "retrace", "dynamic_shapes"}, profile, 64,
                                      device="cpu")
    features, lengths = kw["arg_inputs"]
    assert tuple(features.shape) == (2, 200, 64) and lengths.tolist() == [200, 200]  # batch 1 would be specialized
    dyn_features, dyn_lengths = kw["dynamic_shapes"]
    assert dyn_features[0] is dyn_lengths[0] and (dyn_features[0].min, dyn_features[0].max) == (1, 8)
    assert (dyn_features[1].min, dyn_features[1].max) == (8, 1000)
    assert kw["output_format"] == "exported_program" and "retrace" not in kw
    # No dynamic_shapes to give: do not let save re-export from the (static) examples.
    kw = torch_tensorrt_save_settings({"output_format", "arg_inputs", "retrace"}, profile, 64, device="cpu")
    assert kw["retrace"] is False and "dynamic_shapes" not in kw
    static_batch = {"min": (4, 8), "opt": (4, 200), "max": (4, 1000)}
    dyn_features, dyn_lengths = torch_tensorrt_save_settings({"dynamic_shapes"}, static_batch, 64,
                                                             device="cpu")["dynamic_shapes"]
    assert set(dyn_features) == {1} and dyn_lengths == {}


def test_export_for_tensorrt_failure_is_one_line():
    import torch

    class FixedLength(torch.nn.Module):  # a reshape that pins the frame count: cannot stay dynamic
        def forward(self, features, lengths):
            return features.reshape(features.shape[0], 50, -1), lengths

    with pytest.raises(SpeechoptError, match="torch.export cannot export this model.*Constraints violated") as e:
        export_for_tensorrt(FixedLength(), {"min": (1, 3), "opt": (2, 50), "max": (4, 100)}, 8, device="cpu")
    one_line(e)


# ---------------------------------------------------------------------- failing cleanly without a GPU
requires_no_tensorrt = pytest.mark.skipif(tensorrt_status()[0], reason="TensorRT is usable here: "
                                          "the no-GPU failure path cannot be exercised")


@requires_no_tensorrt
def test_build_engine_fails_fast_and_writes_nothing(tmp_path, tiny_models):
    t0 = time.perf_counter()
    with pytest.raises(BackendUnavailable) as e:
        build_engine(tiny_models["cnn-ctc"], tmp_path / "engine", profile_from_data="zoo:eval")
    assert time.perf_counter() - t0 < 1.0
    msg = one_line(e)
    assert "pip install 'speechopt[tensorrt]' --extra-index-url https://pypi.nvidia.com" in msg
    assert "NVIDIA GPU" in msg
    assert list(tmp_path.iterdir()) == []


def _app():
    from speechopt.cli import app

    return app




@requires_no_tensorrt
@pytest.mark.parametrize("via", ["tensorrt", "torch-tensorrt"])
def test_build_command_one_line_exit_1(tmp_path, tiny_models, via):
    out = tmp_path / "engine"
    r = CliRunner().invoke(_app(), ["build", str(tiny_models["cnn-ctc"]), "--out", str(out), "--precision", "fp16",
                                    "--profile-from-data", "zoo:eval", "--via", via])
    line = one_error_line(r)
    assert "TensorRT" in line and "pip install" in line
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_build_command_bad_shape_is_one_line(tmp_path, tiny_models):
    r = CliRunner().invoke(_app(), ["build", str(tiny_models["cnn-ctc"]), "--out", str(tmp_path / "e"),
                                    "--min-shape", "1x16", "--opt-shape", "oops", "--max-shape", "16x3000"])
    assert "BATCHxFRAMES" in one_error_line(r)


@pytest.fixture
def fake_engine(tmp_path, tiny_models):
    """A "tensorrt" artifact whose engine file is junk: enough to reach the runner's checks."""
    parent = load_artifact(tiny_models["cnn-ctc"])
    sig = parent.graph(MAIN_GRAPH)
    manifest = {k: parent.manifest[k] for k in ("task", "architecture", "frontend", "tokenizer")}
    # An engine manifest from before per-graph engines: one `profile`, no `profiles` map.
    manifest.update(format="tensorrt", precision="fp32",
                    graphs={MAIN_GRAPH: graph_entry("model.engine", sig["inputs"], sig["outputs"])}, tensorrt={
        "via": "tensorrt", "version": "10.13.0.35", "gpu": "NVIDIA L4", "compute_capability": "8.9",
        "version_compatible": False, "hardware_compatibility": "none",
        "profile": {"features": {"min": [1, 3, 64], "opt": [8, 200, 64], "max": [16, 1000, 64]},
                    "lengths": {"min": [1], "opt": [8], "max": [16]}}})
    return write_artifact(tmp_path / "fake.engine", manifest, {"model.engine": lambda p: p.write_bytes(b"junk")},
                          parent=parent, step="build")


@requires_no_tensorrt
def test_runner_without_tensorrt_is_backend_unavailable(fake_engine):
    from speechopt.backends.tensorrt.runner import TensorRTRunner

    runner = TensorRTRunner(fake_engine, device="tensorrt")
    with pytest.raises(BackendUnavailable, match="tensorrt package is not installed") as e:
        runner.activate()
    assert "pip install 'speechopt[tensorrt]'" in one_line(e)
    assert not runner.active
    # Profile bounds are checked before TensorRT sees the input.
    with pytest.raises(SpeechoptError, match=r"outside the engine's profile \[1, 3, 64\]..\[16, 1000, 64\]"):
        runner._check_profile("features", (1, 2000, 64))
    runner._check_profile("features", (4, 500, 64))
    assert runner.describe()["tensorrt_built_with"] == "10.13.0.35"


def test_runner_checks_its_own_graphs_profile(tmp_path):
    """Each engine of a multi-graph artifact is checked against its own graph's profile."""
    from speechopt.backends import create_runner
    from speechopt.backends.tensorrt.runner import TensorRTRunner

    plan = plan_graph_shapes(TWO_GRAPHS, {"batch": (1, 4, 8), "tokens": (2, 50, 200)})
    graphs = {name: graph_entry(f"{name}.engine", g["inputs"], g["outputs"]) for name, g in TWO_GRAPHS.items()}
    manifest = {"task": "tts", "format": "tensorrt", "architecture": {"name": "fake"}, "graphs": graphs,
                "tensorrt": {"via": "tensorrt", "profiles": plan}}
    art = write_artifact(tmp_path / "tts.engine", manifest,
                         {f"{name}.engine": (lambda p: p.write_bytes(b"junk")) for name in graphs})
    art = load_artifact(art.path)
    decoder = create_runner(art, "tensorrt", graph="decoder")
    assert isinstance(decoder, TensorRTRunner) and decoder.path.name == "decoder.engine"
    decoder._check_profile("frame", (8, 80))
    with pytest.raises(SpeechoptError, match=r"input frame of shape \[9, 80\] is outside the engine's profile") as e:
        decoder._check_profile("frame", (9, 80))
    one_line(e)
    encoder = TensorRTRunner(art, graph="encoder")
    assert encoder.profile == plan["encoder"] and encoder.describe()["graph"] == "encoder"
    with pytest.raises(SpeechoptError, match="outside the engine's profile"):
        encoder._check_profile("tokens", (1, 201))


def test_torch_tensorrt_refuses_a_multi_graph_source_and_uncovered_dims_fail_early(tmp_path, monkeypatch):
    """Both checks run before TensorRT is imported (here the toolchain check is bypassed: no TensorRT)."""
    import speechopt.steps.build as build

    monkeypatch.setattr(build, "_require", lambda via: None)
    manifest = {"task": "asr", "format": "onnx", "architecture": {"name": "fake"}, "graphs": TWO_GRAPHS,
                "frontend": FE.to_dict(), "tokenizer": {}}
    art = write_artifact(tmp_path / "two.onnx", manifest,
                         {g["file"]: (lambda p: p.write_bytes(b"junk")) for g in TWO_GRAPHS.values()})
    shapes = dict(min_shape=(1, 16), opt_shape=(8, 500), max_shape=(16, 3000))
    with pytest.raises(SpeechoptError, match=r"--via torch-tensorrt compiles one graph, and this artifact has 2 "
                                             r"\(encoder, decoder\); build it with --via tensorrt") as e:
        build_engine(art, tmp_path / "e1", via="torch-tensorrt", **shapes)
    one_line(e)
    with pytest.raises(SpeechoptError, match="graph encoder: input tokens has dynamic dimension 'tokens'") as e:
        build_engine(art, tmp_path / "e2", **shapes)
    one_line(e)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.onnx"]


@requires_no_tensorrt
def test_bench_tensorrt_backend_fails_with_one_line(tmp_path, tiny_models, fake_engine):
    from speechopt.cli import app

    report = tmp_path / "report.json"
    r = CliRunner().invoke(app, ["bench", str(fake_engine.path), "--reference", str(tiny_models["cnn-ctc"]),
                                 "--backend", "tensorrt", "--data", "zoo:eval", "--max-utterances", "2",
                                 "--batch-sizes", "1", "--min-seconds", "0.01", "--min-iters", "1",
                                 "--json", str(report)])
    # Either the TensorRT runner's BackendUnavailable or, before it is registered, create_runner's error;
    # the only other stderr lines are the harness's "measuring ..." progress.
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("error: ")]
    assert len(errors) == 1 and all(x.startswith("measuring ") for x in lines if x not in errors), r.stderr
    assert "tensorrt" in errors[0].lower()
    assert not report.exists()


# ------------------------------------------------- call sequence against a FAKE tensorrt module
# These prove only that `build_native` makes the calls NVIDIA documents, with the documented argument
# shapes, per TensorRT major version (and that errors become one line). They say nothing about whether
# real TensorRT accepts the model: that is tests/test_gpu.py.
class _FakeTRT:
    def __init__(self, version: str, parse_ok=True, build_ok=True, inputs=("features", "lengths")):
        import types

        self.calls = []
        self.mod = types.ModuleType("tensorrt")
        fake, calls = self, self.calls
        m = self.mod
        m.__version__ = version
        major = int(version.split(".")[0])

        class ILogger:
            INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

            def __init__(self):
                pass

        m.ILogger = ILogger
        m.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=0)
        flags = ["TF32", "VERSION_COMPATIBLE"] + (["FP16"] if major < 11 else [])
        m.BuilderFlag = types.SimpleNamespace(**{f: f for f in flags})
        m.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
        m.HardwareCompatibilityLevel = types.SimpleNamespace(NONE="NONE", AMPERE_PLUS="AMPERE_PLUS",
                                                             SAME_COMPUTE_CAPABILITY="SAME_COMPUTE_CAPABILITY")

        class Cache:
            def __init__(self, data):
                self.data = data

            def serialize(self):
                return memoryview(b"cache:" + self.data)

        class Config:
            hardware_compatibility_level = "NONE"

            def __init__(self, logger):
                self.logger = logger

            def set_memory_pool_limit(self, pool, size):
                calls.append(("set_memory_pool_limit", pool, size))

            def set_flag(self, flag):
                calls.append(("set_flag", flag))

            def clear_flag(self, flag):
                calls.append(("clear_flag", flag))

            def add_optimization_profile(self, profile):
                calls.append(("add_optimization_profile", dict(profile.shapes)))
                return 0

            def create_timing_cache(self, data):
                # What a stale cache file does (see build_native): no cache, a logged serialization
                # error, or a cache that set_timing_cache refuses (another device).
                calls.append(("create_timing_cache", bytes(data)))
                if bytes(data) == b"no-cache":
                    return None
                if bytes(data) == b"old-version":
                    self.logger.log(ILogger.ERROR, "Serialization assertion magicTagRead == kMAGIC_TAG failed")
                self.cache = Cache(bytes(data))
                return self.cache

            def set_timing_cache(self, cache, ignore_mismatch):
                calls.append(("set_timing_cache", ignore_mismatch))
                return cache.data != b"other-gpu"

            def get_timing_cache(self):
                return self.cache

        class Profile:
            def __init__(self):
                self.shapes = {}

            def set_shape(self, name, lo, opt, hi):
                assert all(isinstance(s, tuple) for s in (lo, opt, hi))
                self.shapes[name] = (lo, opt, hi)

        class Network:
            num_inputs = len(inputs)

            def get_input(self, i):
                return types.SimpleNamespace(name=inputs[i])

        class Builder:
            def __init__(self, logger):
                self.logger = logger

            def create_network(self, flags):
                calls.append(("create_network", flags))
                return Network()

            def create_builder_config(self):
                return Config(self.logger)

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                calls.append(("build_serialized_network",))
                if not build_ok:
                    self.logger.log(ILogger.ERROR, "out of\nmemory")
                    return None
                return memoryview(b"PLAN")

        class OnnxParser:
            def __init__(self, network, logger):
                self.num_errors = 0 if parse_ok else 2

            def parse_from_file(self, path):
                calls.append(("parse_from_file", path))
                return parse_ok

            def get_error(self, i):
                return f"In node {i} (importLSTM): UNSUPPORTED_NODE: no"

        m.Builder, m.OnnxParser = Builder, OnnxParser


SHAPES = tensor_shapes({"min": (1, 8), "opt": (8, 200), "max": (16, 1100)}, 64)


def _native(monkeypatch, tmp_path, fake, plan, precision="fp32", **kw):
    from speechopt.backends.tensorrt.builder import build_native

    monkeypatch.setitem(__import__("sys").modules, "tensorrt", fake.mod)
    args = dict(timing_cache=None, version_compatible=False, hardware="none")
    args.update(kw)
    return build_native(tmp_path / "m.onnx", SHAPES, plan, precision, 256, log=lambda m: None, **args)


def test_fake_call_sequence_trt11_strongly_typed(monkeypatch, tmp_path):
    fake = _FakeTRT("11.1.0.106")
    cache = tmp_path / "timing.cache"
    plan, info = _native(monkeypatch, tmp_path, fake, plan_precision("fp16", "fp16", 11), "fp16",
                         timing_cache=cache, version_compatible=True, hardware="ampere_plus")
    assert plan == b"PLAN" and cache.read_bytes() == b"cache:"
    calls = fake.calls
    assert calls[0] == ("create_network", 0)  # 11.x: always strongly typed, no flag
    assert ("set_memory_pool_limit", "WORKSPACE", 256 << 20) in calls
    assert ("set_flag", "VERSION_COMPATIBLE") in calls and ("set_flag", "FP16") not in calls
    profile = next(c[1] for c in calls if c[0] == "add_optimization_profile")
    assert profile["features"] == ((1, 8, 64), (8, 200, 64), (16, 1100, 64)) and profile["lengths"][2] == (16,)
    assert ("set_timing_cache", False) in calls and calls[-1] == ("build_serialized_network",)


def test_fake_call_sequence_trt10(monkeypatch, tmp_path):
    fake = _FakeTRT("10.13.0.35")
    _native(monkeypatch, tmp_path, fake, plan_precision("fp32", "fp32", 10))
    assert fake.calls[0] == ("create_network", 1)  # 1 << STRONGLY_TYPED(0)
    assert ("clear_flag", "TF32") in fake.calls  # fp32 means fp32
    fake = _FakeTRT("10.13.0.35")
    _native(monkeypatch, tmp_path, fake, plan_precision("fp16", "fp32", 10), "fp16")
    assert fake.calls[0] == ("create_network", 0) and ("set_flag", "FP16") in fake.calls


def test_fake_failures_are_one_line(monkeypatch, tmp_path):
    with pytest.raises(SpeechoptError, match=r"cannot parse the model: In node 0 \(importLSTM\)") as e:
        _native(monkeypatch, tmp_path, _FakeTRT("11.1.0.106", parse_ok=False), plan_precision("fp32", "fp32", 11))
    one_line(e)
    with pytest.raises(SpeechoptError, match="could not build the engine: out of memory") as e:
        _native(monkeypatch, tmp_path, _FakeTRT("11.1.0.106", build_ok=False), plan_precision("fp32", "fp32", 11))
    one_line(e)
    with pytest.raises(SpeechoptError, match=r"do not match the signature") as e:
        _native(monkeypatch, tmp_path, _FakeTRT("11.1.0.106", inputs=("x",)), plan_precision("fp32", "fp32", 11))
    one_line(e)


@pytest.mark.parametrize("stale", [b"no-cache", b"old-version", b"other-gpu"])
def test_fake_stale_timing_cache_starts_fresh(monkeypatch, tmp_path, stale):
    cache = tmp_path / "timing.cache"
    cache.write_bytes(stale)
    fake = _FakeTRT("10.13.0.35")
    plan, info = _native(monkeypatch, tmp_path, fake, plan_precision("fp32", "fp32", 10), timing_cache=cache)
    assert plan == b"PLAN" and "started a new cache" in info["timing_cache_note"]
    assert [c[1] for c in fake.calls if c[0] == "create_timing_cache"] == [stale, b""]
    assert cache.read_bytes() == b"cache:"  # the fresh cache replaced the stale file
    # The cache's own errors are not the build's: a failing build names only its own.
    cache.write_bytes(stale)
    with pytest.raises(SpeechoptError, match="could not build the engine: out of memory$") as e:
        _native(monkeypatch, tmp_path, _FakeTRT("10.13.0.35", build_ok=False), plan_precision("fp32", "fp32", 10),
                timing_cache=cache)
    assert "magicTag" not in one_line(e)


def _fake_onnx_artifact(tmp_path, graphs: dict):
    """An ONNX-format ASR artifact whose graphs are tiny fp32 ONNX files (what onnx_precision reads)."""
    from onnx import helper

    files = {}
    for name in graphs:
        path = _onnx_file(tmp_path, f"src-{name}", [helper.make_node("Identity", ["x"], ["y"])])
        files[graphs[name]["file"]] = lambda p, src=path: p.write_bytes(src.read_bytes())
    manifest = {"task": "asr", "format": "onnx", "architecture": {"name": "fake"}, "graphs": graphs,
                "frontend": FE.to_dict(), "tokenizer": {"kind": "fake"}}
    return write_artifact(tmp_path / "src.onnx", manifest, files)


@pytest.mark.parametrize("names", [["model"], ["encoder", "decoder"]])
def test_build_engine_writes_one_engine_per_graph(tmp_path, monkeypatch, names):
    """build_engine's bookkeeping around a FAKE native build: files, graphs, per-graph profiles, lineage."""
    import sys
    import types

    import speechopt.backends.tensorrt.builder as builder
    import speechopt.steps.build as build
    from speechopt.backends import create_runner

    asr_inputs = [{"name": "features", "dtype": "float32", "shape": ["batch", "frames", 64]},
                  {"name": "lengths", "dtype": "int64", "shape": ["batch"]}]
    per_graph = {"model": asr_inputs, "encoder": asr_inputs,
                 "decoder": [{"name": "memory", "dtype": "float32", "shape": ["batch", "frames", 32]}]}
    graphs = {n: graph_entry(f"{n}.onnx", per_graph[n], [{"name": "y", "dtype": "float32", "shape": ["batch", 4]}])
              for n in names}
    src = _fake_onnx_artifact(tmp_path, graphs)
    built = []

    def fake_build_native(onnx_path, shapes, plan, precision, *args):
        built.append((Path(onnx_path).name, shapes, plan["mode"]))
        return f"PLAN:{Path(onnx_path).stem}".encode(), {"build_seconds": 1.5, "timing_cache_note": None}

    monkeypatch.setattr(build, "_require", lambda via: None)
    monkeypatch.setattr(build, "current_gpu", lambda: ("NVIDIA L4", "8.9"))
    monkeypatch.setattr(builder, "build_native", fake_build_native)
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.13.0.35"))
    art = build_engine(src, tmp_path / "out.engine", min_shape=parse_shape("1x16"), opt_shape=(8, 500),
                       max_shape=(16, 3000))

    assert [b[0] for b in built] == [f"{n}.onnx" for n in names]
    art = load_artifact(art.path)
    assert list(art.graphs) == names and sorted(art.manifest["files"]) == sorted(f"{n}.engine" for n in names)
    info = art.manifest["tensorrt"]
    assert list(info["profiles"]) == names and info["dims"] == {"batch": [1, 8, 16], "frames": [16, 500, 3000]}
    for n in names:
        assert art.graph(n)["inputs"] == graphs[n]["inputs"] and art.graph(n)["outputs"] == graphs[n]["outputs"]
        assert art.graph_path(n).read_bytes() == f"PLAN:{n}".encode()
        runner = create_runner(art, "tensorrt", graph=n)
        assert runner.path.name == f"{n}.engine" and runner.profile == info["profiles"][n]
    assert info["profiles"][names[0]]["features"] == {"min": [1, 16, 64], "opt": [8, 500, 64], "max": [16, 3000, 64]}
    assert info["builds"][names[-1]]["model_precision"] == "fp32"
    assert art.manifest["lineage"]["parent"]["checksum"] == src.checksum
    if names == ["model"]:  # the one-graph manifest keeps the keys it always had
        assert info["profile"] == info["profiles"]["model"] and info["build_seconds"] == 1.5
        assert info["model_precision"] == "fp32" and info["strongly_typed"] is True
        assert art.manifest["lineage"]["settings"]["profile"] == {"min": [1, 16], "opt": [8, 500], "max": [16, 3000]}
    else:
        assert "profile" not in info and info["build_seconds"] == 3.0
        memory = {"min": [1, 16, 32], "opt": [8, 500, 32], "max": [16, 3000, 32]}
        assert info["profiles"]["decoder"] == {"memory": memory}
