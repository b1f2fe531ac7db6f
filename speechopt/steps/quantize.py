"""Quantization: dynamic int8 (ONNX Runtime or PyTorch), static int8 with QDQ nodes, and fp16.

Defaults were chosen by measurement on a 2-core AVX2 CPU without VNNI (see benchmarks/): ONNX Runtime's
library default quantizes every op type, turning the convolutions into ConvInteger, which ran *slower*
than float32 there; quantizing only MatMul/Gemm and LSTM (the recurrent layers dominate the arithmetic of
these models) is what made int8 fast. The static QDQ form is what TensorRT 10/11 expects for int8
(explicit quantization; TensorRT 11 has no implicit int8 and no calibrators), calibrated on real
utterances spanning the dataset's length distribution.

Every quantized model is run on CPU with ONNX Runtime (or PyTorch) on real utterances before the
artifact is written; its agreement with the parent is recorded in the manifest, and `speechopt bench`
measures the WER drift.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


from speechopt.artifact import Artifact, load_artifact, write_artifact
from speechopt.errors import SpeechoptError

METHODS = ("dynamic", "static", "fp16")
ACTIVATION_TYPES = ("qint8", "quint8")
DEFAULT_DYNAMIC_OPS = ["MatMul", "Gemm", "LSTM", "GRU"]
DEFAULT_STATIC_OPS = ["Conv", "MatMul", "Gemm"]  # LSTM has no QDQ form that TensorRT consumes
ENTROPY_BINS = 2048  # histogram bins of entropy calibration (`_flat_histograms` says why)
# fp16 is applied to an allow-list of compute ops; the shape/mask arithmetic and LSTM stay float32. With
# onnxruntime 1.32 a graph whose mask ops (Range, Less, Where, Cast ...) were converted too made session
# creation crash (segfault) on CPU, and ORT's CPU provider has no fp16 LSTM kernel.
DEFAULT_FP16_OPS = ["Conv", "MatMul", "Gemm", "Relu"]


@dataclass
class QuantizeSettings:
    method: str = "dynamic"
    weight_type: str = "qint8"  # qint8 | quint8
    per_channel: bool = False
    activation_type: str = "qint8"  # static: qint8 (symmetric, for TensorRT) | quint8 (asymmetric, ORT CPU)
    op_types: list[str] = field(default_factory=list)  # empty: the method's measured default
    calibration_data: str | None = None  # static: a manifest of real utterances
    calibration_size: int = 64
    calibrate_method: str = "minmax"  # minmax | percentile | entropy
    fp16_ops: list[str] = field(default_factory=list)  # fp16: op types computed in float16 (empty: default)
    graphs: list[str] = field(default_factory=list)  # the graphs to quantize (empty: every graph); others stay float


def is_quantized(artifact: Artifact) -> bool:
    history = artifact.manifest.get("lineage", {}).get("history", [])
    return "quantize" in history or bool(artifact.manifest.get("quantization"))


def _sample(artifact: Artifact, manifest: str | None, count: int):
    """`count` items of real data spread over the length distribution, prepared by the task."""
    from speechopt.tasks import task_of
    from speechopt.zoo import resolve

    task = task_of(artifact)
    data = task.load_data(artifact, resolve(manifest or task.default_data))
    return task, task.sample(data, count)


def _outputs(task, artifact: Artifact, data) -> list:
    """Per-item outputs through the task's driver on one CPU thread (the agreement check, not a benchmark)."""
    with task.driver(artifact, "cpu", threads=1) as driver:
        return task.run(driver, data, progress=False)


def _candidate(folder: Path, manifest: dict, files: list[str]) -> Artifact:
    """An unwritten artifact over files in `folder`, so the task can drive it before anything is written."""
    return Artifact(folder, {**manifest, "files": {f: {"sha256": "", "bytes": 0} for f in files}})


class _Calibration:
    """onnxruntime CalibrationDataReader over real utterances."""

    def __init__(self, inputs: list[dict]):
        self._it = iter(inputs)

    def get_next(self):
        return next(self._it, None)

    def rewind(self):  # some ORT versions call it between passes
        pass


def _quantize_onnx(src: Path, dst: Path, s: QuantizeSettings, calibration: list[dict] | None) -> dict:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    types = {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}
    weight_type = types.get(s.weight_type)
    if weight_type is None:
        raise SpeechoptError(f"unknown weight type {s.weight_type!r} (qint8 or quint8)")
    with tempfile.TemporaryDirectory(prefix="speechopt-quant-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        # ORT's recommended pre-processing: symbolic shape inference and graph optimisation first. auto_merge:
        # transformers builds attention masks with Range, whose length ORT's inference writes Max(0, T) and
        # then cannot broadcast with T (hf-wav2vec2-ctc with a mask fails without it). Graphs without such a
        # conflict are unchanged: cnn/lstm/crnn-ctc pre-process to byte-identical models either way.
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=False, auto_merge=True)
        if s.method == "dynamic":
            ops = s.op_types or DEFAULT_DYNAMIC_OPS
            quantize_dynamic(str(pre), str(dst), op_types_to_quantize=ops, per_channel=s.per_channel,
                             weight_type=weight_type)
            return {"method": "dynamic", "engine": "onnxruntime.quantization.quantize_dynamic", "op_types": ops,
                    "weight_type": s.weight_type, "per_channel": s.per_channel}
        ops = s.op_types or DEFAULT_STATIC_OPS
        method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                  "entropy": CalibrationMethod.Entropy}.get(s.calibrate_method)
        if method is None:
            raise SpeechoptError(f"unknown calibration method {s.calibrate_method!r}")
        # Default: symmetric int8 activations and weights in QDQ form, TensorRT's explicit-quantization
        # contract. quint8: asymmetric uint8 activations (int8 weights), what ONNX Runtime's CPU kernels run
        # fastest (u8s8; benchmarks/results/separable-ctc-peers.md).
        activation = types[s.activation_type]
        symmetric = s.activation_type == "qint8"
        with _flat_histograms():
            quantize_static(str(pre), str(dst), _Calibration(calibration), quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=ops, per_channel=s.per_channel, activation_type=activation,
                            weight_type=QuantType.QInt8, calibrate_method=method,
                            extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True})
        return {"method": "static", "engine": "onnxruntime.quantization.quantize_static", "format": "QDQ",
                "op_types": ops, "calibrate_method": s.calibrate_method, "calibration_utterances": len(calibration),
                **({"histogram_bins": ENTROPY_BINS} if s.calibrate_method == "entropy" else {}),
                "per_channel": s.per_channel, "activation_type": s.activation_type, "symmetric": symmetric}


@contextlib.contextmanager
def _flat_histograms():
    """ONNX Runtime's histogram calibrators (percentile, entropy) stack every calibration run's activations with
    np.asarray, which fails on utterances of different lengths (microsoft/onnxruntime#18792; the fix, #32514,
    is not released in 1.32). They flatten what they stack anyway, so each tensor's runs are flattened and
    joined first: the same values, the same histogram. Their progress lines, printed to stdout, go to the
    `onnxruntime.quantization` logger instead (shown with --verbose), so stdout stays ours.

    Entropy: quantize_static builds its collector with 128 histogram bins and 128 quantized bins and takes no
    option to change them, which leaves one candidate threshold, the full range: the result is byte for byte
    minmax's. The collector gets ENTROPY_BINS bins instead (TensorRT's entropy calibrator: 2048 bins, 128
    quantized), so the KL search has thresholds to choose from."""
    import numpy as np
    from onnxruntime.quantization.calibrate import HistogramCollector

    original, original_init = HistogramCollector.collect, HistogramCollector.__init__

    def init(self, method, symmetric, num_bins, num_quantized_bins, percentile, scenario):
        if method == "entropy":
            num_bins = max(num_bins, ENTROPY_BINS)
        original_init(self, method, symmetric, num_bins, num_quantized_bins, percentile, scenario)

    def collect(self, name_to_arr):
        flat = {k: np.concatenate([np.asarray(a).ravel() for a in v]) if isinstance(v, list) else v
                for k, v in name_to_arr.items()}
        return original(self, flat)

    HistogramCollector.collect, HistogramCollector.__init__ = collect, init
    try:
        with contextlib.redirect_stdout(_LogLines("onnxruntime.quantization")):
            yield
    finally:
        HistogramCollector.collect, HistogramCollector.__init__ = original, original_init


class _LogLines(io.TextIOBase):
    """A text stream whose lines become INFO records of one logger."""

    def __init__(self, name: str):
        self._log, self._pending = logging.getLogger(name), ""

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            if line.strip():
                self._log.info(line)
        return len(text)


def _fp16_onnx(src: Path, dst: Path, s: QuantizeSettings) -> dict:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    allow = s.fp16_ops or DEFAULT_FP16_OPS
    block = sorted({n.op_type for n in model.graph.node} - set(allow))
    converted = convert_float_to_float16(model, keep_io_types=True, op_block_list=block)
    onnx.save(converted, str(dst))
    return {"method": "fp16", "engine": "onnxruntime.transformers.float16", "keep_io_types": True,
            "fp16_ops": allow, "kept_in_fp32": block}


def _quantized_nodes(path: Path) -> int:
    import onnx

    quantized = ("Integer", "QuantizeLinear", "DynamicQuantize", "QLinear")
    return sum(any(q in n.op_type for q in quantized) for n in onnx.load(str(path)).graph.node)


def quantize(source, out, settings: QuantizeSettings, validation_data: str | None = None,
             overwrite: bool = False) -> Artifact:
    """Quantize an ONNX (any method, every graph) or PyTorch (dynamic) artifact into a new, validated one."""
    artifact = source if isinstance(source, Artifact) else load_artifact(source)
    if settings.method not in METHODS:
        raise SpeechoptError(f"unknown quantization method {settings.method!r}; choose one of {', '.join(METHODS)}")
    if settings.activation_type not in ACTIVATION_TYPES:
        raise SpeechoptError(f"unknown activation type {settings.activation_type!r}; choose "
                             f"{' or '.join(ACTIVATION_TYPES)}")
    if settings.activation_type != "qint8" and settings.method != "static":
        raise SpeechoptError("--activation-type is for --method static (dynamic quantizes activations at run time)")
    if is_quantized(artifact):
        raise SpeechoptError(f"{artifact.path}: already quantized ({artifact.manifest.get('quantization', {}).get('method', 'see lineage')}); "
                             "quantize its float parent instead")
    if artifact.format == "pytorch":
        if settings.graphs:
            raise SpeechoptError("--graph selects graphs of an onnx artifact; export with `speechopt export --to onnx` "
                                 "first")
        if settings.method != "dynamic":
            raise SpeechoptError(f"{settings.method} quantization works on onnx artifacts; export with "
                                 "`speechopt export --to onnx` first")
        return _quantize_pytorch(artifact, out, settings, validation_data, overwrite)
    if artifact.format != "onnx":
        raise SpeechoptError(f"{artifact.path}: cannot quantize a {artifact.format} artifact (onnx or pytorch)")

    if settings.method == "static" and not settings.calibration_data:
        raise SpeechoptError("static quantization needs --calibration-data (a manifest of real utterances)")
    unknown = [g for g in settings.graphs if g not in artifact.graphs]
    if unknown:
        raise SpeechoptError(f"{artifact.path} has no graph {unknown[0]!r} (its graphs: {', '.join(artifact.graphs)})")
    task, checks = _sample(artifact, validation_data, 24)
    calibration = None
    if settings.method == "static":
        _, calibration = _sample(artifact, settings.calibration_data, settings.calibration_size)
    parent_out = _outputs(task, artifact, checks)
    manifest = {k: v for k, v in artifact.manifest.items() if k not in ("files", "lineage", "created", "name")}
    files = [g["file"] for g in artifact.graphs.values()]
    with tempfile.TemporaryDirectory(prefix="speechopt-quant-") as tmp:
        info: dict = {}
        for graph, spec in artifact.graphs.items():
            src, dst = artifact.file(spec["file"]), Path(tmp) / spec["file"]
            if settings.graphs and graph not in settings.graphs:  # a per-graph trial: this one stays float
                shutil.copyfile(src, dst)
                info[graph] = {"skipped": "not among the graphs asked for (--graph): kept in float"}
                continue
            if settings.method == "fp16":
                info[graph] = _fp16_onnx(src, dst, settings)
                continue
            feeds = task.calibration_feeds(artifact, calibration, graph) if calibration is not None else None
            info[graph] = _quantize_onnx(src, dst, settings, feeds)
            if not _quantized_nodes(dst):
                # a graph without those ops (a convolution-only postnet) stays float; the artifact is still int8
                # where it has the ops, and says which graphs it left alone
                shutil.copyfile(src, dst)
                info[graph] = {"skipped": f"no {'/'.join(info[graph]['op_types'])} nodes: kept in float"}
        if all("skipped" in i for i in info.values()):
            ops = "/".join(settings.op_types or (DEFAULT_STATIC_OPS if settings.method == "static" else DEFAULT_DYNAMIC_OPS))
            raise SpeechoptError(f"nothing was quantized: {artifact.path} has no {ops} nodes; name the op types to "
                                 "quantize with --op-type (e.g. Conv)")
        manifest["validation"] = task.agreement(artifact, parent_out, _outputs(task, _candidate(Path(tmp), manifest, files), checks))
        manifest["quantization"] = info["model"] if list(info) == ["model"] else {"method": settings.method, "graphs": info}
        manifest["precision"] = "fp16" if settings.method == "fp16" else "int8"
        writers = {f: (lambda p, src=Path(tmp) / f: shutil.move(str(src), str(p))) for f in files}
        return write_artifact(out, manifest, writers, parent=artifact, step="quantize", settings=asdict(settings),
                              overwrite=overwrite)


def _quantize_pytorch(artifact: Artifact, out, settings: QuantizeSettings, validation_data, overwrite) -> Artifact:
    """torch.ao dynamic int8 of LSTM/GRU/Linear, saved as TorchScript (packed int8 weights), one file per graph."""
    import warnings

    import torch

    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.models.registry import get_architecture

    model = load_pytorch_model(artifact)
    # torch.ao.quantization is deprecated upstream in favour of torchao, but torchao has no dynamic int8
    # LSTM; torch.ao's quantize_dynamic is still the one API that quantizes nn.LSTM, so it is used here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qmodel = torch.ao.quantization.quantize_dynamic(model, {torch.nn.LSTM, torch.nn.GRU, torch.nn.Linear},
                                                        dtype=torch.qint8)
    config = get_architecture(artifact.architecture["name"]).export_config(artifact.manifest)
    task, checks = _sample(artifact, validation_data, 24)
    parent_out = _outputs(task, artifact, checks)
    manifest = {k: v for k, v in artifact.manifest.items() if k not in ("files", "lineage", "created", "name")}
    manifest["graphs"] = {g: {**spec, "file": f"{g}.ts"} for g, spec in artifact.graphs.items()}
    modules = config.modules(qmodel)
    with tempfile.TemporaryDirectory(prefix="speechopt-quant-") as tmp:
        for graph in manifest["graphs"]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # traced with the export config's batch of 2 different lengths; validation below runs batch 1,
                # so a specialised batch axis would be caught
                scripted = torch.jit.trace(modules[graph], config.example_inputs(graph), check_trace=False)
            torch.jit.save(scripted, str(Path(tmp) / f"{graph}.ts"))
        files = [f"{g}.ts" for g in manifest["graphs"]]
        validation = task.agreement(artifact, parent_out, _outputs(task, _candidate(Path(tmp), {**manifest, "format": "torchscript"}, files), checks))
        manifest.update(format="torchscript", validation=validation, precision="int8",
                        quantization={"method": "dynamic", "engine": "torch.ao.quantization.quantize_dynamic",
                                      "modules": ["LSTM", "GRU", "Linear"], "weight_type": "qint8",
                                      "note": "torch.ao quantization is deprecated upstream (torchao replaces it) "
                                              "but torchao does not quantize nn.LSTM"})
        writers = {f: (lambda p, src=Path(tmp) / f: shutil.move(str(src), str(p))) for f in files}
        return write_artifact(out, manifest, writers, parent=artifact, step="quantize", settings=asdict(settings),
                              overwrite=overwrite)


def adopt_quantized(source, graph_files: dict, out, info: dict, validation_data: str | None = None,
                    overwrite: bool = False) -> Artifact:
    """An artifact of ONNX graphs that another tool quantized from `source`'s (Optimum's ORTQuantizer, say):
    `graph_files` {graph: path} replaces those graphs, `info` says what made them (recorded as the manifest's
    `quantization`). Validated against `source` on real data like `quantize`, so a peer recipe is measured
    through the same task, drivers and bench as speechopt's own."""
    artifact = source if isinstance(source, Artifact) else load_artifact(source)
    if artifact.format != "onnx" or is_quantized(artifact):
        raise SpeechoptError(f"{artifact.path}: adopt a quantization of a float onnx artifact (this is a "
                             f"{'quantized ' if is_quantized(artifact) else ''}{artifact.format} one)")
    unknown = [g for g in graph_files if g not in artifact.graphs]
    if unknown:
        raise SpeechoptError(f"{artifact.path} has no graph {unknown[0]!r} (its graphs: {', '.join(artifact.graphs)})")
    task, checks = _sample(artifact, validation_data, 24)
    parent_out = _outputs(task, artifact, checks)
    manifest = {k: v for k, v in artifact.manifest.items() if k not in ("files", "lineage", "created", "name")}
    files = [g["file"] for g in artifact.graphs.values()]
    with tempfile.TemporaryDirectory(prefix="speechopt-quant-") as tmp:
        for graph, spec in artifact.graphs.items():
            shutil.copyfile(graph_files.get(graph, artifact.file(spec["file"])), Path(tmp) / spec["file"])
        manifest["validation"] = task.agreement(artifact, parent_out,
                                                _outputs(task, _candidate(Path(tmp), manifest, files), checks))
        manifest["quantization"] = dict(info)
        manifest["precision"] = info.get("precision", "int8")
        writers = {f: (lambda p, src=Path(tmp) / f: shutil.move(str(src), str(p))) for f in files}
        return write_artifact(out, manifest, writers, parent=artifact, step="quantize",
                              settings={"method": "adopted", **{k: v for k, v in info.items() if k != "precision"}},
                              overwrite=overwrite)
