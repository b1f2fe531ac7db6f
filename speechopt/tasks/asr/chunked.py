"""Chunked (streaming) inference of an ASR model: what a recognizer that may not wait for the end does.

The audio arrives in chunks of `chunk_ms`; each chunk is recognized from a window of `left_ms` of past audio,
the chunk and `right_ms` of lookahead (the model's limited right context), and keeps only the chunk's own
output frames. So:
- the algorithmic latency is chunk + lookahead (a chunk's last frame waits for the chunk to fill and for
  the lookahead to arrive), plus the compute time per window, which is timed here;
- features are normalized with the statistics of the audio heard so far (up to the window's end), not of
  the whole utterance, which a stream does not have: the per-utterance normalization of the bundled models
  becomes a running one;
- every frame sees at most `left_ms` of past and `right_ms` of future audio, so a model with a wider
  receptive field (every bundled one) loses context: the WER difference against whole-utterance inference
  is the cost of streaming.
A window of the whole utterance with no chunking gives exactly the whole-utterance output.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from speechopt.errors import SpeechoptError

SUBSAMPLING = 2  # every bundled ASR family halves the frame rate: output j covers input frame 2j


@dataclass(frozen=True)
class ChunkSettings:
    chunk_ms: float = 320.0
    left_ms: float = 2000.0
    right_ms: float = 160.0

    def frames(self, hop_seconds: float) -> tuple[int, int, int]:
        """(chunk, left, right) in input frames, each a multiple of the subsampling (outputs align)."""
        def even(ms):
            return int(round(ms / 1000.0 / hop_seconds / SUBSAMPLING)) * SUBSAMPLING

        chunk, left, right = even(self.chunk_ms), even(self.left_ms), even(self.right_ms)
        if chunk < SUBSAMPLING or left < 0 or right < 0:
            raise SpeechoptError(f"chunk of {self.chunk_ms} ms is under {SUBSAMPLING} frames, or a context is "
                                 "negative")
        return chunk, left, right


def _prefix_normalized(raw: np.ndarray, end: int, start: int) -> np.ndarray:
    """Frames [start, end) normalized with the mean and variance of frames [0, end) (what has been heard)."""
    heard = raw[:end].astype(np.float64)
    mean, var = heard.mean(0), heard.var(0)
    return ((raw[start:end] - mean) / np.sqrt(var + 1e-5)).astype(np.float32)


def chunked_log_probs(driver, raw: np.ndarray, settings: ChunkSettings, hop_seconds: float,
                      normalize: bool = True) -> tuple[np.ndarray, list[float]]:
    """(log-probs (T', V) of the whole utterance assembled from its chunks, seconds per window call) for
    unnormalized features `raw` (T, F)."""
    chunk, left, right = settings.frames(hop_seconds)
    total = len(raw)
    pieces, seconds = [], []
    for s in range(0, total, chunk):
        e = min(total, s + chunk)
        a, b = max(0, s - left), min(total, e + right)
        window = _prefix_normalized(raw, b, a) if normalize else raw[a:b].astype(np.float32)
        t0 = time.perf_counter()
        out = driver({"features": window[None], "lengths": np.array([b - a], np.int64)})
        driver.synchronize()
        seconds.append(time.perf_counter() - t0)
        lp = out["log_probs"][0, : int(out["out_lengths"][0])]
        lo, hi = (s - a) // SUBSAMPLING, (e - a + SUBSAMPLING - 1) // SUBSAMPLING
        pieces.append(lp[lo:hi])
    return np.concatenate(pieces, 0), seconds


def evaluate_chunked(artifact, manifest, settings: ChunkSettings, threads: int | None = 1,
                     max_items: int | None = None) -> dict:
    """WER/CER of chunked inference beside whole-utterance inference of the same artifact, and the time per
    window call (p50/p90 ms) with the algorithmic latency."""
    from dataclasses import replace

    from speechopt.audio.features import Frontend
    from speechopt.tasks import task_of
    from speechopt.tasks.asr.data import frontend_config

    task = task_of(artifact)
    if task.name != "asr":
        raise SpeechoptError(f"{artifact.path}: chunked inference is for ASR artifacts, not {task.name}")
    config = frontend_config(artifact)
    if config.kind == "waveform":
        raise SpeechoptError(f"{artifact.path}: chunked inference works on frame features, not raw waveforms")
    data = task.load_data(artifact, manifest, max_items=max_items)
    raw_frontend = Frontend(replace(config, normalize="none"))
    hop = config.hop_length / config.sample_rate
    chunked, seconds = [], []
    with task.driver(artifact, "cpu", threads=threads) as driver:
        whole = task.run(driver, data, progress=False)
        for audio in data.audios:
            feats, frames = raw_frontend.from_arrays([audio])
            lp, s = chunked_log_probs(driver, feats[0, : int(frames[0])].numpy(), settings, hop,
                                      normalize=config.normalize == "per_utterance")
            chunked.append(lp)
            seconds.extend(s)
    full, streamed = task.score(whole, data, artifact), task.score(chunked, data, artifact)
    chunk, left, right = settings.frames(hop)
    ms = np.asarray(seconds) * 1000.0
    return {"artifact": str(artifact.path), "settings": asdict(settings),
            "frames": {"chunk": chunk, "left": left, "right": right, "hop_ms": hop * 1000.0},
            "utterances": len(data), "whole": {"wer": full["wer"], "cer": full["cer"]},
            "chunked": {"wer": streamed["wer"], "cer": streamed["cer"]},
            "wer_cost": streamed["wer"] - full["wer"],
            "window_ms": {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
                          "calls": int(ms.size)},
            "algorithmic_latency_ms": (chunk + right) * hop * 1000.0, "threads": threads,
            "normalization": "running: the mean and variance of the audio heard so far"
            if config.normalize == "per_utterance" else config.normalize}
