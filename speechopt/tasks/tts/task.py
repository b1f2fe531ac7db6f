"""The TTS task: sentences in, Tacotron 2's three graphs driven by one loop, mels out, scored in the mel domain.

- data (`data.py`): a TTS manifest (JSONL `text`, optional `audio_filepath` of the synthesizer's own audio),
  a text file or a list of sentences -> token ids with the artifact's front end (`tokenizer` in the
  manifest); a sentence it cannot spell is one error naming the characters;
- driver (`driver.py`): encoder once, decoder_step until the stop gate or the cap, postnet; the same numpy
  loop and prenet masks for every backend, so drift measures the graphs;
- the bench (`bench.py`): what a worker records, drift against the reference (MCD, mel L1, round-trip WER,
  SI-SDR), report columns and the HTML report's audio; time to first audio (`first_audio`, here);
- `validate_export` (`validation.py`): exported vs pytorch on real sentences: the gate fires at the same step,
  the first decoder step within `atol`, the whole mels within the loop tolerances;
- `score` (`speechopt eval`): alignment health, mel L1 and MCD against the synthesizer's own audio where the
  manifest has it, and round-trip WER/CER (Griffin-Lim, then an ASR artifact, default `zoo:crnn-ctc`),
  with the floor (the same ASR on the own audio) and the vocoder's share (the same ASR on Griffin-Lim of
  the own audio's mel).
"""

from __future__ import annotations

import math

import numpy as np

from speechopt.errors import SpeechoptError
from speechopt.tasks.base import Metric, Task
from speechopt.tasks.tts.bench import TtsBenchMixin
from speechopt.tasks.tts.driver import AttentionDriver, FastSpeechDriver, SynthesisSettings
from speechopt.tasks.tts.scoring import (
    DEFAULT_ASR,
    alignment_summary,
    own_audio_distance,
    roundtrip_scores,
    spoken_lengths,
)
from speechopt.tasks.tts.validation import TtsValidationMixin

ACCURACY_MODE = ("one sentence at a time, prenet dropout masks from numpy default_rng(0) (identical for every "
                 "variant), gate threshold 0.5; mel L1 and MCD against the reference's mels; round-trip WER of "
                 "zoo:crnn-ctc on 32-iteration Griffin-Lim audio")
__all__ = ["DEFAULT_ASR", "TtsTask", "SynthesisSettings"]

# Time to first audio: the first FIRST_AUDIO_SECONDS of audio as a stream gives them. The decoder runs until
# that many frames plus POSTNET_LOOKAHEAD (Tacotron 2's post-net, 5 convolutions of kernel 5, sees 10 frames
# ahead, so the chunk's last frame is final), then the post-net and the vocoder run on the chunk.
FIRST_AUDIO_SECONDS = 0.25
POSTNET_LOOKAHEAD = 10


class TtsTask(TtsBenchMixin, TtsValidationMixin, Task):
    name = "tts"
    metrics = {
        "mcd": Metric("mcd", "MCD", "dB", "mel-cepstral distortion against the reference's mels (c1..c13, DTW)"),
        "mel_l1": Metric("mel_l1", "mel L1", "log-mel", "mean absolute log-mel difference to the reference's output "
                         "over the common length"),
        "roundtrip_wer": Metric("roundtrip_wer", "round-trip WER", "points", "WER of the bundled ASR (zoo:crnn-ctc) on "
                                "the Griffin-Lim audio, in percentage points of drift"),
    }
    accuracy_mode = ACCURACY_MODE
    streams = True
    default_data = "zoo:tts-eval"  # 120 sentences of the single-voice corpus no training sentence repeats

    def __init__(self, settings: SynthesisSettings | None = None):
        self.settings = settings or SynthesisSettings()

    # -- artifacts ----------------------------------------------------------------------------------
    def check_compatible(self, reference, artifact) -> None:
        super().check_compatible(reference, artifact)
        for field, what in (("tokenizer", "text front end"), ("mel", "mel settings")):
            if artifact.manifest.get(field) != reference.manifest.get(field):
                raise SpeechoptError(f"{artifact.path}: {what} differ from the reference's {reference.path}")

    def parts(self, artifact):
        """(acoustic model, vocoder): a pipeline's two verified components, or the artifact itself with the
        built-in Griffin-Lim at its own mel settings."""
        if artifact.format == "pipeline":
            from speechopt.models.tts.pipeline import load_pipeline

            # driver, data, scoring and the bench record all ask: verify (hash) the components once
            cache = self.__dict__.setdefault("_pipelines", {})
            key = (str(artifact.path), artifact.checksum)
            if key not in cache:
                cache[key] = load_pipeline(artifact)[1:]
            return cache[key]
        from speechopt.models.tts.artifact import mel_config_of
        from speechopt.models.tts.vocoder import griffin_lim_vocoder

        return artifact, griffin_lim_vocoder(mel_config_of(artifact))

    def driver(self, artifact, device="cpu", threads=None, settings: SynthesisSettings | None = None):
        if artifact.task != "tts":
            raise SpeechoptError(f"{artifact.path}: needs a tts artifact, this one is {artifact.task}")
        acoustic, _ = self.parts(artifact)  # a pipeline runs its acoustic model's graphs
        # an autoregressive model has a step graph to loop over; a non-autoregressive one is one graph
        kind = AttentionDriver if {"decoder_step", "decoder_loop"} & set(acoustic.graphs) else FastSpeechDriver
        return kind(acoustic, device, threads, options=lambda g: self.runner_options(acoustic, g, device),
                    settings=settings or self.settings)

    def profile_dims(self, artifact, data, batch=None):
        """Engine profile ranges (batch, text, frames, cap) from the sentences of `data` (`profiles.py`)."""
        from speechopt.tasks.tts.profiles import DEFAULT_TTS_BATCH, tts_profile_dims

        acoustic, _ = self.parts(artifact)
        return tts_profile_dims(acoustic, self.load_data(acoustic, data), self.settings, batch or DEFAULT_TTS_BATCH)

    # -- data ----------------------------------------------------------------------------------------
    def load_data(self, artifact, manifest, max_items=None, progress=None):
        from speechopt.tasks.tts.data import load_tts_data

        return load_tts_data(self.parts(artifact)[0], manifest, max_items)

    def check_data(self, artifact, manifest, max_items=None) -> None:
        self.load_data(artifact, manifest, max_items)

    def sample(self, data, count: int):
        order = sorted(range(len(data)), key=lambda i: data.lengths[i])
        step = max(1, len(order) // count)
        return data.subset(order[::step][:count])

    def calibration_feeds(self, artifact, data, graph: str, max_feeds: int = 256):
        """Real inputs of one graph, recorded while the loop runs on `artifact` (step graphs: every k-th step)."""
        feeds: list = []
        with self.driver(artifact) as driver:
            if graph not in driver.runners:
                raise SpeechoptError(f"{artifact.path}: no graph {graph!r}")
            runner = driver.runners[graph]
            infer = runner.infer

            def recording(inputs):
                feeds.append({k: np.array(v) for k, v in inputs.items()})
                return infer(inputs)

            runner.infer = recording
            try:
                for item in data.items:
                    driver(item)
            finally:
                runner.infer = infer
        step = max(1, len(feeds) // max_feeds)
        return feeds[::step][:max_feeds]

    # -- running -------------------------------------------------------------------------------------
    def run(self, driver, data, batch_size=1, progress=None) -> list[dict]:
        """Per sentence: mel (frames, n_mels) after the postnet, steps, gate_fired, alignment (steps, tokens).
        One sentence at a time whatever `batch_size` (see `TtsData.batch`). Sets `data.durations` to the
        synthesized audio seconds ((frames - 1) * hop / rate, what Griffin-Lim gives)."""
        from speechopt.models.tts.artifact import mel_config_of
        from speechopt.progress import progress_bar

        mel = mel_config_of(driver.artifact)
        outputs = []
        with progress_bar(len(data), "synthesizing" if progress is None else progress) as advance:
            for item in data.items:
                out = driver(item)
                n, s = int(out["mel_lengths"][0]), int(out["steps"][0])
                outputs.append({"mel": np.asarray(out["mel"][0, :n], np.float32), "steps": s,
                                "gate_fired": bool(out["gate_fired"][0]),
                                "alignment": np.asarray(out["alignments"][0, :s], np.float32),
                                # the first decoder step's frames: computed before any output is fed back
                                "first_step": np.asarray(out["mel_before_postnet"][0, : driver.reduction], np.float32)})
                if "linear" in out:  # Tacotron: the post-net's log linear magnitude, what Griffin-Lim inverts
                    outputs[-1]["linear"] = np.asarray(out["linear"][0, :n], np.float32)
                advance(1)
        data.durations = [max(0, len(o["mel"]) - 1) * mel.hop_length / mel.sample_rate for o in outputs]
        return outputs

    def first_audio(self, artifact, driver, item, threads=None):
        """The first FIRST_AUDIO_SECONDS of audio of one sentence: the decoder until those frames and the
        post-net's lookahead, the post-net, then the artifact's vocoder (Griffin-Lim unless a pipeline names
        another) on the chunk alone. A whole-sentence model (FastSpeech, or the in-graph loop) runs to the end
        first: that is its time to first audio."""
        from speechopt.models.tts.artifact import mel_config_of

        _, vocoder = self.parts(artifact)
        mel = mel_config_of(driver.artifact)
        frames = math.ceil(FIRST_AUDIO_SECONDS * mel.sample_rate / mel.hop_length) + 1
        out = driver.first_chunk(item, frames + POSTNET_LOOKAHEAD)
        n = min(frames, int(out["mel_lengths"][0]))
        linear = out["linear"][0, :n] if "linear" in out else None
        return vocoder(out["mel"][0, :n], threads, linear=linear)

    def score(self, outputs, data, artifact=None, roundtrip: bool = True, asr: str = DEFAULT_ASR,
              decoder: str = "greedy", lexicon=None, beam: int = 16, griffin_lim=None, threads: int | None = 1,
              **_ignored):
        """Alignment health; mel L1 and MCD against the own audio where present; round-trip WER/CER through
        Griffin-Lim and `asr` (with the floor: the same ASR on the own audio), unless `roundtrip` is False.
        `threads` (default 1) is torch's for Griffin-Lim, the own audio's mels and the ASR runner."""
        from speechopt.models.tts.artifact import mel_config_of
        from speechopt.tasks.tts.metrics import MCD_DESCRIPTION

        artifact, voc = self.parts(artifact)
        if griffin_lim is not None:
            from speechopt.models.tts.vocoder import griffin_lim_vocoder

            voc = griffin_lim_vocoder(mel_config_of(artifact), griffin_lim)
        mel_config = mel_config_of(artifact)
        from speechopt.models.tts.artifact import tokenizer_of

        spoken = spoken_lengths(tokenizer_of(artifact), data)
        result = {"sentences": len(outputs), **alignment_summary(outputs, data, spoken)}
        own = [i for i, p in enumerate(data.audio_paths) if p is not None]
        if own:
            result["own_audio"] = own_audio_distance(outputs, data, own, mel_config, threads)
            result["own_audio"]["mcd_formula"] = MCD_DESCRIPTION
        if roundtrip:
            audios = voc.many([o["mel"] for o in outputs], threads, linears=[o.get("linear") for o in outputs])
            rt = roundtrip_scores(audios, mel_config.sample_rate, data.texts, asr, decoder, lexicon, beam, threads)
            result.update(rt)
            result["vocoder"] = voc.describe()
            if own:
                from speechopt.audio.io import load_audio

                floor_audio = [load_audio(data.audio_paths[i], mel_config.sample_rate, allow_silent=True) for i in own]
                floor = roundtrip_scores(floor_audio, mel_config.sample_rate, [data.texts[i] for i in own], asr,
                                         decoder, lexicon, beam, threads)
                result["floor"] = {k: floor[k] for k in ("wer", "cer", "utterances")}
                result["floor"]["what"] = ("the same ASR on the manifest's audio of the same sentences (the "
                                           "synthesizer's own audio when the manifest is its corpus)")
                # the vocoder's share: the vocoder on the true audio's mel, then the same ASR (between floor and
                # round trip: what is left above it is the acoustic model's)
                from speechopt.audio.mel import MelExtractor

                extractor = MelExtractor(mel_config)
                true_mels = [extractor(a).numpy() for a in floor_audio]
                linears = None
                if any("linear" in o for o in outputs):  # Tacotron's round trip inverts the linear magnitude
                    from speechopt.data.tts_dataset import log_magnitude

                    linears = [log_magnitude(extractor, a, mel_config).numpy() for a in floor_audio]
                true_gl = voc.many(true_mels, threads, linears=linears)
                ceiling = roundtrip_scores(true_gl, mel_config.sample_rate, [data.texts[i] for i in own], asr,
                                           decoder, lexicon, beam, threads)
                result["vocoder_only"] = {k: ceiling[k] for k in ("wer", "cer", "utterances")}
                result["vocoder_only"]["what"] = f"the same ASR on {voc.name} of the manifest audio's own mel"
        result["synthesis"] = self.settings.to_dict()
        return result

    # -- reports (the bench's methods are TtsBenchMixin's, bench.py; export checks validation.py's) -----
    def describe_score(self, result):
        parts = []
        if "wer" in result:
            vocoder = (result.get("vocoder") or {}).get("name", "griffin-lim")
            extra = [f"{name} {result[key]['wer']:.2%}" for key, name in (("floor", "floor"),
                     ("vocoder_only", f"{vocoder} of own audio")) if key in result]
            parts.append(f"round-trip WER {result['wer']:.2%}  CER {result['cer']:.2%}"
                         + (f" ({', '.join(extra)})" if extra else ""))
        parts.append(f"gate fired {result['gate_fired']:.0%}, monotonic {result['monotonic']:.0%}")
        own = result.get("own_audio") or {}
        if own.get("mcd_db") is not None:
            parts.append(f"MCD vs own audio {own['mcd_db']:.2f} dB")
        return "; ".join(parts) + f"  ({result['sentences']} sentences)"

    def zoo_figures(self, evaluation):
        figures = {k: evaluation.get(k) for k in ("gate_fired", "monotonic")}
        if "wer" in evaluation:
            figures.update(roundtrip_wer=evaluation["wer"], roundtrip_cer=evaluation["cer"])
        for key in ("floor", "vocoder_only"):  # what the round trip is measured against
            if key in evaluation:
                figures[f"{key}_wer"] = evaluation[key]["wer"]
        own = evaluation.get("own_audio") or {}
        if own.get("mcd_db") is not None:
            figures["own_audio_mcd_db"] = own["mcd_db"]
        return figures
