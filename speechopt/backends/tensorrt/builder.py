"""The native build: parse an ONNX graph with TensorRT's ONNX parser and build a serialized engine.

Written against NVIDIA's sources for TensorRT 10.x/11.x (see docs/gpu.md). The call sequence is tested
against a fake `tensorrt` module on CPU; the calls themselves have **not been run on a GPU** in this
repository's CI: they run in the GPU lane (`make test-gpu`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Sequence

from speechopt.backends.tensorrt.compat import HARDWARE_LEVELS, version_tuple
from speechopt.errors import SpeechoptError

_LOG = logging.getLogger("speechopt.build")


def make_logger(trt):
    """A TensorRT logger that keeps errors (for the one-line message) and forwards warnings."""

    class _Logger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity, msg):
            if severity in (trt.ILogger.INTERNAL_ERROR, trt.ILogger.ERROR):
                self.errors.append(" ".join(str(msg).split()))
            elif severity == trt.ILogger.WARNING:
                _LOG.warning("TensorRT: %s", msg)

    return _Logger()


def summarize_errors(errors: Sequence[str], limit: int = 3) -> str:
    """The first `limit` TensorRT errors on one line, and how many more there were."""
    errors = [e for e in errors if e]
    if not errors:
        return "no error message from TensorRT"
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(errors[:limit]) + more


def build_native(onnx_path: Path, shapes: dict, plan: dict, precision: str, workspace_mb: int,
                 timing_cache: Path | None, version_compatible: bool, hardware: str, log) -> tuple[bytes, dict]:
    """Parse the ONNX file and build a serialized engine. Needs TensorRT and a GPU (not run in CI).

    `shapes` is {input: {"min", "opt", "max"}} for this graph (see profiles.graph_shapes), `plan` comes
    from precision.plan_precision. Returns (engine bytes, {"build_seconds", "timing_cache_note"}).
    """
    import tensorrt as trt

    from speechopt.io import atomic_write_bytes

    version = trt.__version__
    logger = make_logger(trt)
    builder = trt.Builder(logger)
    flags = 0
    if plan["strongly_typed"] and version_tuple(version)[0] < 11:
        # 10.x: opt in to strong typing. 11.x: always strongly typed (the flag is deprecated and ignored).
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    log(f"parsing {onnx_path} with TensorRT {version}")
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise SpeechoptError(f"{onnx_path}: TensorRT {version} cannot parse the model: {summarize_errors(errors + logger.errors)}")
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    if sorted(names) != sorted(shapes):
        raise SpeechoptError(f"{onnx_path}: model inputs {names} do not match the signature {sorted(shapes)}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    for flag in plan["flags"]:
        try:
            config.set_flag(getattr(trt.BuilderFlag, flag))
        except AttributeError:
            raise SpeechoptError(f"BuilderFlag.{flag} is not available on TensorRT {version}") from None
    if precision == "fp32":
        # TF32 is on by default; fp32 here means fp32, so that drift measures the engine, not TF32.
        with contextlib.suppress(AttributeError):
            config.clear_flag(trt.BuilderFlag.TF32)
    profile = builder.create_optimization_profile()
    for name, s in shapes.items():
        try:
            profile.set_shape(name, tuple(s["min"]), tuple(s["opt"]), tuple(s["max"]))
        except ValueError as exc:
            raise SpeechoptError(f"TensorRT refused the profile for {name} {s}: {exc}") from None
    if config.add_optimization_profile(profile) < 0:
        raise SpeechoptError(f"TensorRT refused the optimization profile {shapes}: {summarize_errors(logger.errors)}")
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if hardware != "none":
        try:
            config.hardware_compatibility_level = getattr(trt.HardwareCompatibilityLevel, HARDWARE_LEVELS[hardware])
        except AttributeError:
            raise SpeechoptError(f"hardware compatibility {hardware} is not available on TensorRT {version}") from None

    cache_note = None
    if timing_cache is not None:
        data = timing_cache.read_bytes() if timing_cache.is_file() else b""
        n_errors = len(logger.errors)
        cache = config.create_timing_cache(data)
        # set_timing_cache returns False for a cache from another device (pyCoreDoc.h); an unreadable blob
        # (other TensorRT version, truncated file) is logged as an ERROR ("The timing cache will not be
        # used", NVIDIA/TensorRT#3566), and the binding returns None if TensorRT returns no cache at all.
        # In every case: start a fresh cache rather than fail the build.
        if cache is None or not config.set_timing_cache(cache, ignore_mismatch=False) or len(logger.errors) > n_errors:
            cache_note = f"{timing_cache} was made on another GPU or TensorRT version; started a new cache"
            _LOG.warning(cache_note)
            del logger.errors[n_errors:]  # not the build's errors: keep them out of a later failure line
            cache = config.create_timing_cache(b"")
            if cache is None or not config.set_timing_cache(cache, ignore_mismatch=False):
                raise SpeechoptError(f"TensorRT {version} could not create a timing cache: {summarize_errors(logger.errors)}")

    log(f"building a {precision} engine (minutes for a large model)")
    t0 = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - t0  # a blocking call: no device work is left in flight
    if serialized is None:
        raise SpeechoptError(f"TensorRT {version} could not build the engine: {summarize_errors(logger.errors)}")
    if timing_cache is not None:
        # The builder adds its new timings to the attached cache; get_timing_cache returns it (pyCoreDoc.h).
        atomic_write_bytes(timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))
    return bytes(memoryview(serialized)), {"build_seconds": round(seconds, 2), "timing_cache_note": cache_note}
