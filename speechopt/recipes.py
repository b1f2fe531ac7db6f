"""Declarative pipelines: a YAML recipe names a model, the steps that make variants of it, and a bench.

    name: crnn-cpu
    model: zoo:crnn-ctc            # the reference, called `model` in the steps below
    data: zoo:eval                 # bench and validation data
    steps:
      - {id: onnx, step: export, from: model, with: {to: onnx}}
      - {id: int8, step: quantize, from: onnx, with: {method: dynamic}}
      - {id: slim, step: prune, with: {amount: 0.25, structured: true}}
      - {id: slim-ft, step: finetune, from: slim, with: {data: corpus/train, val_data: corpus/dev, max_steps: 300}}
    bench:
      artifacts: [model, onnx, int8, slim-ft]
      backends: [cpu]
      batch_sizes: [1, 16]
      threads: 2
      budgets: {max_drift: {wer: 0.5}, min_speedup: 1.0}

Steps are those of `speechopt.steps.registry` (export, quantize, prune, finetune, distill, build); a
step's `with:` options are the fields of its settings dataclass. `speechopt run RECIPE -o OUT` checks
the whole recipe before running anything (a typo fails in a second, not after an hour of steps), writes
each step's artifact to OUT/<id>, then benches and writes OUT/report.{json,md,html}. A broken budget
exits 3, like `speechopt bench`. OUT/recipe-state.json records what made each finished step (step, options,
data, the source's checksum) and the artifact's checksum: with `--resume`, a rerun into OUT keeps every
step whose record matches and whose files still verify, and runs the rest (a step that failed left no
folder); a folder made otherwise is refused. `budgets: {max_wer_drift: 0.5}` (the old form) means `max_drift: {wer: 0.5}`.
`also_data: [zoo:eval-hard]` measures quality on further sets too (`bench --also-data`), budgeted as
`max_drift: {wer@eval-hard: 1.0}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speechopt.errors import SpeechoptError

STATE = "recipe-state.json"

BENCH_KEYS = {"artifacts", "backends", "batch_sizes", "threads", "min_seconds", "min_iters", "max_utterances",
              "budgets", "reference", "also_data"}
BUDGET_KEYS = {"max_drift", "max_wer_drift", "max_latency_ms", "min_speedup"}


@dataclass
class Step:
    id: str
    step: str
    source: str
    options: dict = field(default_factory=dict)
    settings: Any = None  # the step's settings dataclass, made (and so checked) when the recipe is loaded


@dataclass
class Recipe:
    path: Path
    name: str
    model: str
    data: str
    steps: list[Step]
    bench: dict | None
    budgets: Any = None  # speechopt.bench.budgets.Budgets, or None without any budget


def _fail(path: Path, where: str, message: str):
    raise SpeechoptError(f"{path}: {where}: {message}")


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _load_step(path: Path, i: int, raw, known_ids: set[str]) -> Step:
    from speechopt.steps.registry import STEPS, make_settings

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
    try:
        settings = make_settings(kind, dict(options))
    except SpeechoptError as exc:
        _fail(path, where, str(exc))
    except TypeError as exc:  # a dataclass refusing a value it cannot hold
        _fail(path, where, f"bad {kind} options ({exc})")
    return Step(sid, kind, source, dict(options), settings)


def _load_bench(path: Path, bench, known_ids: set[str]):
    """Check the bench section; returns its Budgets (or None)."""
    from speechopt.bench.budgets import Budgets

    if not isinstance(bench, dict):
        _fail(path, "bench", "must be a mapping")
    bad = set(bench) - BENCH_KEYS
    if bad:
        _fail(path, "bench", f"unknown keys {sorted(bad)}; known: {', '.join(sorted(BENCH_KEYS))}")
    for a in bench.get("artifacts") or []:
        if a not in known_ids:
            _fail(path, "bench", f"artifact {a!r} is neither `model` nor a step id")
    if bench.get("reference", "model") not in known_ids:
        _fail(path, "bench", f"reference {bench['reference']!r} is neither `model` nor a step id")
    # checked here rather than by the bench's worker processes, after every step has run
    t = bench.get("threads")
    if t is not None and not (_positive_int(t) or (isinstance(t, list) and t and all(_positive_int(x) for x in t))):
        _fail(path, "bench.threads", f"must be a positive integer or a list of them ([1, 2]), got {t!r}")
    sizes = bench.get("batch_sizes", [1, 16])
    if not isinstance(sizes, list) or not sizes or not all(_positive_int(b) for b in sizes):
        _fail(path, "bench.batch_sizes", f"must be a list of positive integers, got {sizes!r}")
    budgets = bench.get("budgets") or {}
    if not isinstance(budgets, dict):
        _fail(path, "bench.budgets", "must be a mapping, e.g. {max_drift: {wer: 0.5}, min_speedup: 1.0}")
    bad = set(budgets) - BUDGET_KEYS
    if bad:
        _fail(path, "bench.budgets", f"unknown budgets {sorted(bad)}; known: {', '.join(sorted(BUDGET_KEYS))}")
    if not isinstance(budgets.get("max_drift") or {}, dict):
        _fail(path, "bench.budgets", "max_drift is a mapping of metric to limit, e.g. {wer: 0.5}")
    try:
        parsed = Budgets.from_options(**budgets)
    except SpeechoptError as exc:
        _fail(path, "bench.budgets", str(exc))
    also = bench.get("also_data") or []
    if not isinstance(also, list) or not all(isinstance(d, str) for d in also):
        _fail(path, "bench.also_data", f"must be a list of data sets (zoo:eval-hard, a manifest), got {also!r}")
    from speechopt.bench.harness import quality_set

    try:
        labels = [quality_set(d)[0] for d in also]
    except SpeechoptError as exc:
        _fail(path, "bench.also_data", str(exc))
    for name in parsed.max_drift:  # the metric names are the task's to check, the set names are known now
        where = name.partition("@")[2]
        if where and where not in labels:
            _fail(path, "bench.budgets", f"{name}: no quality set named {where!r} in also_data")
    return parsed if parsed.any() else None


def load_recipe(path: str | Path) -> Recipe:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SpeechoptError(f"{path}: recipe not found")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpeechoptError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except UnicodeDecodeError:
        raise SpeechoptError(f"{path}: not a text file (a recipe is YAML)") from None
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
        step = _load_step(path, i, raw, known_ids)
        steps.append(step)
        known_ids.add(step.id)
    bench = doc.get("bench")
    budgets = _load_bench(path, bench, known_ids) if bench is not None else None
    return Recipe(path, str(doc.get("name") or path.stem), str(doc["model"]), str(doc.get("data", "zoo:eval")),
                  steps, bench, budgets)


def _check_budget_metrics(recipe: Recipe, model) -> None:
    """Metric names are the task's to know: checked on the model before the first step, not after the last."""
    if recipe.budgets is None or not recipe.budgets.max_drift:
        return
    from speechopt.tasks import get_task

    recipe.budgets.check_metrics(get_task(model.task).metrics)


def _made_by(step: Step, source_checksum: str, data: str) -> dict:
    """What a step's artifact depends on, in JSON terms (so that a record read back compares equal)."""
    return json.loads(json.dumps({"step": step.step, "with": step.options, "from": source_checksum, "data": data},
                                 default=str))


def _read_state(out: Path) -> dict:
    f = out / STATE
    if not f.is_file():
        return {}
    try:
        state = json.loads(f.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise SpeechoptError(f"{f}: not a recipe state file (JSON); remove it to run every step again") from None
    return state if isinstance(state, dict) else {}


def _kept(folder: Path, record: dict | None, made_by: dict) -> bool:
    """Whether an earlier run's artifact at `folder` is this step's, unchanged; refuses a stranger."""
    from speechopt.artifact import load_artifact

    if not folder.exists():
        return False
    if not isinstance(record, dict) or record.get("made_by") != made_by:
        raise SpeechoptError(f"{folder}: made by another recipe, other options or another source, not by this "
                             "step: remove it to run the step again")
    if load_artifact(folder).checksum != record.get("checksum"):  # load_artifact verifies every file
        raise SpeechoptError(f"{folder}: its files changed since the run that made it: remove it to run the "
                             "step again")
    return True


def run_recipe(recipe: Recipe, out: str | Path, log=print, resume: bool = False) -> dict:
    """Run every step, then the bench; returns {id: artifact path, ..., "report": report or None}.

    With `resume`, steps an earlier run into `out` finished (the state file says with what) are kept.
    """
    from speechopt.artifact import load_artifact
    from speechopt.io import atomic_write_text
    from speechopt.steps.registry import StepContext, run_step
    from speechopt.zoo import resolve

    out = Path(out)
    paths: dict[str, Path] = {"model": resolve(recipe.model)}
    data = str(resolve(recipe.data))
    model = load_artifact(paths["model"])
    _check_budget_metrics(recipe, model)
    state = _read_state(out) if resume else {}
    if not resume:
        for step in recipe.steps:
            if (out / step.id).exists():
                raise SpeechoptError(f"{out / step.id} already exists: run the recipe into an empty folder, or "
                                     "add --resume to keep the steps an earlier run of it finished")
    out.mkdir(parents=True, exist_ok=True)
    context = StepContext(data=data, log=log)
    # each artifact's checksum, known when it is made or kept: no step's source is hashed twice
    checksums = {"model": model.checksum}
    for step in recipe.steps:
        made_by = _made_by(step, checksums[step.source], data)
        if resume and _kept(out / step.id, state.get(step.id), made_by):
            log(f"[{recipe.name}] {step.id}: kept from an earlier run")
            paths[step.id], checksums[step.id] = out / step.id, state[step.id]["checksum"]
            continue
        log(f"[{recipe.name}] {step.id}: {step.step} from {step.source}")
        made = run_step(step.step, paths[step.source], out / step.id, step.settings, context)
        paths[step.id], checksums[step.id] = made.path, made.checksum
        state[step.id] = {"made_by": made_by, "checksum": made.checksum}
        atomic_write_text(out / STATE, json.dumps(state, indent=2) + "\n")
    result: dict = {k: str(v) for k, v in paths.items()}
    result["report"] = None
    if recipe.bench is not None:
        from speechopt.bench.harness import BenchSettings, bench, quality_set

        b = recipe.bench
        names = b.get("artifacts") or list(paths)
        settings = BenchSettings(data=data, backends=list(b.get("backends", ["cpu"])),
                                 batch_sizes=list(b.get("batch_sizes", [1, 16])), threads=b.get("threads"),
                                 min_seconds=float(b.get("min_seconds", 3.0)), min_iters=int(b.get("min_iters", 100)),
                                 max_utterances=b.get("max_utterances"),
                                 also_data=[quality_set(d) for d in b.get("also_data") or []])
        reference = str(paths[b.get("reference", "model")])
        # rows and breach lines are named by recipe id, not by folder
        result["report"] = bench([str(paths[n]) for n in names], reference, settings, budgets=recipe.budgets, log=log,
                                 labels={str(p): n for n, p in paths.items()})
    return result
