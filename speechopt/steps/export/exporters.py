"""The exporters: one graph (a torch module, its example inputs, names and dynamic axes) to one file.

Each returns what the manifest's `export` section records of it. Nothing here validates: the driver
checks every exported graph on unseen shapes and the whole artifact on real data before writing it.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

from speechopt.errors import SpeechoptError, first_line


@contextlib.contextmanager
def quiet_loggers(*names: str):
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def torchscript(module, example, path: Path, mode: str, arch: str) -> dict:
    import torch

    # Deprecation and TracerWarnings are silenced on purpose: the deprecation is recorded in the manifest's
    # notes, and the dynamic-shape check and validation test what a bad trace would break, on unseen inputs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            scripted = torch.jit.trace(module, example, check_trace=False) if mode == "trace" else torch.jit.script(module)
        except Exception as exc:  # torch.jit raises frontend/RuntimeError/NotSupportedError types
            other = "script" if mode == "trace" else "trace"
            raise SpeechoptError(f"torch.jit.{mode} cannot compile {arch} ({first_line(exc)}); "
                                 f"try mode {other} or --to onnx") from None
        torch.jit.save(scripted, str(path))
    return {"exporter": f"torch.jit.{mode}", "deprecated_upstream": True}


def onnx_legacy(module, example, path: Path, opset: int, names: tuple, dynamic_axes: dict) -> None:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's DeprecationWarning and TracerWarnings
        torch.onnx.export(module, example, str(path), dynamo=False, opset_version=opset,
                          input_names=names[0], output_names=names[1], dynamic_axes=dynamic_axes)


def onnx_dynamo(module, example, path: Path, opset: int, names: tuple, dynamic_shapes) -> None:
    import torch

    with warnings.catch_warnings(), quiet_loggers("torch.onnx", "torch.export", "onnxscript"):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(path), dynamo=True, opset_version=opset, input_names=names[0],
                          output_names=names[1], dynamic_shapes=dynamic_shapes, external_data=False, verbose=False,
                          report=False)


def onnx(module, example, path: Path, opset: int, order: list[str], reason: str, requested: str, arch: str,
         names: tuple, dynamic_axes: dict, dynamic_shapes, check_dynamic) -> dict:
    """Try the exporters in `order`; the first whose file passes the checker and `check_dynamic()` wins."""
    import onnx as onnx_lib

    attempts = []
    for name in order:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        try:
            if name == "dynamo":
                onnx_dynamo(module, example, path, opset, names, dynamic_shapes)
            else:
                onnx_legacy(module, example, path, opset, names, dynamic_axes)
            onnx_lib.checker.check_model(str(path), full_check=True)
            dynamic = check_dynamic()
        except Exception as exc:  # exporters raise many types; each failure is recorded, the next one tried
            attempts.append({"exporter": name, "error": first_line(exc)})
            logging.getLogger(__name__).info("onnx export with the %s exporter failed: %s", name, first_line(exc))
            continue
        proto = onnx_lib.load(str(path), load_external_data=False)
        opsets = {imp.domain or "ai.onnx": imp.version for imp in proto.opset_import}
        return {
            "exporter": name, "api": f"torch.onnx.export(dynamo={name == 'dynamo'})", "requested_exporter": requested,
            "fallback": bool(attempts), "reason": reason, "attempts": attempts,
            "opset": opsets.get("ai.onnx", opset), "requested_opset": opset,
            "dynamic_axes": {k: list(v.values()) for k, v in dynamic_axes.items()},
            "checker": "onnx.checker.check_model(full_check=True)", "dynamic_shape_check": dynamic,
        }
    tried = "; ".join(f"{a['exporter']}: {a['error']}" for a in attempts)
    hint = "" if requested == "auto" else " (try --exporter auto)"
    raise SpeechoptError(f"ONNX export of {arch} failed{hint}: {tried}")


def has_rnn(model, kind=None) -> bool:
    from torch import nn

    return any(isinstance(m, kind or nn.RNNBase) for m in model.modules())


@contextlib.contextmanager
def rnn_while_loop_decompositions(model):
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
            if has_rnn(model, nn.LSTM) and hasattr(_patches, "register_lstm_while_loop_decomposition"):
                stack.enter_context(_patches.register_lstm_while_loop_decomposition())
                used = True
            if has_rnn(model, nn.GRU) and hasattr(_patches, "register_gru_while_loop_decomposition"):
                stack.enter_context(_patches.register_gru_while_loop_decomposition())
                used = True
        yield used


def exported_program(module, example, path: Path, arch: str, dynamic_shapes) -> dict:
    import torch

    with warnings.catch_warnings(), rnn_while_loop_decompositions(module) as while_loop:
        warnings.simplefilter("ignore")
        try:
            # Deferred runtime asserts: the frame stacking reshape in lstm-ctc yields guards the solver cannot
            # prove for all T (e.g. T' != 2T'); as runtime asserts they hold and T stays dynamic.
            program = torch.export.export(module, example, dynamic_shapes=dynamic_shapes,
                                          prefer_deferred_runtime_asserts_over_guards=True)
        except Exception as exc:  # UserError (constraint violations), Unsupported, ... all mean the same here
            raise SpeechoptError(f"torch.export cannot keep the batch and time axes dynamic for {arch} "
                                 f"({first_line(exc)}); export with --to onnx instead") from None
    torch.export.save(program, str(path))
    return {"exporter": "torch.export.export", "rnn_while_loop_decomposition": while_loop,
            "deferred_runtime_asserts": True, "weights_only_safe_load": False}
