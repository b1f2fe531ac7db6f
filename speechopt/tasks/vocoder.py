"""The vocoder task: mel -> waveform, for learned vocoders with graphs (WaveNet; Griffin-Lim has none).

- data: a TTS manifest (default zoo:tts-eval); each item is the mel of the sentence's own audio in the
  vocoder's mel settings (copy synthesis), with the text for the round trip;
- `WaveNetDriver` runs the `conditioning` graph once per batch of mels, then the `step` graph once per
  sample with the layer queues fed back; everything between graph calls is numpy, and the uniform draws
  come from torch's generator seeded with `seed` (the draws `WaveNet.generate` uses), so the PyTorch and
  ONNX Runtime runners differ only by what their graphs compute;
- score: copy-synthesis WER/CER beside the floor and Griffin-Lim of the same mels
  (`speechopt.tasks.tts.vocoder_eval`); export validation and quantization agreement compare the generated
  samples and the step logits on the first samples of real mels.
The bench (`vocoder_bench.py`): generation timed per sentence and in padded batches, time to first audio, and
drift against the reference vocoder's audio (identical samples, SI-SDR, MCD, round-trip WER).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from speechopt.errors import SpeechoptError
from speechopt.tasks.base import Driver, Task
from speechopt.tasks.vocoder_bench import VocoderBenchMixin

GRAPHS = ("conditioning", "step")
VALIDATION_SAMPLES = 2000  # samples generated per sentence when an export or quantization is checked


class WaveNetDriver(Driver):
    """`driver({"mel": (B, F, n_mels), "samples": T, "seed": s, "temperature": t})` -> {"audio" (B, T) float32
    in [-1, 1], "classes" (B, T) int64, "logits_first" (B, classes) the first sample's logits}."""

    def __init__(self, artifact, device="cpu", threads=None, options=None):
        missing = [g for g in GRAPHS if g not in artifact.graphs]
        if missing:
            raise SpeechoptError(f"{artifact.path}: a WaveNet artifact has graphs {', '.join(GRAPHS)}; this one "
                                 f"lacks {', '.join(missing)}")
        self.queues = next((t for t in artifact.graphs["step"]["inputs"] if t["name"] == "queues"), None)
        if self.queues is None:
            raise SpeechoptError(f"{artifact.path}: its step graph has no `queues` input (an export of an older "
                                 "speechopt, with a tensor a layer): export it again")
        super().__init__(artifact, device, threads, options)
        config = (artifact.manifest.get("architecture") or {}).get("config") or {}
        self.classes = int(config.get("classes", 256))
        self.hop = int(np.prod(config.get("upsample_scales", [4, 5, 10])))

    def __call__(self, inputs):
        import torch

        from speechopt.models.tts.wavenet import mu_law_decode, mu_law_encode

        mel = np.ascontiguousarray(inputs["mel"], np.float32)
        batch = mel.shape[0]
        samples = int(inputs.get("samples", mel.shape[1] * self.hop))
        up = self.runners["conditioning"].infer({"mel": mel})["upsampled"][:, :, :samples]
        cond = np.ascontiguousarray(up.transpose(2, 0, 1))  # (T, B, C)
        gen = torch.Generator().manual_seed(int(inputs.get("seed", 0)))
        temperature = np.full(batch, float(inputs.get("temperature", 1.0)), np.float32)
        queues = np.zeros((batch, int(self.queues["shape"][1]), int(self.queues["shape"][2])), np.float32)
        prev = np.full(batch, int(mu_law_encode(torch.zeros(1), self.classes)[0]), np.int64)
        classes = np.empty((batch, samples), np.int64)
        step = self.runners["step"]
        first = None
        for t in range(samples):
            u = torch.rand(batch, generator=gen, dtype=torch.float64).numpy().astype(np.float32)
            out = step.infer({"prev_class": prev, "cond": cond[t], "u": u, "temperature": temperature,
                              "queues": queues})
            prev = out["sample"].astype(np.int64)
            classes[:, t] = prev
            if first is None:
                first = out["logits"]
            queues = out["new_queues"]
        return {"audio": mu_law_decode(torch.from_numpy(classes), self.classes).numpy(), "classes": classes,
                "logits_first": first}


@dataclass
class VocoderData:
    texts: list
    mels: list
    audio_paths: list
    durations: list
    names: list
    hop: int = 200

    def __len__(self) -> int:
        return len(self.mels)

    @cached_property  # the bench indexes it inside its timed calls
    def items(self) -> list[dict]:
        """Driver inputs, one sentence each: its mel, (frames - 1) x hop samples, seed 0."""
        return [{"mel": m[None], "samples": max(0, len(m) - 1) * self.hop, "seed": 0} for m in self.mels]

    @property
    def lengths(self) -> list[int]:
        return [len(m) for m in self.mels]

    def batch(self, idx: list[int]) -> dict:
        """Mels padded to the longest with their floor (silence), as many samples as the longest needs."""
        frames = max(len(self.mels[i]) for i in idx)
        floor = float(min(self.mels[i].min() for i in idx))
        mel = np.full((len(idx), frames, self.mels[idx[0]].shape[1]), floor, np.float32)
        for row, i in enumerate(idx):
            mel[row, : len(self.mels[i])] = self.mels[i]
        return {"mel": mel, "samples": max(0, frames - 1) * self.hop, "seed": 0}

    def subset(self, idx):
        return VocoderData(*[[getattr(self, f)[i] for i in idx] for f in ("texts", "mels", "audio_paths", "durations",
                                                                          "names")], hop=self.hop)


class VocoderTask(VocoderBenchMixin, Task):
    name = "vocoder"
    accuracy_mode = ("copy synthesis: the vocoder on the mels of the manifest's own audio, one sentence at a "
                     "time, seed 0 (the same draws for every variant); MCD between the mels of the variant's and "
                     "the reference's audio; round-trip WER of zoo:crnn-ctc on the audio")
    default_data = "zoo:tts-eval"

    def check_compatible(self, reference, artifact) -> None:
        super().check_compatible(reference, artifact)
        if artifact.manifest.get("mel") != reference.manifest.get("mel"):
            raise SpeechoptError(f"{artifact.path}: mel settings differ from the reference's {reference.path}")

    def driver(self, artifact, device="cpu", threads=None):
        if artifact.task != "vocoder":
            raise SpeechoptError(f"{artifact.path}: needs a vocoder artifact, this one is {artifact.task}")
        if not artifact.graphs:
            raise SpeechoptError(f"{artifact.path}: a {artifact.architecture.get('name')} vocoder has no graphs to "
                                 "run (it is a torch computation: use it through synth or a pipeline)")
        return WaveNetDriver(artifact, device, threads)

    def profile_dims(self, artifact, data, batch=None):
        """Engine profile ranges (batch, frames) from the mels of `data`'s own audio; batch up to the
        generation batch (16 mels at once by default)."""
        from speechopt.data.tts_corpus import read_tts_manifest
        from speechopt.models.tts.artifact import mel_config_of
        from speechopt.tasks.tts.profiles import vocoder_profile_dims

        rows = read_tts_manifest(data)
        return vocoder_profile_dims([float(r.get("duration") or 0.0) for r in rows], mel_config_of(artifact),
                                    batch or (1, 16, 16))

    def load_data(self, artifact, manifest, max_items=None, progress=None):
        from speechopt.audio.io import load_audio
        from speechopt.audio.mel import MelExtractor
        from speechopt.data.tts_corpus import read_tts_manifest
        from speechopt.models.tts.artifact import mel_config_of

        cfg = mel_config_of(artifact)
        rows = read_tts_manifest(manifest)[:max_items]
        if not rows:
            raise SpeechoptError(f"{manifest}: no sentences")
        extractor = MelExtractor(cfg)
        mels, durations = [], []
        for r in rows:
            audio = load_audio(r["audio_filepath"], cfg.sample_rate, allow_silent=True)
            mels.append(extractor(audio).numpy())
            durations.append(len(audio) / cfg.sample_rate)
        return VocoderData([r["text"] for r in rows], mels, [r["audio_filepath"] for r in rows], durations,
                           [str(i + 1) for i in range(len(rows))], hop=cfg.hop_length)

    def sample(self, data, count: int):
        order = sorted(range(len(data)), key=lambda i: len(data.mels[i]))
        if count >= len(order):
            return data
        picks = sorted({order[round(k * (len(order) - 1) / max(1, count - 1))] for k in range(count)})
        return data.subset(picks)

    def run(self, driver, data, batch_size=1, progress=None, samples: int | None = None):
        """Per sentence: audio (float32), classes, the first sample's logits; `samples` cuts each to its first
        samples (export and quantization checks), else (frames - 1) x hop as Griffin-Lim."""
        from speechopt.progress import progress_bar

        outputs = []
        with progress_bar(len(data), "vocoding" if progress is None else progress) as advance:
            for mel in data.mels:
                n = max(0, len(mel) - 1) * driver.hop if samples is None else min(samples, len(mel) * driver.hop)
                out = driver({"mel": mel[None], "samples": n, "seed": 0})
                outputs.append({"audio": out["audio"][0], "classes": out["classes"][0],
                                "logits_first": out["logits_first"][0] if out["logits_first"] is not None else None})
                advance(1)
        return outputs

    def score(self, outputs, data, artifact=None, threads=1, asr=None, **_ignored):
        """Copy-synthesis figures of `outputs` (the driver's audio of `data`'s mels)."""
        from speechopt.models.tts.artifact import mel_config_of
        from speechopt.tasks.tts.vocoder_eval import copy_synthesis_scores

        return copy_synthesis_scores([o["audio"] for o in outputs], data, mel_config_of(artifact), asr, threads)

    def _compare(self, ref, out) -> dict:
        same = [float(np.mean(a["classes"] == b["classes"])) for a, b in zip(ref, out)]
        # after the first differing draw the two histories differ: the prefix that agrees is the telling figure
        prefix = [int(np.argmax(a["classes"] != b["classes"])) if not np.array_equal(a["classes"], b["classes"])
                  else len(a["classes"]) for a, b in zip(ref, out)]
        logits = [float(np.abs(a["logits_first"].astype(np.float64) - b["logits_first"]).max())
                  for a, b in zip(ref, out) if a["logits_first"] is not None]
        return {"sentences": len(ref), "utterances": len(ref), "identical_samples": float(np.mean(same)),
                "agreeing_prefix_min": min(prefix), "first_logits_max_abs_diff": max(logits, default=0.0)}

    def validate_export(self, source, candidate, data, atol, threads=None):
        """The candidate's first `VALIDATION_SAMPLES` samples of each sentence against the source's, from the
        same draws: the first sample's logits within `atol`, and the samples identical up to the first draw
        that float rounding flips (both then continue from different histories, as two runs would)."""
        with self.driver(source, threads=threads) as a, self.driver(candidate, threads=threads) as b:
            ref = self.run(a, data, progress=False, samples=VALIDATION_SAMPLES)
            out = self.run(b, data, progress=False, samples=VALIDATION_SAMPLES)
        result = self._compare(ref, out)
        if not result["first_logits_max_abs_diff"] <= atol:
            raise SpeechoptError(f"validation failed: the first sample's logits differ by "
                                 f"{result['first_logits_max_abs_diff']:.3g} (atol {atol:g}) on {len(data)} sentences; "
                                 "no artifact written")
        if result["agreeing_prefix_min"] < 100:
            raise SpeechoptError(f"validation failed: a sentence's generated samples differ from the source's after "
                                 f"{result['agreeing_prefix_min']} samples; no artifact written")
        return {"passed": True, **result, "samples_per_sentence": VALIDATION_SAMPLES, "max_abs_diff":
                result["first_logits_max_abs_diff"]}

    def agreement(self, artifact, parent, child):
        return self._compare(parent, child)

    def describe_score(self, result):
        from speechopt.tasks.tts.vocoder_eval import describe_vocoder_eval

        return describe_vocoder_eval(result)

    def zoo_figures(self, evaluation):
        from speechopt.tasks.tts.vocoder_eval import vocoder_zoo_figures

        return vocoder_zoo_figures(evaluation)


__all__ = ["VocoderTask", "WaveNetDriver", "VocoderData"]
