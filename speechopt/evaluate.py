"""Evaluate or use an artifact of any format through its task and runners: the one inference path.

`speechopt eval` and `speechopt bench` share `task.load_data` -> `task.driver` -> `task.run` ->
`task.score`, so the same artifact and data give the same figures in both, to the digit (both run one
item at a time by default). `speechopt transcribe` is the same path on plain audio files.
"""

from __future__ import annotations

import time

from speechopt.errors import SpeechoptError


def _open(artifact_path, device: str, threads: int | None):
    from speechopt.artifact import load_artifact
    from speechopt.tasks import task_of

    if threads is not None and threads < 1:
        raise SpeechoptError(f"threads must be a positive integer, got {threads}")
    artifact = load_artifact(artifact_path)
    return artifact, task_of(artifact)


def evaluate_artifact(artifact_path, manifest_path, batch_size: int = 1, threads: int | None = None,
                      device: str = "cpu", max_items: int | None = None, keep_hypotheses: bool = False,
                      **score_options) -> dict:
    """The task's figures (ASR: WER/CER) of an artifact of any format on a manifest.

    `batch_size` 1 (the default) runs one item at a time, as the bench does; larger batches are faster but
    pad, which changes what a bidirectional LSTM computes. `score_options` go to the task (ASR: decoder,
    lexicon, beam, also: further decoders scored on the same outputs, each under result[name]).
    `keep_hypotheses` keeps every item's transcript (ASR: result["hypotheses"]), for paired comparisons.
    """
    if batch_size < 1:
        raise SpeechoptError(f"--batch-size must be at least 1, got {batch_size}")
    if threads is not None and threads < 1:
        raise SpeechoptError(f"threads must be a positive integer, got {threads}")
    from speechopt.artifact import load_artifact

    if load_artifact(artifact_path).task == "vocoder":  # no runner graphs: the vocoder alone on real mels
        from speechopt.tasks.tts.vocoder_eval import evaluate_vocoder

        if device != "cpu":
            raise SpeechoptError("a vocoder artifact is evaluated on cpu")
        return evaluate_vocoder(load_artifact(artifact_path), manifest_path, max_items, threads or 1)
    artifact, task = _open(artifact_path, device, threads)
    if manifest_path is None:  # the task's own bundled evaluation set
        from speechopt.zoo import resolve

        manifest_path = resolve(task.default_data)
    data = task.load_data(artifact, manifest_path, max_items=max_items)
    with task.driver(artifact, device, threads) as driver:
        outputs = task.run(driver, data, batch_size=batch_size)
        runner = driver.describe()
    result = task.score(outputs, data, artifact=artifact, **score_options)
    if not keep_hypotheses:
        result.pop("hypotheses", None)
    return {"artifact": str(artifact.path), "task": artifact.task, "format": artifact.format, "data": str(manifest_path),
            "batch_size": batch_size, "runner": runner, **result}


def transcribe_files(artifact_path, audio_paths, threads: int | None = None, device: str = "cpu",
                     decoder: str = "greedy", lexicon=None, beam: int = 16) -> dict:
    """Text of each audio file (any rate, resampled; stereo downmixed), with the model's time per file.

    `seconds` times the model call and decoding of one file (features are computed before), after one
    untimed warm-up call; `rtfx` is audio seconds per second of that time.
    """
    if not audio_paths:
        raise SpeechoptError("give at least one audio file")
    artifact, task = _open(artifact_path, device, threads)
    if not hasattr(task, "load_audio_files"):
        raise SpeechoptError(f"{artifact.path}: transcribe needs an asr artifact, this one is {artifact.task}")
    data = task.load_audio_files(artifact, audio_paths)
    results = []
    with task.driver(artifact, device, threads) as driver:
        driver(data.items[0])  # warm-up: first calls pay for allocation and kernel selection
        for i, path in enumerate(audio_paths):
            t0 = time.perf_counter()
            outputs = task.run(driver, data.subset([i]), progress=False)
            texts, info = task.decode(artifact, outputs, decoder, lexicon, beam)
            seconds = time.perf_counter() - t0
            results.append({"file": str(path), "text": texts[0], "audio_seconds": data.durations[i],
                            "seconds": seconds, "rtfx": data.durations[i] / seconds if seconds else None})
    total = sum(r["seconds"] for r in results)
    return {"artifact": str(artifact.path), "format": artifact.format, **info, "results": results,
            "total_seconds": total, "rtfx": sum(r["audio_seconds"] for r in results) / total if total else None}
