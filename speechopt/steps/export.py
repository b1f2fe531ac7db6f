"""Export a PyTorch ASR artifact to TorchScript, ONNX or a torch.export program, validated on real speech.

Every export is checked twice before anything is written: on random inputs of batch sizes and lengths the
exporter never saw (a frozen dynamic axis fails here, not in production), and on real utterances from a
manifest, per utterance and in padded batches, against the source model (log-prob differences over valid
frames and greedy transcripts). The model file is built in a temporary folder and only moved into the
artifact (written atomically) when both checks pass, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from speechopt.artifact import Artifact, library_versions, load_artifact, write_artifact
from speechopt.errors import SpeechoptError

EXPORT_FILES = {"torchscript": "model.ts", "onnx": "model.onnx", "exported-program": "model.pt2"}
ONNX_EXPORTERS = ("auto", "dynamo", "legacy")
TORCHSCRIPT_MODES = ("trace", "script")
# Exports trace a batch of 2 utterances of different lengths (so no axis is 1 or equal by accident);
# the dynamic-shape check then runs batch sizes and lengths (odd and even) that the export never saw.
EXAMPLE_FRAMES = (160, 117)
DYNAMIC_CHECK_SHAPES = ((1, 37), (3, 101), (3, 263))
# torch.export needs a lower bound on the time axis; 8 frames = 80 ms, shorter than any real utterance.
MIN_FRAMES = 8
VALIDATION_BATCH = 8
DEFAULT_ATOL = 1e-3  # fp32: exporters reorder float ops, diffs measured here are ~1e-6
NOTE_TORCHSCRIPT = ("TorchScript (torch.jit.trace/script) is deprecated upstream in favour of torch.export; "
                    "prefer --to exported-program or --to onnx for new deployments")
NOTE_PT2 = ("loading a .pt2 (torch.export.load) uses pickle in torch 2.13 and is not weights-only safe: "
            "load only artifacts you trust")
NOTE_PT2_RNN = ("the LSTM/GRU layers run as a torch.export while_loop, one step at a time: correct, but run eagerly "
                "(torch.export.load(...).module()) it is far slower than eager PyTorch (measured 30-140x on crnn-ctc); "
                "use --to onnx for serving")

log = logging.getLogger(__name__)


def export_model(source, to: str, out, *, mode: str = "trace", opset: int = 17, exporter: str = "auto",
                 validation_data=None, max_validation_utts: int = 32, atol: float = DEFAULT_ATOL,
                 threads: int | None = None, overwrite: bool = False) -> Artifact:
    """Export the pytorch ASR artifact `source` (path, `zoo:NAME` or Artifact) to format `to` at `out`.

    `mode` (trace|script) applies to torchscript; `opset` and `exporter` (auto|dynamo|legacy) to onnx.
    `validation_data` is a manifest of real utterances (default: the bundled eval set); the first
    `max_validation_utts` are used. `threads` sets torch's and onnxruntime's intra-op threads (default:
    torch's current setting). Raises SpeechoptError, writing nothing, when export or validation fails.
    """
    if to not in EXPORT_FILES:
        raise SpeechoptError(f"cannot export to {to!r}; choose one of {', '.join(EXPORT_FILES)}")
    if to == "torchscript" and mode not in TORCHSCRIPT_MODES:
        raise SpeechoptError(f"unknown TorchScript mode {mode!r}; choose trace or script")
    if to == "onnx" and exporter not in ONNX_EXPORTERS:
        raise SpeechoptError(f"unknown ONNX exporter {exporter!r}; choose one of {', '.join(ONNX_EXPORTERS)}")
    if not atol >= 0:
        raise SpeechoptError(f"atol must be a number >= 0, got {atol}")
    if max_validation_utts < 1:
        raise SpeechoptError(f"max_validation_utts must be at least 1, got {max_validation_utts}")
    artifact = _load_source(source)
    out = Path(out)
    if out.exists() and not overwrite:
        raise SpeechoptError(f"{out} already exists (use --overwrite to replace it)")
    if to == "onnx":
        _require_onnx()
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    # The exported model runs with as many threads as the source, so neither oversubscribes a busy machine.
    runner_threads = torch.get_num_threads()

    from speechopt.audio.features import Frontend
    from speechopt.data.manifest import read_manifest
    from speechopt.evaluate import load_utterance_audio
    from speechopt.models.pytorch import load_pytorch_model

    data = _validation_manifest(validation_data)
    utterances = read_manifest(data)[:max_validation_utts]
    if not utterances:
        raise SpeechoptError(f"{data}: no utterances to validate the export on")
    model = load_pytorch_model(artifact)
    frontend = Frontend(artifact.frontend())
    audios = load_utterance_audio(utterances, frontend.config.sample_rate, progress="validation audio")

    filename = EXPORT_FILES[to]
    manifest = {key: artifact.manifest[key] for key in ("task", "architecture", "frontend", "tokenizer", "signature")}
    manifest["format"] = to
    manifest["versions"] = library_versions(*(("onnx", "onnxruntime", "onnxscript") if to == "onnx" else ()))
    settings = {"to": to, "atol": atol, "threads": runner_threads, "validation_data": str(data),
                "max_validation_utts": max_validation_utts}
    if to == "torchscript":
        settings["mode"] = mode
    if to == "onnx":
        settings.update(opset=opset, exporter=exporter)

    n_features = int(artifact.manifest["signature"]["inputs"][0]["shape"][2])
    example = _example_inputs(n_features, time_steps_per_frame(artifact.frontend()))
    arch = artifact.architecture["name"]
    with tempfile.TemporaryDirectory(prefix="speechopt-export-") as tmp:
        path = Path(tmp) / filename
        candidate = Artifact(Path(tmp), {**manifest, "files": {filename: {"role": "model", "sha256": "", "bytes": 0}}})

        def check_dynamic() -> list[dict]:
            return check_dynamic_shapes(model, candidate, n_features, atol, runner_threads)

        if to == "torchscript":
            info = _export_torchscript(model, example, path, mode, arch)
            info["dynamic_shape_check"] = check_dynamic()
        elif to == "onnx":
            info = _export_onnx(model, example, path, opset, exporter, arch, check_dynamic)
        else:
            info = _export_program(model, example, path, arch)
            try:
                info["dynamic_shape_check"] = check_dynamic()
            except SpeechoptError as exc:
                raise SpeechoptError(f"torch.export cannot keep the batch and time axes dynamic for {arch} "
                                     f"({exc}); export with --to onnx instead") from None
        validation = validate_export(model, candidate, frontend, audios, utterances, artifact.tokenizer(), atol,
                                     runner_threads)
        validation["data"] = str(data)
        manifest["export"] = info
        manifest["validation"] = validation
        notes = {"torchscript": [NOTE_TORCHSCRIPT], "exported-program": [NOTE_PT2]}.get(to, [])
        if info.get("rnn_while_loop_decomposition"):
            notes.append(NOTE_PT2_RNN)
        if notes:
            manifest["notes"] = notes
        return write_artifact(out, manifest, {filename: lambda p: shutil.move(str(path), str(p))},
                              parent=artifact, step="export", settings=settings, overwrite=overwrite)


# -- inputs and sources ------------------------------------------------------------------------------

def _load_source(source) -> Artifact:
    if isinstance(source, Artifact):
        artifact = source
    else:
        from speechopt.zoo import resolve

        artifact = load_artifact(resolve(source))
    if artifact.format != "pytorch":
        raise SpeechoptError(f"{artifact.path}: export needs a pytorch artifact as source, this one is "
                             f"{artifact.format} (export from its pytorch parent instead)")
    if artifact.task != "asr":
        raise SpeechoptError(f"{artifact.path}: export supports asr models, this one is {artifact.task}")
    return artifact


def _validation_manifest(validation_data) -> Path:
    from speechopt.zoo import resolve, zoo_root

    if validation_data is not None:
        path = resolve(validation_data)
        if not path.exists():
            raise SpeechoptError(f"{path}: validation manifest not found")
        return path
    bundled = zoo_root() / "data" / "eval" / "manifest.jsonl"
    if not bundled.is_file():
        raise SpeechoptError("no validation data: pass a manifest of real utterances (--data); "
                             "the bundled eval set is not installed")
    return bundled


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        from speechopt.errors import BackendUnavailable

        raise BackendUnavailable(f"ONNX export needs onnx and onnxruntime ({exc.name} is missing); "
                                 "pip install 'speechopt[onnx]'") from None


def time_steps_per_frame(frontend_config) -> int:
    """Model input time steps per 10 ms frame: 1 for spectral features, the samples per 10 ms for waveforms.

    The shape tables above count 10 ms frames; a waveform model's time axis is samples, and 37 samples
    would be shorter than wav2vec2's first convolution window (400 samples for wav2vec2-base).
    """
    return frontend_config.sample_rate // 100 if frontend_config.kind == "waveform" else 1


def _example_inputs(n_features: int, time_scale: int = 1):
    import torch

    generator = torch.Generator().manual_seed(0)
    steps = [f * time_scale for f in EXAMPLE_FRAMES]
    features = torch.randn(len(steps), max(steps), n_features, generator=generator)
    lengths = torch.tensor(steps, dtype=torch.int64)
    return features * _frame_mask(lengths, features.shape[1]), lengths


def _min_steps(example) -> int:
    """MIN_FRAMES in the example's time unit (frames, or samples for a waveform model)."""
    return MIN_FRAMES * (int(example[0].shape[1]) // max(EXAMPLE_FRAMES))


def _frame_mask(lengths, frames: int):
    import torch

    return (torch.arange(frames)[None, :] < lengths[:, None]).unsqueeze(-1).to(torch.float32)


def _random_batch(batch: int, frames: int, n_features: int, seed: int, min_frames: int = MIN_FRAMES):
    """Zero-padded features like the frontend's: the first utterance is full length, the others shorter."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([max(min_frames, frames - (frames * i) // 3) for i in range(batch)], dtype=torch.int64)
    features = torch.randn(batch, frames, n_features, generator=generator)
    return (features * _frame_mask(lengths, frames)).numpy(), lengths.numpy()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]


def _has_rnn(model, kind=None) -> bool:
    from torch import nn

    return any(isinstance(m, kind or nn.RNNBase) for m in model.modules())


# -- exporters ---------------------------------------------------------------------------------------

def _export_torchscript(model, example, path: Path, mode: str, arch: str) -> dict:
    import torch

    # Deprecation and TracerWarnings are silenced on purpose: the deprecation is recorded in the manifest's
    # notes, and the dynamic-shape check and validation test what a bad trace would break, on unseen inputs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = torch.jit.trace(model, example, check_trace=False) if mode == "trace" else torch.jit.script(model)
        except Exception as exc:  # torch.jit raises frontend/RuntimeError/NotSupportedError types
            other = "script" if mode == "trace" else "trace"
            raise SpeechoptError(f"torch.jit.{mode} cannot compile {arch} ({_first_line(exc)}); "
                                 f"try mode {other} or --to onnx") from None
        torch.jit.save(module, str(path))
    return {"exporter": f"torch.jit.{mode}", "example_frames": example[1].tolist(), "deprecated_upstream": True}


def _onnx_exporter_order(model, exporter: str) -> tuple[list[str], str]:
    # Measured with torch 2.13 / onnxscript 0.7.2 on the three reference architectures (tiny and default
    # sizes): dynamo=True fails outright on lstm-ctc and crnn-ctc (ConversionError "stack expects each tensor
    # to be equal size" while decomposing aten.lstm with a symbolic time axis; research notes saw it silently
    # freeze T instead on other RNN layouts), while the legacy exporter keeps batch and time dynamic and emits
    # native ONNX LSTM nodes (what TensorRT's parser wants). On cnn-ctc dynamo works (diffs ~1e-6) but
    # takes ~20x longer and down-converts from opset 18. So: RNNs go straight to legacy; other models try the
    # upstream-recommended dynamo exporter first and fall back to legacy if it fails or freezes an axis.
    if exporter == "legacy":
        return ["legacy"], "requested"
    if exporter == "dynamo":
        return ["dynamo"], "requested"
    preferred = getattr(model, "onnx_exporter", None)  # a model that knows which exporter suits it
    if preferred:
        return [preferred], getattr(model, "onnx_exporter_reason", f"{type(model).__name__} prefers {preferred}")
    if _has_rnn(model):
        return ["legacy"], "model has LSTM/GRU layers: torch 2.13's dynamo exporter cannot keep their time axis dynamic"
    return ["dynamo", "legacy"], "no recurrent layers: dynamo first, legacy if it fails the dynamic-shape check"


def _onnx_legacy(model, example, path: Path, opset: int) -> None:
    import torch

    names = _io_names()
    dynamic_axes = {
        "features": {0: "batch", 1: "frames"},
        "lengths": {0: "batch"},
        "log_probs": {0: "batch", 1: "out_frames"},
        "out_lengths": {0: "batch"},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's DeprecationWarning and TracerWarnings
        torch.onnx.export(model, example, str(path), dynamo=False, opset_version=opset,
                          input_names=names[0], output_names=names[1], dynamic_axes=dynamic_axes)


def _onnx_dynamo(model, example, path: Path, opset: int) -> None:
    import torch
    from torch.export import Dim

    batch, frames = Dim("batch", min=1), Dim("frames", min=_min_steps(example))
    names = _io_names()
    with warnings.catch_warnings(), _quiet_loggers("torch.onnx", "torch.export", "onnxscript"):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, str(path), dynamo=True, opset_version=opset, input_names=names[0],
                          output_names=names[1], dynamic_shapes=({0: batch, 1: frames}, {0: batch}),
                          external_data=False, verbose=False, report=False)


def _io_names():
    return ["features", "lengths"], ["log_probs", "out_lengths"]


@contextlib.contextmanager
def _quiet_loggers(*names: str):
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _export_onnx(model, example, path: Path, opset: int, exporter: str, arch: str, check_dynamic) -> dict:
    import onnx

    order, reason = _onnx_exporter_order(model, exporter)
    attempts = []
    for name in order:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        try:
            (_onnx_dynamo if name == "dynamo" else _onnx_legacy)(model, example, path, opset)
            onnx.checker.check_model(str(path), full_check=True)
            dynamic = check_dynamic()
        except Exception as exc:  # exporters raise many types; each failure is recorded, the next one tried
            attempts.append({"exporter": name, "error": _first_line(exc)})
            log.info("onnx export with the %s exporter failed: %s", name, _first_line(exc))
            continue
        proto = onnx.load(str(path), load_external_data=False)
        opsets = {imp.domain or "ai.onnx": imp.version for imp in proto.opset_import}
        return {
            "exporter": name,
            "api": f"torch.onnx.export(dynamo={name == 'dynamo'})",
            "requested_exporter": exporter,
            "fallback": bool(attempts),
            "reason": reason,
            "attempts": attempts,
            "opset": opsets.get("ai.onnx", opset),
            "requested_opset": opset,
            "dynamic_axes": {"features": ["batch", "frames"], "lengths": ["batch"],
                             "log_probs": ["batch", "out_frames"], "out_lengths": ["batch"]},
            "example_frames": example[1].tolist(),
            "checker": "onnx.checker.check_model(full_check=True)",
            "dynamic_shape_check": dynamic,
        }
    tried = "; ".join(f"{a['exporter']}: {a['error']}" for a in attempts)
    hint = "" if exporter == "auto" else " (try --exporter auto)"
    raise SpeechoptError(f"ONNX export of {arch} failed{hint}: {tried}")


@contextlib.contextmanager
def _rnn_while_loop_decompositions(model):
    """Let torch.export keep an LSTM/GRU's time axis symbolic (else it unrolls and specializes T).

    Uses torch.export._patches, the private helper torch.onnx itself uses for this; without it (another
    torch version) the export is attempted as is and fails with a clear message if T gets specialized.
    """
    from torch import nn

    with contextlib.ExitStack() as stack:
        used = False
        try:
            from torch.export import _patches
        except ImportError:
            _patches = None
        if _patches is not None:
            if _has_rnn(model, nn.LSTM) and hasattr(_patches, "register_lstm_while_loop_decomposition"):
                stack.enter_context(_patches.register_lstm_while_loop_decomposition())
                used = True
            if _has_rnn(model, nn.GRU) and hasattr(_patches, "register_gru_while_loop_decomposition"):
                stack.enter_context(_patches.register_gru_while_loop_decomposition())
                used = True
        yield used


def _export_program(model, example, path: Path, arch: str) -> dict:
    import torch
    from torch.export import Dim

    batch, frames = Dim("batch", min=1), Dim("frames", min=_min_steps(example))
    with warnings.catch_warnings(), _rnn_while_loop_decompositions(model) as while_loop:
        warnings.simplefilter("ignore")
        try:
            # Deferred runtime asserts: the frame stacking reshape in lstm-ctc yields guards the solver cannot
            # prove for all T (e.g. T' != 2T'); as runtime asserts they hold and T stays dynamic.
            program = torch.export.export(model, example, dynamic_shapes=({0: batch, 1: frames}, {0: batch}),
                                          prefer_deferred_runtime_asserts_over_guards=True)
        except Exception as exc:  # UserError (constraint violations), Unsupported, ... all mean the same here
            raise SpeechoptError(f"torch.export cannot keep the batch and time axes dynamic for {arch} "
                                 f"({_first_line(exc)}); export with --to onnx instead") from None
    torch.export.save(program, str(path))
    return {
        "exporter": "torch.export.export",
        "dynamic_shapes": {"features": {"0": "batch", "1": f"frames>={_min_steps(example)}"}, "lengths": {"0": "batch"}},
        "rnn_while_loop_decomposition": while_loop,
        "deferred_runtime_asserts": True,
        "example_frames": example[1].tolist(),
        "weights_only_safe_load": False,
    }


# -- checks ------------------------------------------------------------------------------------------

def _eager(model, features: np.ndarray, lengths: np.ndarray):
    from speechopt.evaluate import torch_infer

    return torch_infer(model)(features, lengths)


def _exported_runner(candidate: Artifact, threads: int | None):
    import speechopt.backends  # noqa: F401  (registers the runners)
    from speechopt.backends.base import create_runner

    # Validation runs the exported file through the same runner that `bench` will use.
    return create_runner(candidate, "cpu", threads=threads)


def check_dynamic_shapes(model, candidate: Artifact, n_features: int, atol: float,
                         threads: int | None = None) -> list[dict]:
    """Run the exported model on batch sizes and lengths never seen at export and compare with eager.

    Raises SpeechoptError naming the first shape that fails to run or disagrees.
    """
    results = []
    scale = time_steps_per_frame(candidate.frontend())
    with _exported_runner(candidate, threads) as runner:
        for seed, (batch, frames) in enumerate(DYNAMIC_CHECK_SHAPES):
            frames *= scale
            features, lengths = _random_batch(batch, frames, n_features, seed, MIN_FRAMES * scale)
            ref_lp, ref_len = _eager(model, features, lengths)
            try:
                out = runner.infer({"features": features, "lengths": lengths})
            except Exception as exc:  # a frozen axis surfaces as the runtime's own shape error
                raise SpeechoptError(f"exported model fails on batch {batch} x {frames} frames, a shape not "
                                     f"seen at export ({_first_line(exc)})") from None
            lp, out_len = out["log_probs"], out["out_lengths"]
            if lp.shape != ref_lp.shape or not np.array_equal(out_len, ref_len):
                raise SpeechoptError(f"exported model gives shape {lp.shape} for batch {batch} x {frames} frames, "
                                     f"the source gives {ref_lp.shape}: a dynamic axis was frozen")
            diff = max(float(np.abs(lp[i, :n] - ref_lp[i, :n]).max()) for i, n in enumerate(ref_len))
            if not diff <= atol:
                raise SpeechoptError(f"exported model differs by {diff:.3g} (atol {atol:g}) on batch {batch} x "
                                     f"{frames} frames, a shape not seen at export")
            results.append({"batch": batch, "frames": frames, "max_abs_diff": diff})
    return results


def _compare(model, runner, frontend, audios, tokenizer, batches) -> dict:
    from speechopt.decode import ctc_greedy

    max_diff, total, count = 0.0, 0.0, 0
    worst = None
    mismatches = []
    for idx in batches:
        feats, frames = frontend.from_arrays([audios[i] for i in idx])
        features, lengths = feats.numpy(), frames.numpy()
        ref_lp, ref_len = _eager(model, features, lengths)
        out = runner.infer({"features": features, "lengths": lengths})
        lp, out_len = out["log_probs"], out["out_lengths"]
        if lp.shape != ref_lp.shape or not np.array_equal(out_len, ref_len):
            raise SpeechoptError(f"validation failed: exported model output shape {lp.shape} / lengths "
                                 f"{out_len.tolist()} differ from the source's {ref_lp.shape} / {ref_len.tolist()}; "
                                 "no artifact written")
        for j, i in enumerate(idx):
            diff = np.abs(lp[j, : ref_len[j]].astype(np.float64) - ref_lp[j, : ref_len[j]])
            d = float(diff.max()) if diff.size else 0.0
            if (np.isnan(d) or d > max_diff) and not np.isnan(max_diff):  # a NaN sticks as the worst
                max_diff, worst = d, i
            total += float(diff.sum())
            count += diff.size
        for j, (a, b) in enumerate(zip(ctc_greedy(ref_lp, ref_len, tokenizer), ctc_greedy(lp, out_len, tokenizer))):
            if a != b:
                mismatches.append((idx[j], a, b))
    return {"max_abs_diff": max_diff, "mean_abs_diff": total / max(count, 1), "worst": worst,
            "mismatches": mismatches, "sum": total, "count": count}


def validate_export(model, candidate: Artifact, frontend, audios, utterances, tokenizer, atol: float,
                    threads: int | None = None) -> dict:
    """Compare exported and source model on real utterances, one at a time and in padded batches."""
    n = len(audios)
    per_utterance = [[i] for i in range(n)]
    # Manifest order, not length-sorted: mixed lengths make real padding, which masking must handle.
    padded = [list(range(i, min(i + VALIDATION_BATCH, n))) for i in range(0, n, VALIDATION_BATCH)]
    with _exported_runner(candidate, threads) as runner:
        single = _compare(model, runner, frontend, audios, tokenizer, per_utterance)
        batched = _compare(model, runner, frontend, audios, tokenizer, padded)
    for name, result in (("one utterance at a time", single), (f"padded batches of {VALIDATION_BATCH}", batched)):
        if not result["max_abs_diff"] <= atol:
            utt = utterances[result["worst"]].audio_filepath.name
            raise SpeechoptError(f"validation failed: exported model differs from the source by up to "
                                 f"{result['max_abs_diff']:.3g} in log-prob (atol {atol:g}) on {utt}, {name}; "
                                 "no artifact written")
        if result["mismatches"]:
            i, a, b = result["mismatches"][0]
            raise SpeechoptError(f"validation failed: {len(result['mismatches'])} of {n} transcripts differ from the "
                                 f"source ({name}; first {utterances[i].audio_filepath.name}: {a!r} vs {b!r}); "
                                 "no artifact written")
    return {
        "passed": True,
        "utterances": n,
        "atol": atol,
        "max_abs_diff": max(single["max_abs_diff"], batched["max_abs_diff"]),
        "mean_abs_diff": (single["sum"] + batched["sum"]) / max(single["count"] + batched["count"], 1),
        "per_utterance": {"max_abs_diff": single["max_abs_diff"], "mean_abs_diff": single["mean_abs_diff"]},
        "padded_batches": {"batch_size": VALIDATION_BATCH, "max_abs_diff": batched["max_abs_diff"],
                           "mean_abs_diff": batched["mean_abs_diff"]},
        "transcripts_equal": f"{n}/{n}",
        "compared": "log-probs over valid frames and greedy CTC transcripts vs the source pytorch model",
    }
