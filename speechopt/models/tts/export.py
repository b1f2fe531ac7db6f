"""Export config of Tacotron 2: three graphs, the loop that drives them lives in the TTS task (or, with
`export --loop graph`, in the graph `decoder_loop` instead of `decoder_step`: `speechopt.models.tts.tacotron2_loop`).

- `encoder`: tokens (batch, text) int64, lengths (batch,) int64 -> memory (batch, text, encoder_dim),
  processed_memory (batch, text, attention_dim) (the attention's memory projection, computed once).
- `decoder_step`: prev_frame (batch, n_mels), the seven states att_h, att_c (batch, attention_rnn_dim),
  dec_h, dec_c (batch, decoder_rnn_dim), att_w, att_w_cum (batch, text), context (batch, encoder_dim),
  then memory, processed_memory, mask (batch, text) **bool** (True on real tokens) and one prenet dropout
  mask per prenet layer, prenet_mask_0.. (batch, size) float32 (0 or 1/(1-p); all ones = dropout off)
  -> frames (batch, reduction * n_mels), gate (batch,) logit, and the seven new states `new_<name>` in the
  same order. ONNX names a value once, so a state's output cannot carry its input's name.
- `postnet`: decoder_mel (batch, frames, n_mels) -> mel (batch, frames, n_mels) = decoder_mel + residual.

Exporter: legacy (TorchScript-based) only: the encoder's BiLSTM and the two LSTM cells are recurrent
layers, which torch 2.13's dynamo exporter cannot keep dynamic (see ExportConfig.onnx_exporters). The
legacy exporter takes a bool mask as an ONNX `tensor(bool)` input (`Not` + `Where` inside) and ONNX
Runtime feeds it from numpy bool arrays, so the manifest records dtype `bool`.

The encoder is traced without padding (every example and check has lengths == text length): the model's
encode packs padded batches, and a traced pack bakes the example's lengths in. An exported encoder is
therefore exact for unpadded batches, which is how the TTS task runs it (one sentence at a time).
"""

from __future__ import annotations

import numpy as np

from speechopt.errors import SpeechoptError
from speechopt.models.export_config import ExportConfig, tensor

STATE_NAMES = ("att_h", "att_c", "dec_h", "dec_c", "att_w", "att_w_cum", "context")
# (batch, text or frames)
EXAMPLE_SHAPES = {"encoder": (2, 7), "decoder_step": (2, 7), "decoder_loop": (2, 7), "postnet": (2, 13)}
CHECK_SHAPES = {"encoder": ((1, 3), (3, 11)), "decoder_step": ((1, 3), (3, 11)), "decoder_loop": ((1, 3), (3, 11)),
                "postnet": ((1, 5), (3, 23))}


class Tacotron2ExportConfig(ExportConfig):
    tolerance = 1e-3
    architecture = "tacotron2"
    state_names = STATE_NAMES

    def __init__(self, manifest: dict):
        super().__init__(manifest)
        from speechopt.models.registry import get_architecture

        self.config = get_architecture(self.architecture).full_config(self.config)
        # "step": the decoder step is a graph and the driver loops over it; "graph": the loop is in the graph
        # (`speechopt.models.tts.tacotron2_loop`), set by `export --loop graph` and kept in the manifest
        self.loop = manifest.get("export_loop", "step")
        if self.loop not in ("step", "graph"):
            raise SpeechoptError(f"unknown decoder loop mode {self.loop!r} (step or graph)")
        if self.loop == "graph" and self.architecture != "tacotron2":
            raise SpeechoptError(f"the in-graph decoder loop is implemented for tacotron2, not {self.architecture}")

    # -- sizes ---------------------------------------------------------------------------------------
    @property
    def n_mels(self) -> int:
        return int(self.config["n_mels"])

    @property
    def prenet_dims(self) -> list[int]:
        return [int(d) for d in self.config["prenet_dims"]]

    @property
    def encoder_dim(self) -> int:
        return int(self.config["encoder_dim"])

    def state_tensors(self, prefix: str = "") -> list[dict]:
        c = self.config
        ha, hd, e = int(c["attention_rnn_dim"]), int(c["decoder_rnn_dim"]), self.encoder_dim
        shapes = {"att_h": ("batch", ha), "att_c": ("batch", ha), "dec_h": ("batch", hd), "dec_c": ("batch", hd),
                  "dec_h1": ("batch", hd), "dec_h2": ("batch", hd),
                  "att_w": ("batch", "text"), "att_w_cum": ("batch", "text"), "context": ("batch", e)}
        return [tensor(prefix + name, "float32", *shapes[name]) for name in self.state_names]

    def postnet_output(self) -> dict:
        return tensor("mel", "float32", "batch", "frames", self.n_mels)

    def prenet_mask_names(self) -> list[str]:
        return [f"prenet_mask_{i}" for i in range(len(self.prenet_dims))]

    # -- graphs --------------------------------------------------------------------------------------
    def graphs(self):
        c = self.config
        e, a, r = self.encoder_dim, int(c["attention_dim"]), int(c["reduction"])
        memory = [tensor("memory", "float32", "batch", "text", e),
                  tensor("processed_memory", "float32", "batch", "text", a)]
        step_in = ([tensor("prev_frame", "float32", "batch", self.n_mels)] + self.state_tensors() + memory
                   + [tensor("mask", "bool", "batch", "text")]
                   + [tensor(n, "float32", "batch", d) for n, d in zip(self.prenet_mask_names(), self.prenet_dims)])
        step_out = ([tensor("frames", "float32", "batch", r * self.n_mels), tensor("gate", "float32", "batch")]
                    + self.state_tensors("new_"))
        encoder = ([tensor("tokens", "int64", "batch", "text"), tensor("lengths", "int64", "batch")], memory)
        postnet = ([tensor("decoder_mel", "float32", "batch", "frames", self.n_mels)], [self.postnet_output()])
        if self.loop == "graph":
            loop_in = memory + [tensor("mask", "bool", "batch", "text"),
                                tensor("prenet_masks", "float32", "cap", "batch", sum(self.prenet_dims)),
                                tensor("gate_threshold", "float32")]
            loop_out = [tensor("frames", "float32", "steps", "batch", r * self.n_mels),
                        tensor("gates", "float32", "steps", "batch"),
                        tensor("alignments", "float32", "steps", "batch", "text"),
                        tensor("steps", "int64", "batch")]
            return {"encoder": encoder, "decoder_loop": (loop_in, loop_out), "postnet": postnet}
        return {"encoder": encoder, "decoder_step": (step_in, step_out), "postnet": postnet}

    def modules(self, model):
        mods = model.export_modules()
        if self.loop == "graph":
            from speechopt.models.tts.tacotron2_loop import scripted_loop

            del mods["decoder_step"]
            mods = {"encoder": mods["encoder"], "decoder_loop": scripted_loop(model), "postnet": mods["postnet"]}
        return mods

    # -- inputs --------------------------------------------------------------------------------------
    def _inputs(self, graph: str, batch: int, length: int, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        c = self.config
        if graph == "encoder":
            # ids >= 2 (0 is padding, 1 end of sequence), no padding: see the module docstring
            return {"tokens": rng.integers(2, int(c["vocab_size"]), (batch, length)).astype(np.int64),
                    "lengths": np.full((batch,), length, np.int64)}
        if graph == "postnet":
            return {"decoder_mel": rng.standard_normal((batch, length, self.n_mels)).astype(np.float32)}
        if graph == "decoder_loop":  # a cap of 2 x text steps; masks of the first sentence full, others shorter
            lengths = np.array([max(1, length - (length * i) // 3) for i in range(batch)])
            keep = 1.0 - float(c["prenet_dropout"])
            return {"memory": rng.standard_normal((batch, length, self.encoder_dim)).astype(np.float32),
                    "processed_memory": rng.standard_normal((batch, length, int(c["attention_dim"]))).astype(np.float32),
                    "mask": np.arange(length)[None, :] < lengths[:, None],
                    "prenet_masks": ((rng.random((2 * length, batch, sum(self.prenet_dims))) < keep) / keep
                                     ).astype(np.float32),
                    "gate_threshold": np.array(0.5, np.float32)}
        # decoder_step: the first sentence is full length, the others shorter (masked tail)
        lengths = np.array([max(1, length - (length * i) // 3) for i in range(batch)])
        mask = np.arange(length)[None, :] < lengths[:, None]
        out = {"prev_frame": rng.standard_normal((batch, self.n_mels)).astype(np.float32)}
        for t in self.state_tensors():
            shape = [batch if d == "batch" else length if d == "text" else d for d in t["shape"]]
            out[t["name"]] = (0.5 * rng.standard_normal(shape)).astype(np.float32)
        w = rng.random((batch, length)) * mask
        out["att_w"] = (w / w.sum(1, keepdims=True)).astype(np.float32)
        if "att_w_cum" in out:
            out["att_w_cum"] = (out["att_w"] * rng.integers(1, 5, (batch, 1))).astype(np.float32)
        out["memory"] = rng.standard_normal((batch, length, self.encoder_dim)).astype(np.float32)
        out["processed_memory"] = rng.standard_normal((batch, length, int(c["attention_dim"]))).astype(np.float32)
        out["mask"] = mask
        keep = 1.0 - float(c["prenet_dropout"])
        for name, d in zip(self.prenet_mask_names(), self.prenet_dims):
            out[name] = ((rng.random((batch, d)) < keep) / keep).astype(np.float32)
        # the graph's inputs, in its order (Tacotron's step does not take the previous attention weights)
        return {t["name"]: out[t["name"]] for t in self.graphs()["decoder_step"][0]}

    def example_inputs(self, graph: str) -> tuple:
        import torch

        return tuple(torch.from_numpy(v) for v in self._inputs(graph, *EXAMPLE_SHAPES[graph], seed=0).values())

    def check_inputs(self, graph: str) -> list[dict[str, np.ndarray]]:
        return [self._inputs(graph, b, n, seed=1 + i) for i, (b, n) in enumerate(CHECK_SHAPES[graph])]

    @staticmethod
    def _shape(graph, inputs) -> tuple[int, str, int]:
        """(batch, name of the dynamic length, its value) of one graph's inputs."""
        key, dim = {"encoder": ("tokens", "text"), "decoder_step": ("mask", "text"),
                    "decoder_loop": ("mask", "text"), "postnet": ("decoder_mel", "frames")}[graph]
        return int(inputs[key].shape[0]), dim, int(inputs[key].shape[1])

    def describe(self, graph, inputs):
        batch, dim, n = self._shape(graph, inputs)
        return f"{graph} batch {batch} x {dim} {n}"

    def check_record(self, graph, inputs):
        batch, dim, n = self._shape(graph, inputs)
        return {"batch": batch, dim: n}

    def compare(self, graph, inputs, ref, out):
        """Largest |difference| over valid values: the attention weights (and their running sum) only over
        each sentence's real tokens (`mask`); every other output in full. A shape mismatch is an error."""
        worst = 0.0
        mask = inputs.get("mask") if graph in ("decoder_step", "decoder_loop") else None
        for name, a in ref.items():
            b = out[name]
            if a.shape != b.shape:
                raise SpeechoptError(f"output {name} of {graph} has shape {b.shape}, the source gives {a.shape}: "
                                     "a dynamic axis was frozen")
            if not a.size:
                continue
            diff = np.abs(a.astype(np.float64) - b)
            if mask is not None and name in ("new_att_w", "new_att_w_cum"):
                diff = diff[mask]
            elif mask is not None and name == "alignments":  # (steps, batch, text): real tokens only
                diff = diff[:, mask]
            worst = max(worst, float(diff.max()) if diff.size else 0.0)
        return worst

    def onnx_exporters(self, model):
        if self.architecture == "tacotron":
            return ["legacy"], ("Tacotron has GRU layers (CBHG GRUs, attention and decoder GRU cells): torch 2.13's "
                                "dynamo exporter cannot keep their axes dynamic")
        return ["legacy"], ("Tacotron 2 has LSTM layers (encoder BiLSTM, attention and decoder LSTMCells): torch 2.13's "
                            "dynamo exporter cannot keep their axes dynamic")


class TacotronExportConfig(Tacotron2ExportConfig):
    """Tacotron: the same three graphs with its own states (GRU cells: no cell state; content attention: the
    weights are an output, `new_att_w`, not an input) and a post-net that outputs the log linear magnitude,
    `linear` (batch, frames, n_freq)."""

    architecture = "tacotron"
    state_names = ("att_h", "dec_h1", "dec_h2", "att_w", "context")

    @property
    def encoder_dim(self) -> int:
        return 2 * int(self.config["encoder_gru"])

    def postnet_output(self) -> dict:
        return tensor("linear", "float32", "batch", "frames", int(self.config["n_freq"]))

    def graphs(self):
        graphs = super().graphs()
        step_in, step_out = graphs["decoder_step"]
        # the weights are an output only (content attention does not read the previous step's)
        graphs["decoder_step"] = ([t for t in step_in if t["name"] != "att_w"], step_out)
        return graphs
