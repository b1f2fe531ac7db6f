"""The ASR task: features in, one graph, CTC log-probs out, decoded to text and scored by WER/CER."""

from __future__ import annotations

import numpy as np

from speechopt.errors import SpeechoptError
from speechopt.tasks.asr.data import frontend_config, load_audio_files, load_manifest_data, tokenizer
from speechopt.tasks.base import Driver, Metric, Task, length_sorted_batches

ACCURACY_MODE = "one utterance at a time (no padding), greedy CTC, same for every variant"

# Default TensorRT optimization profile for ONNX Runtime's TensorRT provider: 0.16 s to 30 s, tuned for
# batch 8 of 10 s utterances, in the model's own time steps (10 ms frames, or samples for waveform models).
DEFAULT_TRT_SECONDS = {"min": 0.16, "opt": 10.0, "max": 30.0}
DEFAULT_TRT_BATCH = {"min": 1, "opt": 8, "max": 32}


def default_trt_profile(config) -> dict:
    """DEFAULT_TRT_SECONDS in this frontend's time steps: a fixed frame count would give a waveform model
    (one step per sample) a 0.19 s maximum."""
    samples_per_step = 1 if config.kind == "waveform" else config.hop_length
    return {kind: {"batch": DEFAULT_TRT_BATCH[kind],
                   "frames": max(1, round(seconds * config.sample_rate / samples_per_step))}
            for kind, seconds in DEFAULT_TRT_SECONDS.items()}


class AsrDriver(Driver):
    """One graph: features + lengths -> log_probs + out_lengths."""

    def __init__(self, artifact, device="cpu", threads=None, options=None):
        if len(artifact.graphs) != 1:
            raise SpeechoptError(f"{artifact.path}: an asr artifact has one graph, this one has "
                                 f"{', '.join(artifact.graphs) or 'none'}")
        super().__init__(artifact, device, threads, options)
        self._runner = next(iter(self.runners.values()))

    def __call__(self, inputs):
        return self._runner.infer(inputs)


class AsrTask(Task):
    name = "asr"
    metrics = {
        "wer": Metric("wer", "WER", "points", "word error rate, in percentage points of drift"),
        "cer": Metric("cer", "CER", "points", "character error rate, in percentage points of drift"),
    }
    accuracy_mode = ACCURACY_MODE
    zoo_evaluation_options = {"also": ("lexicon",)}  # bundled models record both decoders
    default_data = "zoo:eval"

    def check_compatible(self, reference, artifact) -> None:
        super().check_compatible(reference, artifact)
        if artifact.manifest.get("frontend") != reference.manifest.get("frontend"):
            raise SpeechoptError(f"{artifact.path}: frontend settings differ from the reference's {reference.path}; "
                                 "a drift figure would compare different inputs")
        if artifact.manifest.get("tokenizer") != reference.manifest.get("tokenizer"):
            raise SpeechoptError(f"{artifact.path}: vocabulary differs from the reference's {reference.path}")

    def runner_options(self, artifact, graph, device):
        if device == "tensorrt" and artifact.format == "onnx":
            return {"trt_profile": default_trt_profile(frontend_config(artifact))}
        return {}

    def driver(self, artifact, device="cpu", threads=None) -> AsrDriver:
        return AsrDriver(artifact, device, threads, options=lambda g: self.runner_options(artifact, g, device))

    # -- data ----------------------------------------------------------------------------------------
    def load_data(self, artifact, manifest, max_items=None, progress=None):
        return load_manifest_data(artifact, manifest, max_items, progress)

    def load_audio_files(self, artifact, paths):
        return load_audio_files(artifact, paths)

    def check_data(self, artifact, manifest, max_items=None):
        from speechopt.data.manifest import read_manifest
        from speechopt.text import normalize_text

        if not any(normalize_text(u.text) for u in read_manifest(manifest)[:max_items]):
            raise SpeechoptError(f"{manifest}: no usable utterances (no transcript has any words)")

    def calibration_feeds(self, artifact, data, graph):
        return list(data.items)

    def sample(self, data, count: int):
        """`count` utterances evenly spaced over the sorted durations (calibration and agreement checks)."""
        order = sorted(range(len(data)), key=lambda i: data.durations[i])
        step = max(1, len(order) // count)
        return data.subset(order[::step][:count])

    # -- running -------------------------------------------------------------------------------------
    def run(self, driver, data, batch_size=1, progress=None) -> list[np.ndarray]:
        """Log-probs of every utterance, trimmed to its length. Batch size 1 (the default, and what the
        bench uses) keeps padding away from bidirectional LSTMs; larger batches pad and may differ."""
        from speechopt.progress import progress_bar

        outputs: list = [None] * len(data)
        groups = ([[i] for i in range(len(data))] if batch_size == 1
                  else length_sorted_batches(data.lengths, batch_size))
        with progress_bar(len(data), "transcribing" if progress is None else progress) as advance:
            for idx in groups:
                out = driver(data.items[idx[0]] if batch_size == 1 else data.batch(idx))
                lp, n = out["log_probs"], out["out_lengths"]
                for j, i in enumerate(idx):
                    outputs[i] = np.asarray(lp[j, : int(n[j])], dtype=np.float32)
                advance(len(idx))
        return outputs

    def decode(self, artifact, outputs, decoder: str = "greedy", lexicon=None, beam: int = 16):
        """Texts of per-utterance log-probs and a description of the decoder."""
        from speechopt.tasks.asr.decode import make_decoder

        decode, info = make_decoder(decoder, tokenizer(artifact), lexicon, beam)
        return [decode(lp[None], np.array([len(lp)]))[0] for lp in outputs], info

    def score(self, outputs, data, artifact=None, decoder="greedy", lexicon=None, beam=16, also=()):
        from speechopt.tasks.asr.metrics import error_rates
        from speechopt.text import NORMALIZATION

        if data.references is None:
            raise SpeechoptError("no transcripts to score against")
        hyps, info = self.decode(artifact, outputs, decoder, lexicon, beam)
        result = {**info, "normalization": NORMALIZATION, **error_rates(data.references, hyps)}
        for name in also:  # further decoders on the same log-probs: no second model pass
            texts, other = self.decode(artifact, outputs, name, lexicon, beam)
            result[name] = {**other, **error_rates(data.references, texts)}
        result["examples"] = [{"ref": r, "hyp": h} for r, h in list(zip(data.references, hyps))[:5]]
        result["hypotheses"] = hyps
        return result

    # -- the bench -----------------------------------------------------------------------------------
    def record(self, artifact, outputs, data, path) -> dict:
        """What a bench worker keeps: greedy transcripts in the JSON, log-probs in `path` (npz)."""
        from speechopt.tasks.asr.decode import ctc_greedy

        tok = tokenizer(artifact)
        hyps = [ctc_greedy(lp[None], np.array([len(lp)]), tok)[0] for lp in outputs]
        np.savez_compressed(path, *outputs)
        return {"hypotheses": hyps, "references": data.references, "durations": data.durations,
                "outputs_file": str(path)}

    def accuracy(self, result, reference):
        from speechopt.tasks.asr.metrics import error_rates

        refs, hyps, ref_hyps = result["references"], result["hypotheses"], reference["hypotheses"]
        overall, ref_overall = error_rates(refs, hyps), error_rates(refs, ref_hyps)
        by_length = {}
        for name, idx in length_buckets(result["durations"]).items():
            if not idx:
                continue
            v = error_rates([refs[i] for i in idx], [hyps[i] for i in idx])["wer"]
            r = error_rates([refs[i] for i in idx], [ref_hyps[i] for i in idx])["wer"]
            by_length[name] = {"wer": v, "reference_wer": r, "wer_drift": v - r,
                               "max_seconds": max(result["durations"][i] for i in idx)}
        logits, ref_logits = _load(result["outputs_file"]), _load(reference["outputs_file"])
        diffs = [float(np.abs(a - b).max()) for a, b in zip(logits, ref_logits) if a.shape == b.shape]
        wer_drift, cer_drift = overall["wer"] - ref_overall["wer"], overall["cer"] - ref_overall["cer"]
        return {
            "wer": overall["wer"], "cer": overall["cer"], "wer_drift": wer_drift, "cer_drift": cer_drift,
            "wer_drift_relative": wer_drift / ref_overall["wer"] if ref_overall["wer"] else None,
            "drift": {"wer": wer_drift * 100.0, "cer": cer_drift * 100.0},  # in the metrics' unit: points
            "identical_transcripts": sum(h == r for h, r in zip(hyps, ref_hyps)) / len(hyps),
            "max_logit_diff": max(diffs) if len(diffs) == len(logits) else None,
            "drift_by_length": by_length,
            "utterances": overall["utterances"],
        }

    def macs(self, artifact, data):
        """Multiply-adds per utterance, from the architecture's layer shapes (the same for every variant of
        one architecture and config); None for an architecture that cannot be rebuilt shape-only."""
        from speechopt.models.macs import macs_counter
        from speechopt.models.registry import get_architecture

        arch = artifact.architecture or {}
        try:
            count = macs_counter(get_architecture(arch["name"]).build(arch["config"]))
            return [count(item["features"], item["lengths"]) for item in data.items]
        except Exception:  # an imported model (wav2vec2) may not build on the meta device: no figure
            return None

    def summary(self, result):
        return {"wer": result["wer"], "cer": result["cer"], "wer_drift": result["wer_drift"],
                "cer_drift": result["cer_drift"], "drift": result["drift"],
                "identical_transcripts": result["identical_transcripts"], "max_logit_diff": result["max_logit_diff"],
                "drift_by_length": {k: v["wer_drift"] for k, v in result["drift_by_length"].items()}}

    def columns(self, compact=False):
        def pct(v, spec=".2f"):
            return "-" if v is None else format(v * 100, spec)

        cols = [("WER", lambda r: pct(r["wer"]) + "%"), ("drift", lambda r: pct(r["wer_drift"], "+.2f"))]
        if not compact:
            cols += [("long drift", lambda r: pct(r["drift_by_length"].get("long"), "+.2f")),
                     ("same text", lambda r: pct(r["identical_transcripts"], ".1f") + "%"),
                     ("GFLOP/s", lambda r: "-" if r.get("gflops") is None else f"{r['gflops']:.1f}"),
                     ("% sgemm", lambda r: pct(r.get("sgemm_fraction"), ".0f"))]
        return cols

    def plot_axis(self):
        return "WER (%)", lambda r: r["wer"] * 100

    def describe_score(self, result):
        how = ("greedy" if result["decoder"] == "greedy"
               else f"lexicon of {result['lexicon_words']} words, beam {result['beam']}")
        return (f"WER {result['wer']:.2%}  CER {result['cer']:.2%}  [{how}]  ({result['utterances']} utterances, "
                f"{result['ref_words']} words; normalization: {result['normalization']})")

    def describe_quality(self) -> str:
        return "drift in WER points vs reference"

    # -- export and quantization -----------------------------------------------------------------
    def validate_export(self, source, candidate, data, atol, threads=None):
        from speechopt.tasks.asr.validation import validate_export

        return validate_export(self, source, candidate, data, atol, threads)

    def agreement(self, artifact, parent, child):
        from speechopt.tasks.asr.validation import agreement

        return agreement(parent, child, tokenizer(artifact))

    def zoo_figures(self, evaluation):
        lexicon = evaluation.get("lexicon") or {}
        figures = {"eval_wer": evaluation["wer"], "eval_cer": evaluation["cer"]}
        if lexicon:
            figures.update(eval_wer_lexicon=lexicon["wer"], eval_cer_lexicon=lexicon["cer"],
                           eval_lexicon_beam=lexicon["beam"])
        return figures


def length_buckets(durations: list[float]) -> dict[str, list[int]]:
    """Utterance indices in thirds by duration: short, medium, long."""
    order = np.argsort(durations, kind="stable")
    thirds = np.array_split(order, 3)
    return {name: sorted(int(i) for i in part) for name, part in zip(("short", "medium", "long"), thirds)}


def _load(path: str) -> list[np.ndarray]:
    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]
