"""Declarative pipelines: a YAML recipe names a model, the steps that make variants of it, and a bench.

    name: crnn-cpu
    model: zoo:crnn-ctc            # the reference, called `model` in the steps below
    data: zoo:eval                 # bench and validation data
    steps:
      - {id: onnx, step: export, from: model, with: {to: onnx}}
      - {id: int8, step: quantize, from: onnx, with: {method: dynamic}}
    bench:
      artifacts: [model, onnx, int8]
      backends: [cpu]
      batch_sizes: [1, 16]
      threads: 2
      budgets: {max_wer_drift: 0.5, min_speedup: 1.0}

`speechopt run RECIPE -o OUT` checks the whole recipe before running anything (a typo fails in a
second, not after an hour of steps), writes each step's artifact to OUT/<id>, then benches and writes
OUT/report.{json,md,html}. A broken budget exits 3, like `speechopt bench`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from speechopt.errors import SpeechoptError

STEPS = ("export", "quantize", "prune", "distill", "build")
BENCH_KEYS = {"artifacts", "backends", "batch_sizes", "threads", "min_seconds", "min_iters", "max_utterances",
              "budgets", "reference"}
BUDGET_KEYS = {"max_wer_drift", "max_latency_ms", "min_speedup"}


@dataclass
class Step:
    id: str
    step: str
    source: str
    options: dict = field(default_factory=dict)


@dataclass
class Recipe:
    path: Path
    name: str
    model: str
    data: str
    steps: list[Step]
    bench: dict | None


def _fail(path: Path, where: str, message: str):
    raise SpeechoptError(f"{path}: {where}: {message}")


def _step_options(step: str) -> set[str]:
    """The option names each step function accepts (checked before anything runs)."""
    import inspect

    if step == "export":
        from speechopt.steps.export import export_model

        return set(inspect.signature(export_model).parameters) - {"source", "out", "overwrite", "validation_data"}
    if step == "quantize":
        from speechopt.steps.quantize import QuantizeSettings

        return {f.name for f in fields(QuantizeSettings)}
    if step == "prune":
        from speechopt.steps.prune import PruneSettings

        return {f.name for f in fields(PruneSettings)}
    if step == "distill":
        return {"student_arch", "student_config", "init_from", "temperature", "alpha", "data", "val_data", "epochs",
                "max_steps", "time_budget_min", "lr", "seed", "threads"}
    from speechopt.steps.build import build_engine

    return set(inspect.signature(build_engine).parameters) - {"artifact", "out", "overwrite", "log"}


def load_recipe(path: str | Path) -> Recipe:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SpeechoptError(f"{path}: recipe not found")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpeechoptError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        _fail(path, "top level", "a recipe is a mapping with name, model, steps and bench")
    unknown = set(doc) - {"name", "model", "data", "steps", "bench"}
    if unknown:
        _fail(path, "top level", f"unknown keys {sorted(unknown)}")
    if "model" not in doc:
        _fail(path, "top level", "missing `model` (an artifact path or zoo:NAME)")
    known_ids = {"model"}
    steps = []
    for i, raw in enumerate(doc.get("steps") or [], 1):
        where = f"step {i}"
        if not isinstance(raw, dict):
            _fail(path, where, "each step is a mapping with id, step, from and with")
        extra = set(raw) - {"id", "step", "from", "with"}
        if extra:
            _fail(path, where, f"unknown keys {sorted(extra)}")
        sid, kind, source = raw.get("id"), raw.get("step"), raw.get("from", "model")
        if not sid or not isinstance(sid, str):
            _fail(path, where, "missing `id`")
        where = f"step {sid!r}"
        if sid in known_ids:
            _fail(path, where, "duplicate id")
        if kind not in STEPS:
            _fail(path, where, f"unknown step {kind!r}; steps are {', '.join(STEPS)}")
        if source not in known_ids:
            _fail(path, where, f"`from: {source}` names no earlier step (known: {', '.join(sorted(known_ids))})")
        options = raw.get("with") or {}
        if not isinstance(options, dict):
            _fail(path, where, "`with` must be a mapping of options")
        bad = set(options) - _step_options(kind)
        if bad:
            _fail(path, where, f"unknown {kind} options {sorted(bad)}; known: {', '.join(sorted(_step_options(kind)))}")
        steps.append(Step(sid, kind, source, dict(options)))
        known_ids.add(sid)
    bench = doc.get("bench")
    if bench is not None:
        if not isinstance(bench, dict):
            _fail(path, "bench", "must be a mapping")
        bad = set(bench) - BENCH_KEYS
        if bad:
            _fail(path, "bench", f"unknown keys {sorted(bad)}; known: {', '.join(sorted(BENCH_KEYS))}")
        for a in bench.get("artifacts") or []:
            if a not in known_ids:
                _fail(path, "bench", f"artifact {a!r} is neither `model` nor a step id")
        bad = set(bench.get("budgets") or {}) - BUDGET_KEYS
        if bad:
            _fail(path, "bench.budgets", f"unknown budgets {sorted(bad)}; known: {', '.join(sorted(BUDGET_KEYS))}")
    return Recipe(path, str(doc.get("name") or path.stem), str(doc["model"]), str(doc.get("data", "zoo:eval")),
                  steps, bench)


def run_step(step: Step, source: Path, out: Path, data: str, log=print):
    """Run one step; returns the written artifact."""
    from speechopt.zoo import resolve

    opts = dict(step.options)
    if step.step == "export":
        from speechopt.steps.export import export_model

        return export_model(source, out=out, validation_data=data, **opts)
    if step.step == "quantize":
        from speechopt.steps.quantize import QuantizeSettings, quantize

        if opts.get("calibration_data"):
            opts["calibration_data"] = str(resolve(opts["calibration_data"]))
        return quantize(source, out, QuantizeSettings(**opts), validation_data=data)
    if step.step == "prune":
        from speechopt.steps.prune import PruneSettings, prune

        return prune(source, out, PruneSettings(**opts))
    if step.step == "distill":
        from speechopt.steps.distill import DistillSettings, distill
        from speechopt.train import TrainSettings

        if "data" not in opts or "val_data" not in opts:
            raise SpeechoptError(f"step {step.id!r}: distill needs `data` (a training manifest) and `val_data` "
                                 "(a held-out manifest to pick the best checkpoint on)")
        ds = DistillSettings(opts.pop("student_arch", None), opts.pop("student_config", {}), opts.pop("temperature", 2.0),
                             opts.pop("alpha", 0.5))
        train_data, val_data = resolve(opts.pop("data")), resolve(opts.pop("val_data"))
        if opts.get("init_from"):
            opts["init_from"] = str(resolve(opts["init_from"]))
        ts = TrainSettings(arch=ds.student_arch or "", **opts)
        return distill(source, ds, ts, train_data, val_data, out, log=log)
    from speechopt.steps.build import build_engine

    return build_engine(source, out, log=log, **opts)


def run_recipe(recipe: Recipe, out: str | Path, log=print) -> dict:
    """Run every step, then the bench; returns {id: artifact path, ..., "report": report or None}."""
    from speechopt.zoo import resolve

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"model": resolve(recipe.model)}
    data = str(resolve(recipe.data))
    for step in recipe.steps:
        target = out / step.id
        if target.exists():
            raise SpeechoptError(f"{target} already exists: run the recipe into an empty folder")
        log(f"[{recipe.name}] {step.id}: {step.step} from {step.source}")
        paths[step.id] = run_step(step, paths[step.source], target, data, log=log).path
    result: dict = {k: str(v) for k, v in paths.items()}
    result["report"] = None
    if recipe.bench is not None:
        from speechopt.bench.harness import BenchSettings, bench

        b = recipe.bench
        names = b.get("artifacts") or list(paths)
        settings = BenchSettings(data=data, backends=list(b.get("backends", ["cpu"])),
                                 batch_sizes=list(b.get("batch_sizes", [1, 16])), threads=b.get("threads"),
                                 min_seconds=float(b.get("min_seconds", 3.0)), min_iters=int(b.get("min_iters", 100)),
                                 max_utterances=b.get("max_utterances"))
        reference = str(paths[b.get("reference", "model")])
        result["report"] = bench([str(paths[n]) for n in names], reference, settings, log=log)
        for r in result["report"]["results"]:  # name rows by recipe id, not by folder
            r["name"] = next((n for n, p in paths.items() if Path(r["artifact"]) == Path(p)), r["name"])
    return result
