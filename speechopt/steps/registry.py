"""The step registry: step name -> (settings dataclass, function(source, out, settings, context) -> Artifact).

Recipes (`speechopt run`) and the CLI's chained commands run steps through it, so a recipe can say what a
command does: `speechopt prune --finetune-steps N` is the chain prune -> finetune, and so is a recipe
with those two steps. A step's option names are its settings dataclass's fields, checked before
anything runs (a typo fails in a second, not after an hour of earlier steps).

A new step is one decorated function:

    @register("squash", SquashSettings, "make it smaller")
    def _squash(source: Path, out: Path, settings: SquashSettings, context: StepContext) -> Artifact: ...
"""

from __future__ import annotations

import tempfile
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from speechopt.errors import SpeechoptError
from speechopt.steps.prune import PruneSettings
from speechopt.steps.quantize import QuantizeSettings


@dataclass
class StepContext:
    """What a step gets besides its own settings."""

    data: str | None = None  # the recipe's data manifest: export and quantize validate on it (None: zoo:eval)
    log: Callable[[str], None] = print
    overwrite: bool = False  # replace an existing output (CLI --overwrite; recipes never overwrite)


@dataclass(frozen=True)
class StepType:
    name: str
    settings: type
    run: Callable[[Path, Path, Any, StepContext], Any]
    summary: str


STEPS: dict[str, StepType] = {}


def register(name: str, settings: type, summary: str):
    def decorate(fn):
        STEPS[name] = StepType(name, settings, fn, summary)
        return fn

    return decorate


def get_step(name: str) -> StepType:
    if name not in STEPS:
        raise SpeechoptError(f"unknown step {name!r}; steps are {', '.join(STEPS)}")
    return STEPS[name]


def option_names(name: str) -> list[str]:
    return [f.name for f in fields(get_step(name).settings)]


def make_settings(name: str, options: dict):
    """The step's settings from a mapping of options; unknown or missing option names are errors."""
    step = get_step(name)
    known = option_names(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise SpeechoptError(f"unknown {name} options {unknown}; known: {', '.join(sorted(known))}")
    required = [f.name for f in fields(step.settings) if f.default is MISSING and f.default_factory is MISSING]
    missing = [n for n in required if n not in options]
    if missing:
        raise SpeechoptError(f"{name} needs {', '.join(f'`{n}`' for n in missing)}")
    threads = options.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise SpeechoptError(f"{name}: threads must be a positive integer, got {threads!r}")
    return step.settings(**options)


def run_step(name: str, source, out, settings, context: StepContext | None = None):
    """Run one step from the artifact at `source` into `out`; returns the written artifact."""
    return get_step(name).run(Path(source), Path(out), settings, context or StepContext())


def run_chain(chain: list[tuple[str, Any]], source, out, context: StepContext):
    """Run steps one after the other; only the last one's artifact is kept (at `out`).

    Intermediate artifacts live in a temporary folder beside `out`, removed at the end whatever happens.
    """
    out = Path(out)
    *between, (last_name, last_settings) = chain
    current = Path(source)
    if not between:
        return run_step(last_name, current, out, last_settings, context)
    parent = out.parent if out.parent.exists() else None
    with tempfile.TemporaryDirectory(prefix="speechopt-chain-", dir=parent) as tmp:
        inner = StepContext(context.data, context.log, overwrite=False)
        for i, (name, settings) in enumerate(between):
            current = run_step(name, current, Path(tmp) / f"{i}-{name}", settings, inner).path
        return run_step(last_name, current, out, last_settings, context)


def _given(settings) -> dict:
    """The options that were set: None leaves the step function's own default in force."""
    return {k: v for k, v in asdict(settings).items() if v is not None}


def _resolved(value):
    from speechopt.zoo import resolve

    return str(resolve(value)) if value else value


def _needs_a_length(step: str, settings) -> None:
    """Training steps need a stopping rule; checked when the settings are made (a recipe: at load)."""
    if settings.epochs is None and settings.max_steps is None and settings.time_budget_min is None:
        raise SpeechoptError(f"{step} needs `max_steps`, `epochs` or `time_budget_min`")


# ------------------------------------------------------------------------------------------- steps
@dataclass
class ExportSettings:
    to: str  # torchscript | onnx | exported-program
    mode: str | None = None  # torchscript: trace | script
    opset: int | None = None
    exporter: str | None = None  # onnx: auto | dynamo | legacy
    max_validation_utts: int | None = None
    atol: float | None = None
    threads: int | None = None


@register("export", ExportSettings, "to TorchScript, ONNX or torch.export, validated against PyTorch")
def _export(source: Path, out: Path, settings: ExportSettings, context: StepContext):
    from speechopt.steps.export import export_model

    return export_model(source, out=out, validation_data=_resolved(context.data), overwrite=context.overwrite,
                        **_given(settings))


@register("quantize", QuantizeSettings, "dynamic int8, static int8 (QDQ) or fp16, validated on CPU")
def _quantize(source: Path, out: Path, settings: QuantizeSettings, context: StepContext):
    from dataclasses import replace

    from speechopt.steps.quantize import quantize

    settings = replace(settings, calibration_data=_resolved(settings.calibration_data))
    return quantize(source, out, settings, validation_data=_resolved(context.data), overwrite=context.overwrite)


@register("prune", PruneSettings, "magnitude or structured pruning")
def _prune(source: Path, out: Path, settings: PruneSettings, context: StepContext):
    from speechopt.steps.prune import prune

    return prune(source, out, settings, overwrite=context.overwrite)


@dataclass
class FinetuneSettings:
    data: str  # training manifest
    val_data: str  # held out: the best checkpoint is picked on it, so never the data you report on
    lr: float = 5e-4
    max_steps: int | None = None
    epochs: int | None = None
    time_budget_min: float | None = None
    val_every_min: float = 5.0
    warmup: float = 0.05
    batch_frames: int = 8000
    seed: int = 0
    threads: int | None = None
    average: int = 1

    def __post_init__(self):
        _needs_a_length("finetune", self)


@register("finetune", FinetuneSettings, "train on from the source's weights (same architecture and frontend)")
def _finetune(source: Path, out: Path, settings: FinetuneSettings, context: StepContext):
    from speechopt.artifact import load_artifact
    from speechopt.train import TrainSettings, train_asr
    from speechopt.zoo import resolve

    start = load_artifact(source)
    if start.format != "pytorch":
        raise SpeechoptError(f"{start.path}: finetune works on pytorch artifacts (this one is {start.format}); "
                             "fine-tune first, then export")
    s = asdict(settings)
    data, val_data = resolve(s.pop("data")), resolve(s.pop("val_data"))
    ts = TrainSettings(arch=start.architecture["name"], config=start.architecture["config"],
                       frontend=start.manifest["frontend"], init_from=str(start.path), **s)
    return train_asr(ts, data, out, val_data=val_data, overwrite=context.overwrite, log=context.log)


@dataclass
class DistillStepSettings:
    data: str  # training manifest
    val_data: str  # held out: the best checkpoint is picked on it
    student_arch: str | None = None  # None: the architecture of init_from
    student_config: dict = field(default_factory=dict)
    init_from: str | None = None  # e.g. a structured-pruned teacher
    temperature: float = 2.0
    alpha: float = 0.5
    epochs: int | None = None
    max_steps: int | None = None
    time_budget_min: float | None = None
    val_every_min: float = 5.0
    lr: float = 2e-3
    seed: int = 0
    threads: int | None = None
    average: int = 1

    def __post_init__(self):
        _needs_a_length("distill", self)


@register("distill", DistillStepSettings, "train a smaller student from the source (the teacher)")
def _distill(source: Path, out: Path, settings: DistillStepSettings, context: StepContext):
    from speechopt.steps.distill import DistillSettings, distill
    from speechopt.train import TrainSettings
    from speechopt.zoo import resolve

    s = settings
    ts = TrainSettings(arch=s.student_arch or "", lr=s.lr, epochs=s.epochs, max_steps=s.max_steps,
                       time_budget_min=s.time_budget_min, val_every_min=s.val_every_min, seed=s.seed,
                       threads=s.threads, average=s.average, init_from=_resolved(s.init_from))
    return distill(source, DistillSettings(s.student_arch, dict(s.student_config), s.temperature, s.alpha), ts,
                   resolve(s.data), resolve(s.val_data), out, overwrite=context.overwrite, log=context.log)


@dataclass
class BuildSettings:
    precision: str | None = None  # fp32 | fp16 | int8
    min_shape: list[int] | None = None  # [batch, frames]
    opt_shape: list[int] | None = None
    max_shape: list[int] | None = None
    profile_from_data: str | None = None  # a manifest whose durations set the frame range
    batch: list[int] | None = None  # min, opt, max with profile_from_data
    workspace_mb: int | None = None
    timing_cache: str | None = None
    version_compatible: bool | None = None
    hardware_compatible: str | None = None
    via: str | None = None  # tensorrt | torch-tensorrt


@register("build", BuildSettings, "a TensorRT engine with a profile fitted to the data")
def _build(source: Path, out: Path, settings: BuildSettings, context: StepContext):
    from dataclasses import replace

    from speechopt.steps.build import build_engine

    settings = replace(settings, profile_from_data=_resolved(settings.profile_from_data))
    return build_engine(source, out, overwrite=context.overwrite, log=context.log, **_given(settings))
