"""The attention-decoder loop over three graphs (Tacotron 2 and Tacotron), the same on every backend
(pytorch, torchscript, onnx runners), and the one-graph FastSpeech driver.

encoder once -> decoder_step until the stop gate (state fed back) -> postnet. Everything between the graph
calls is numpy: initial states, the prenet dropout masks, the stop test and the frame bookkeeping, so
two backends differ only by what their graphs compute. The states are what the step graph declares: each
input `x` with an output `new_x` (Tacotron 2: LSTM h and c, attention weights and their running sum,
context; Tacotron: GRU states, attention weights, context). A post-net that outputs `linear` (Tacotron's
log linear magnitude) leaves the decoder's mel as "mel" and adds "linear" for Griffin-Lim.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from speechopt.errors import SpeechoptError
from speechopt.tasks.base import Driver

GRAPHS = ("encoder", "decoder_step", "postnet")


@dataclass(frozen=True)
class SynthesisSettings:
    """How the loop runs; identical for reference and variant.

    - a sentence stops after the first decoder step whose sigmoid(gate) > `gate_threshold`, or at the cap:
      `max_steps` decoder steps if given, else ceil(`max_frames_per_token` * tokens / reduction) + 10
      (never more than `hard_max_steps`); a capped sentence is marked gate_fired=False;
    - prenet dropout (Tacotron 2 keeps it on at inference): `prenet_seed` an int draws the masks, per sentence,
      from numpy's default_rng(prenet_seed) (Bernoulli(1 - p) / (1 - p), one mask per prenet layer and step);
      None turns it off (masks of ones). The masks are inputs of the step graph, the same for every backend.
    """

    gate_threshold: float = 0.5
    max_steps: int | None = None
    max_frames_per_token: float = 20.0
    hard_max_steps: int = 1000
    prenet_seed: int | None = 0

    def cap(self, tokens: int, reduction: int) -> int:
        if self.max_steps is not None:
            return int(self.max_steps)
        return min(self.hard_max_steps, math.ceil(self.max_frames_per_token * tokens / reduction) + 10)

    def to_dict(self) -> dict:
        return asdict(self)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


class AttentionDriver(Driver):
    """`driver({"tokens": (B, T), "lengths": (B,)})` -> {"mel" (B, F, n_mels) after the postnet, zero past each
    sentence's end, "mel_lengths" (B,) frames, "steps" (B,) decoder steps, "gate_fired" (B,) bool,
    "alignments" (B, S, T)} (+ "linear" (B, F, n_freq) for a post-net to the linear magnitude);
    `{"sequence": [item, ...]}` runs the items one after another (a list back).

    Unpadded batches only (the exported encoder is traced without padding): the task runs one sentence at a
    time."""

    def __init__(self, artifact, device="cpu", threads=None, options=None, settings: SynthesisSettings | None = None):
        # the loop is the driver's (graph decoder_step) or inside a graph (decoder_loop: `export --loop graph`)
        self.in_graph = "decoder_loop" in artifact.graphs
        needed = ("encoder", "decoder_loop", "postnet") if self.in_graph else GRAPHS
        missing = [g for g in needed if g not in artifact.graphs]
        if missing:
            raise SpeechoptError(f"{artifact.path}: an attention TTS artifact has graphs {', '.join(needed)}; "
                                 f"this one lacks {', '.join(missing)}")
        super().__init__(artifact, device, threads, options)
        self.settings = settings or SynthesisSettings()
        config = (artifact.manifest.get("architecture") or {}).get("config") or {}
        self.prenet_keep = 1.0 - float(config.get("prenet_dropout", 0.5))
        self.linear = any(t["name"] == "linear" for t in artifact.graphs["postnet"]["outputs"])
        if self.in_graph:
            loop = artifact.graphs["decoder_loop"]
            self.n_mels = int(artifact.graphs["postnet"]["inputs"][0]["shape"][-1])
            frames = next(t for t in loop["outputs"] if t["name"] == "frames")["shape"][-1]
            self.reduction = int(frames) // self.n_mels
            self._mask_sizes = [int(d) for d in config.get("prenet_dims", [])]
            return
        step = artifact.graphs["decoder_step"]
        self._inputs = {t["name"]: t for t in step["inputs"]}
        self._mask_names = [n for n in self._inputs if n.startswith("prenet_mask_")]
        outputs = {t["name"] for t in step["outputs"]}
        self.state_names = [n for n in self._inputs if "new_" + n in outputs]
        frames = next(t for t in step["outputs"] if t["name"] == "frames")["shape"][-1]
        self.n_mels = int(self._inputs["prev_frame"]["shape"][-1])
        self.reduction = int(frames) // self.n_mels

    def _zeros(self, name: str, batch: int, text: int) -> np.ndarray:
        shape = [batch if d == "batch" else text if d == "text" else int(d) for d in self._inputs[name]["shape"]]
        return np.zeros(shape, np.float32)

    def _prenet_masks(self, rng, batch: int) -> dict:
        out = {}
        for name in self._mask_names:
            size = int(self._inputs[name]["shape"][-1])
            if rng is None:
                out[name] = np.ones((batch, size), np.float32)
            else:
                out[name] = ((rng.random((batch, size)) < self.prenet_keep) / self.prenet_keep).astype(np.float32)
        return out

    def __call__(self, inputs):
        if "sequence" in inputs:
            return [self(item) for item in inputs["sequence"]]
        return self._synthesize(inputs)

    def first_chunk(self, inputs, frames: int) -> dict:
        """What a streaming synthesizer has first: the decoder run only until `frames` frames (or its stop),
        through the post-net; the same keys as a call. The in-graph loop cannot stop early: it runs to its
        stop and is cut, which is what it costs a stream."""
        return self._synthesize(inputs, stop_after_frames=frames)

    def _synthesize(self, inputs, stop_after_frames: int | None = None):
        s = self.settings
        tokens, lengths = inputs["tokens"], inputs["lengths"]
        batch, text = tokens.shape
        if not np.all(lengths == text):
            raise SpeechoptError("the attention TTS driver takes unpadded sentences (one at a time)")
        enc = self.runners["encoder"].infer({"tokens": tokens, "lengths": lengths})
        if self.in_graph:
            frames, steps, fired, aligns = self._run_loop(enc, lengths, batch, text)
            if stop_after_frames is not None:
                keep = -(-stop_after_frames // self.reduction)
                frames, aligns, steps = frames[:, :keep], aligns[:, :keep], np.minimum(steps, keep)
            return self._finish(frames, steps, fired, aligns, batch)
        feeds = {name: self._zeros(name, batch, text) for name in self.state_names}
        feeds.update(prev_frame=np.zeros((batch, self.n_mels), np.float32), memory=enc["memory"],
                     processed_memory=enc["processed_memory"], mask=np.arange(text)[None, :] < lengths[:, None])
        rng = None if s.prenet_seed is None else np.random.default_rng(s.prenet_seed)
        finished = np.zeros(batch, bool)
        fired = np.zeros(batch, bool)
        steps = np.zeros(batch, np.int64)
        frames, aligns = [], []
        step_runner = self.runners["decoder_step"]
        cap = s.cap(text, self.reduction)
        if stop_after_frames is not None:
            cap = min(cap, -(-stop_after_frames // self.reduction))
        for _ in range(cap):
            feeds.update(self._prenet_masks(rng, batch))
            out = step_runner.infer(feeds)
            frame = out["frames"]
            frames.append(frame)
            aligns.append(out["new_att_w"])
            steps += ~finished
            stop = _sigmoid(out["gate"]) > s.gate_threshold
            fired |= stop & ~finished
            finished |= stop
            for name in self.state_names:
                feeds[name] = out["new_" + name]
            feeds["prev_frame"] = frame.reshape(batch, self.reduction, self.n_mels)[:, -1]
            if finished.all():
                break
        return self._finish(np.stack(frames, 1), steps, fired, np.stack(aligns, 1), batch)

    def _run_loop(self, enc, lengths, batch: int, text: int):
        """The in-graph loop: the same prenet masks as the step mode draws (per step, per layer, in order),
        for every step up to the cap, fed at once."""
        s = self.settings
        cap = s.cap(text, self.reduction)
        rng = None if s.prenet_seed is None else np.random.default_rng(s.prenet_seed)
        rows = []
        for _ in range(cap):
            if rng is None:
                rows.append(np.ones((batch, sum(self._mask_sizes)), np.float32))
            else:
                rows.append(np.concatenate([((rng.random((batch, size)) < self.prenet_keep) / self.prenet_keep)
                                            .astype(np.float32) for size in self._mask_sizes], axis=-1))
        out = self.runners["decoder_loop"].infer({
            "memory": enc["memory"], "processed_memory": enc["processed_memory"],
            "mask": np.arange(text)[None, :] < lengths[:, None], "prenet_masks": np.stack(rows),
            "gate_threshold": np.array(s.gate_threshold, np.float32)})
        steps = out["steps"].astype(np.int64)
        gates = _sigmoid(out["gates"]) > s.gate_threshold  # (S', B)
        fired = np.array([bool(gates[: steps[b], b].any()) for b in range(batch)])
        return out["frames"].transpose(1, 0, 2), steps, fired, out["alignments"].transpose(1, 0, 2)

    def _finish(self, frames, steps, fired, alignments, batch: int):
        """frames (B, S, r * n_mels) -> the mel (zero past each sentence's end) through the post-net."""
        n = frames.shape[1]
        mel = frames.reshape(batch, n * self.reduction, self.n_mels)
        mel_lengths = steps * self.reduction
        valid = (np.arange(mel.shape[1])[None, :] < mel_lengths[:, None])[..., None]
        mel = (mel * valid).astype(np.float32)  # frames past a sentence's end must not reach its postnet window
        post = self.runners["postnet"].infer({"decoder_mel": mel})
        result = {"mel_before_postnet": mel, "mel_lengths": mel_lengths, "steps": steps, "gate_fired": fired,
                  "alignments": alignments}
        if self.linear:
            result.update(mel=mel, linear=(post["linear"] * valid).astype(np.float32))
        else:
            result["mel"] = (post["mel"] * valid).astype(np.float32)
        return result


class FastSpeechDriver(Driver):
    """One graph, `model`: tokens, lengths, duration_scale -> mel, mel_lengths, durations. The same keys as
    the Tacotron 2 driver, so the task scores both alike: a non-autoregressive model has one "step" per frame,
    its stop is always reached (`gate_fired`), and its alignment is the hard one its durations give."""

    reduction = 1

    def __init__(self, artifact, device="cpu", threads=None, options=None, settings: SynthesisSettings | None = None):
        if list(artifact.graphs) != ["model"]:
            raise SpeechoptError(f"{artifact.path}: a non-autoregressive TTS artifact has one graph, model; this one "
                                 f"has {', '.join(artifact.graphs)}")
        super().__init__(artifact, device, threads, options)
        self.settings = settings or SynthesisSettings()

    def __call__(self, inputs):
        if "sequence" in inputs:
            return [self(item) for item in inputs["sequence"]]
        tokens, lengths = inputs["tokens"], inputs["lengths"]
        scale = inputs.get("duration_scale", np.ones(tokens.shape[0], np.float32))
        out = self.runners["model"].infer({"tokens": tokens, "lengths": lengths, "duration_scale": scale})
        return self._result(out, tokens.shape[0])

    def first_chunk(self, inputs, frames: int) -> dict:
        """A non-autoregressive model has all its frames at once: the whole graph runs, cut to `frames`."""
        out = self(inputs)
        return {**out, "mel": out["mel"][:, :frames], "mel_before_postnet": out["mel_before_postnet"][:, :frames],
                "mel_lengths": np.minimum(out["mel_lengths"], frames)}

    def _result(self, out, batch: int) -> dict:
        mel, mel_lengths, durations = out["mel"], out["mel_lengths"].astype(np.int64), out["durations"]
        frames = mel.shape[1]
        ends = np.cumsum(durations, axis=1)  # (B, T): the frame each token's span ends at
        f = np.arange(frames)[None, :, None]
        alignments = ((f < ends[:, None, :]) & (f >= (ends - durations)[:, None, :])).astype(np.float32)
        return {"mel": mel.astype(np.float32), "mel_before_postnet": mel.astype(np.float32), "mel_lengths": mel_lengths,
                "steps": mel_lengths, "gate_fired": np.ones(batch, bool), "alignments": alignments}
