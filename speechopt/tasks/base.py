"""The task interface: what is specific to ASR or TTS, behind one small API.

A task owns how inputs are prepared from a dataset (ASR: audio -> features), how an artifact's graphs
are driven (ASR: one graph; TTS: an encoder, then a loop over a step graph), what is kept of each
output for scoring, its metrics and how two outputs are compared (drift). Evaluation, the bench, export
and quantize validation, calibration, budgets, reports and zoo records call these methods; none of them
knows about CTC or WER.

The flow every caller follows (`eval`, `bench`, `transcribe`, export validation):

    task = get_task(artifact.task)
    data = task.load_data(artifact, manifest)          # inputs prepared once, outside any timing
    with task.driver(artifact, device, threads) as d:  # one runner per graph
        outputs = task.run(d, data)                    # one item at a time
    scores = task.score(outputs, data)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from speechopt.errors import SpeechoptError


@dataclass(frozen=True)
class Metric:
    """A quality figure a task reports; its drift (variant minus reference) can carry a budget."""

    name: str  # the key in `--max-drift NAME=VALUE` and in a row's `drift`
    label: str  # for humans: "WER"
    unit: str  # drift unit: "points" (percentage points), "dB", ...
    description: str = ""


class Driver:
    """The runners of one artifact's graphs on one backend, driven as the task says.

    Subclasses implement `__call__(inputs) -> outputs`; the bench times `driver(inputs)` followed by
    `driver.synchronize()`, so a multi-graph loop is timed whole, and every backend shares the loop.
    """

    def __init__(self, artifact, device: str = "cpu", threads: int | None = None, options=None):
        from speechopt.backends import create_runners

        self.artifact = artifact
        self.device = device
        self.runners = create_runners(artifact, device, threads, options)

    def activate(self) -> "Driver":
        for runner in self.runners.values():
            runner.activate()
        return self

    def deactivate(self) -> None:
        # in reverse order: a torch runner restores the thread count it found when activated, so the first
        # one activated must be the last one restored
        for runner in reversed(list(self.runners.values())):
            runner.deactivate()

    def __enter__(self) -> "Driver":
        return self.activate()

    def __exit__(self, *exc) -> None:
        self.deactivate()

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def synchronize(self) -> None:
        for runner in self.runners.values():
            runner.synchronize()

    def describe(self) -> dict:
        """What ran: the single runner's description, or one per graph."""
        described = {name: r.describe() for name, r in self.runners.items()}
        return next(iter(described.values())) if len(described) == 1 else {"graphs": described}


class Task:
    """The interface; `speechopt.tasks.asr.AsrTask` is the first implementation."""

    name: str = "base"
    metrics: dict[str, Metric] = {}
    accuracy_mode: str = ""  # how accuracy is measured, for reports
    zoo_evaluation_options: dict = {}  # what `zoo add` passes to the evaluation
    default_data: str = ""  # the bundled evaluation set `eval` uses when given none
    bench_unsupported: str = ""  # why `bench` cannot measure this task's artifacts yet ("" = it can)
    streams: bool = False  # the bench measures `first_audio` (time to first audio)

    # -- artifacts ----------------------------------------------------------------------------------
    def check_compatible(self, reference, artifact) -> None:
        """Raise unless `artifact`'s outputs can be compared with `reference`'s (same inputs, same vocabulary)."""
        if artifact.task != reference.task:
            raise SpeechoptError(f"{artifact.path}: task {artifact.task} differs from the reference's ({reference.task})")

    def runner_options(self, artifact, graph: str, device: str) -> dict:
        """Per-graph runner options the task knows best (e.g. TensorRT profile dimensions)."""
        return {}

    def driver(self, artifact, device: str = "cpu", threads: int | None = None) -> Driver:
        raise NotImplementedError

    def profile_dims(self, artifact, data, batch=None) -> tuple[dict, dict]:
        """TensorRT optimization profile ranges {dimension name: (min, opt, max)} for the artifact's graphs,
        from the data a user will run (`batch` None: the task's default), and what they came from."""
        raise SpeechoptError(f"{artifact.path}: no data-derived engine profile for {self.name} artifacts")

    # -- data ----------------------------------------------------------------------------------------
    def load_data(self, artifact, manifest, max_items: int | None = None, progress: str | None = None):
        """Inputs prepared from a dataset manifest, with what scoring needs (references, durations)."""
        raise NotImplementedError

    def check_data(self, artifact, manifest, max_items: int | None = None) -> None:
        """Fail early (before any measuring) when a manifest cannot be scored."""

    def sample(self, data, count: int):
        """`count` items of `data` that span its range (lengths), for calibration and quick agreement checks."""
        raise NotImplementedError

    def calibration_feeds(self, artifact, data, graph: str) -> list[dict[str, np.ndarray]]:
        """Real inputs of one graph for static quantization (a step graph's come from running the loop)."""
        raise NotImplementedError

    # -- running and scoring -------------------------------------------------------------------------
    def run(self, driver: Driver, data, batch_size: int = 1, progress: str | None = None) -> list:
        """Per-item outputs (what `score` and `compare` read), in data order."""
        raise NotImplementedError

    def macs(self, artifact, data) -> list[int] | None:
        """Multiply-adds of one call per item of `data` (`speechopt.models.macs`), for the bench's GFLOP/s;
        None where the task cannot count them (a loop whose length the model decides)."""
        return None

    def first_audio(self, artifact, driver: Driver, item, threads: int | None = None):
        """The first audio a streaming caller would get for one input (TTS: the first chunk through the
        vocoder), for the bench's time to first audio; None: the task has no such figure (ASR)."""
        return None

    def score(self, outputs: list, data, **options) -> dict:
        """The task's figures for `outputs` on `data`."""
        raise NotImplementedError

    def record(self, artifact, outputs: list, data, path) -> dict:
        """What a bench worker keeps of its outputs: JSON fields (with `durations`, the audio seconds of each
        item, which normalize timings), and anything bulky written to `path` for `accuracy`."""
        raise NotImplementedError

    def accuracy(self, result: dict, reference: dict) -> dict:
        """A bench result's figures and drift against the reference's (`drift`: {metric: value in its unit})."""
        raise NotImplementedError

    def validate_export(self, source, candidate, data, atol: float, threads: int | None = None) -> dict:
        """Compare an exported candidate with its source on real data; raise SpeechoptError on disagreement."""
        raise NotImplementedError

    def agreement(self, artifact, parent: list, child: list) -> dict:
        """How closely a quantized model's outputs follow its parent's (recorded in the manifest)."""
        raise NotImplementedError

    # -- reports -------------------------------------------------------------------------------------
    def summary(self, result: dict) -> dict:
        """The task's machine-readable fields of one bench row."""
        raise NotImplementedError

    def columns(self, compact: bool = False) -> list[tuple[str, object]]:
        """Report columns: (header, row -> cell text); `compact` for an 80-column terminal."""
        raise NotImplementedError

    def describe_score(self, result: dict) -> str:
        """One line of an evaluation's figures, for the terminal (the JSON has them all)."""
        raise NotImplementedError

    def describe_quality(self) -> str:
        """What the quality columns of a report mean, for its title."""
        return "quality drift against the reference"

    def plot_axis(self) -> tuple[str, object] | None:
        """(label, row -> value) for the quality axis of the report's speed/quality plot."""
        return None

    def media(self, result: dict, count: int = 3) -> list[dict] | None:
        """What the HTML report shows people of a bench result, for its first `count` items: a list of
        {"text", "wav" (16-bit WAV bytes), "png" (a picture, e.g. a mel spectrogram, or None)}; None when the
        task has nothing to listen to (ASR)."""
        return None

    def zoo_figures(self, evaluation: dict) -> dict:
        """What `zoo add` records of an evaluation in the bundled manifest."""
        raise NotImplementedError


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (less padding, the same for every variant)."""
    if batch_size < 1:
        raise SpeechoptError(f"batch size must be at least 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
