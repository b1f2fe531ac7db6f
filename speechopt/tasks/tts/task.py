"""The TTS task: sentences in, Tacotron 2's three graphs driven by one loop, mels out, scored in the mel domain.

- data (`data.py`): a TTS manifest (JSONL `text`, optional `audio_filepath` of the synthesizer's own audio),
  a text file or a list of sentences -> token ids with the artifact's front end (`tokenizer` in the
  manifest); a sentence it cannot spell is one error naming the characters;
- driver (`driver.py`): encoder once, decoder_step until the stop gate or the cap, postnet; the same numpy
  loop and prenet masks for every backend, so drift measures the graphs;
- bench drift (`accuracy`): `mcd` (dB) and `mel_l1` against the reference's mels (`metrics.py` states the
  formulas), `roundtrip_wer` (points: the bundled ASR on the Griffin-Lim audio of both), SI-SDR of that
  audio where it is sample-aligned (same length), the share of sentences whose gate fired, and the shares
  of the same length and the same stop step as the reference. Vocoding and the ASR run in the harness's
  process, after the workers (they count in neither timings nor worker memory);
- `validate_export`: exported vs pytorch on real sentences: the gate fires at the same step (same length),
  the first decoder step within `atol`, the whole mels within the loop tolerances (LOOP_MCD_DB per sentence, LOOP_MEAN_ABS overall);
- `score` (`speechopt eval`): alignment health, mel L1 and MCD against the synthesizer's own audio where the
  manifest has it, and round-trip WER/CER (Griffin-Lim, then an ASR artifact, default `zoo:crnn-ctc`),
  with the floor (the same ASR on the own audio) and the vocoder's share (the same ASR on Griffin-Lim of
  the own audio's mel).
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np

from speechopt.errors import SpeechoptError
from speechopt.tasks.base import Metric, Task
from speechopt.tasks.tts.driver import AttentionDriver, FastSpeechDriver, SynthesisSettings
from speechopt.tasks.tts.scoring import (
    _load_arrays,
    _load_mels,
    si_sdr,
    alignment_summary,
    spoken_lengths,
    own_audio_distance,
    vocode,
    roundtrip_scores,
    transcribe_audio,
)

ACCURACY_MODE = ("one sentence at a time, prenet dropout masks from numpy default_rng(0) (identical for every "
                 "variant), gate threshold 0.5; mel L1 and MCD against the reference's mels; round-trip WER of "
                 "zoo:crnn-ctc on 32-iteration Griffin-Lim audio")
DEFAULT_ASR = "zoo:crnn-ctc"
# Whole-mel tolerances of export validation, beside `atol` for the first decoder step: see
# TtsTask.validate_export for why (and what was measured).
LOOP_MCD_DB = 0.5  # per sentence, dB
LOOP_MEAN_ABS = 0.01  # over every frame of every sentence, log-mel units
# A rounding difference can move the stop gate across its threshold a step early or late: allowed for one
# step, on at most this share of the sentences (at least one)
STOP_SLACK, STOP_SLACK_SHARE = 1, 0.05


# Time to first audio: the first FIRST_AUDIO_SECONDS of audio as a stream gives them. The decoder runs until
# that many frames plus POSTNET_LOOKAHEAD (Tacotron 2's post-net, 5 convolutions of kernel 5, sees 10 frames
# ahead, so the chunk's last frame is final), then the post-net and the vocoder run on the chunk.
FIRST_AUDIO_SECONDS = 0.25
POSTNET_LOOKAHEAD = 10


class TtsTask(Task):
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

    # -- the bench -----------------------------------------------------------------------------------
    def record(self, artifact, outputs, data, path) -> dict:
        """Mels and alignments in `path`; steps and the gate in the JSON. Vocoding and the round-trip ASR run
        later, in `accuracy` (the parent process), so they count in neither the timings nor the worker's peak
        memory."""
        acoustic, vocoder = self.parts(artifact)
        arrays = {}
        for i, o in enumerate(outputs):
            arrays[f"mel_{i}"] = o["mel"]
            arrays[f"alignment_{i}"] = o["alignment"]
            if "linear" in o:  # Tacotron: vocoded from its linear magnitude, as synth and eval do
                arrays[f"linear_{i}"] = o["linear"]
        np.savez_compressed(path, **arrays)
        return {"texts": data.texts, "durations": list(data.durations), "steps": [o["steps"] for o in outputs],
                "gate_fired": [o["gate_fired"] for o in outputs], "frames": [len(o["mel"]) for o in outputs],
                "mel": acoustic.manifest.get("mel"), "outputs_file": str(path),
                # the bench vocodes with Griffin-Lim (a pipeline's own settings if it has a Griffin-Lim vocoder)
                "griffin_lim": asdict(vocoder.settings) if vocoder.name == "griffin-lim" else {}}

    def _vocoded(self, result) -> dict:
        """Griffin-Lim audio of a bench result's mels and the bundled ASR's transcripts of it (`DEFAULT_ASR`, 1
        thread), once per result; {"skipped": why} for the transcripts when the ASR model is missing."""
        from speechopt.audio.mel import MelConfig
        from speechopt.models.tts.griffin_lim import GriffinLimSettings

        import os

        cache = self.__dict__.setdefault("_vocoded_cache", {})
        path = result["outputs_file"]
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size)  # bench folders are temporary: a name may come back
        if key not in cache:
            mel_config = MelConfig.from_dict(result["mel"])
            gl = GriffinLimSettings(**result.get("griffin_lim", {}))  # the variant's own vocoder settings
            mels, linears = _load_mels(path), _load_arrays(path, "linear_")
            audios = [vocode(m, mel_config, gl, linears[i] if linears else None) for i, m in enumerate(mels)]
            try:
                hyps, info = transcribe_audio(audios, mel_config.sample_rate, DEFAULT_ASR, threads=1)
                roundtrip = {"asr": info["asr"], "hypotheses": hyps, "vocoder": {"name": "griffin-lim", **gl.to_dict()}}
            except SpeechoptError as exc:
                roundtrip = {"skipped": str(exc)}
            cache[key] = {"audio": audios, "roundtrip": roundtrip}
        return cache[key]

    def media(self, result, count: int = 3):
        """The first sentences' vocoded audio (the round trip's Griffin-Lim) and mel pictures."""
        import io

        import soundfile as sf

        from speechopt.audio.mel import MelConfig

        rate = MelConfig.from_dict(result["mel"]).sample_rate
        audio, mels = self._vocoded(result)["audio"], _load_mels(result["outputs_file"])
        out = []
        for text, a, mel in list(zip(result["texts"], audio, mels))[:count]:
            buf = io.BytesIO()
            sf.write(buf, np.clip(a, -1.0, 1.0), rate, format="WAV", subtype="PCM_16")
            out.append({"text": text, "wav": buf.getvalue(), "png": mel_picture(mel)})
        return out

    def accuracy(self, result, reference):
        from speechopt.audio.mel import MelConfig
        from speechopt.tasks.tts.metrics import mcd, mel_l1

        mel_config = MelConfig.from_dict(reference["mel"]) if reference.get("mel") else None
        mels, ref_mels = _load_mels(result["outputs_file"]), _load_mels(reference["outputs_file"])
        l1s, mcds = [], []
        for a, b in zip(ref_mels, mels):
            l1s.append(mel_l1(a, b))
            mcds.append(mcd(a, b, mel_config)["mcd_db"])
        valid_l1 = [x for x in l1s if x is not None]
        valid_mcd = [x for x in mcds if x is not None]
        n = len(mels)
        same_len = sum(len(a) == len(b) for a, b in zip(ref_mels, mels)) / n if n else None
        mel_l1_mean = float(np.mean(valid_l1)) if valid_l1 else None
        mcd_mean = float(np.mean(valid_mcd)) if valid_mcd else None
        fired = float(np.mean(result["gate_fired"])) if n else None
        voc, ref_voc = self._vocoded(result), self._vocoded(reference)
        rt, ref_rt = voc["roundtrip"], ref_voc["roundtrip"]
        roundtrip_wer = roundtrip_drift = None
        if "hypotheses" in rt and "hypotheses" in ref_rt:
            from speechopt.tasks.asr.metrics import error_rates

            roundtrip_wer = error_rates(result["texts"], rt["hypotheses"])["wer"]
            roundtrip_drift = (roundtrip_wer - error_rates(reference["texts"], ref_rt["hypotheses"])["wer"]) * 100.0
        sdrs = [si_sdr(a, b) for a, b in zip(ref_voc["audio"], voc["audio"]) if len(a) == len(b) and len(a)]
        sdrs = [x for x in sdrs if x is not None]
        return {
            "mel_l1": mel_l1_mean, "mcd": mcd_mean, "gate_fired": fired,
            "roundtrip_wer": roundtrip_wer, "roundtrip_skipped": rt.get("skipped"), "roundtrip_asr": rt.get("asr"),
            # SI-SDR of the Griffin-Lim audio against the reference's, over the sample-aligned (same-length)
            # sentences only; None when there is none (identical audio gives +inf, reported as None too)
            "si_sdr_db": float(np.mean(sdrs)) if sdrs else None, "si_sdr_sentences": len(sdrs),
            "reference_gate_fired": float(np.mean(reference["gate_fired"])) if n else None,
            "same_length": same_len,
            "same_gate_step": sum(a == b for a, b in zip(result["steps"], reference["steps"])) / n if n else None,
            "drift": {"mcd": mcd_mean, "mel_l1": mel_l1_mean, "roundtrip_wer": roundtrip_drift},
            "sentences": n,
        }

    def summary(self, result):
        return {"first_audio_ms": (result.get("first_audio_ms") or {}).get("p50"),
                **{k: result.get(k) for k in ("mcd", "mel_l1", "roundtrip_wer", "si_sdr_db", "gate_fired", "same_length",
                                             "same_gate_step", "drift", "sentences")}}

    def columns(self, compact=False):
        def fmt(v, spec):
            return "-" if v is None else format(v, spec)

        cols = [("MCD dB", lambda r: fmt(r.get("mcd"), ".3f")), ("mel L1", lambda r: fmt(r.get("mel_l1"), ".4f")),
                ("RT WER", lambda r: fmt(None if r.get("roundtrip_wer") is None else r["roundtrip_wer"] * 100, ".1f"))]
        if not compact:
            def first(r):  # a summary row holds the p50, a raw result the percentiles
                v = r.get("first_audio_ms")
                return fmt(v.get("p50") if isinstance(v, dict) else v, ".1f")

            cols.insert(0, ("1st audio ms", first))
            cols += [("gate fired", lambda r: fmt(None if r.get("gate_fired") is None else r["gate_fired"] * 100,
                                                  ".0f") + "%"),
                     ("same len", lambda r: fmt(None if r.get("same_length") is None else r["same_length"] * 100,
                                                ".0f") + "%")]
        return cols

    def plot_axis(self):
        return "MCD vs reference (dB)", lambda r: r.get("mcd") or 0.0

    def describe_quality(self) -> str:
        return "drift in MCD (dB) and mel L1 vs the reference's mels"

    # -- export and quantization ---------------------------------------------------------------------
    def validate_export(self, source, candidate, data, atol, threads=None):
        """Exported `candidate` vs pytorch `source` on real sentences, with the same prenet masks.

        Passes when, for every sentence: the gate fires at the same decoder step (so the mels have the same
        length), or one step apart on at most STOP_SLACK_SHARE of the sentences (at least one: a rounding
        difference can move the gate across its threshold; the common frames are compared); the first decoder
        step's frames (nothing fed back yet: the graphs' own precision) differ by
        at most `atol`; the sentence's MCD against the source is at most max(LOOP_MCD_DB, atol) dB; and over
        all frames of all sentences the mean |diff| is at most max(LOOP_MEAN_ABS, atol). The largest |diff|
        is recorded, not bounded: the loop feeds every frame back, so a float-rounding difference of ~1e-6 in
        a step can grow, run for a while and die out again (zoo:tacotron2, ONNX vs eager, 32 zoo:tts-eval
        sentences: 31 within 0.3; one drifted for 39 of its 342 frames, max 1.7 log-mel, mean 0.024, MCD
        0.077 dB, and stopped at the same step). The first-step bound is tight; the whole-mel ones ask that
        the sentence stay the same sentence. A Tacotron's linear magnitude is held to the same bounds."""
        from speechopt.tasks.tts.metrics import mcd

        with self.driver(source, threads=threads) as ref_d, self.driver(candidate, threads=threads) as out_d:
            ref, out = self.run(ref_d, data, progress=False), self.run(out_d, data, progress=False)
        max_mcd, mean_abs = max(LOOP_MCD_DB, atol), max(LOOP_MEAN_ABS, atol)
        worst, first, total, count, mcds, off = 0.0, 0.0, 0.0, 0, [], []
        for i, (a, b) in enumerate(zip(ref, out)):
            text = data.texts[i][:40]
            if abs(a["steps"] - b["steps"]) > STOP_SLACK or a["gate_fired"] != b["gate_fired"]:
                raise SpeechoptError(f"validation failed: sentence {i + 1} ({text!r}) stops after "
                                     f"{b['steps']} decoder steps (gate {'fired' if b['gate_fired'] else 'never fired'}), "
                                     f"the source after {a['steps']} ({'fired' if a['gate_fired'] else 'cap'}); "
                                     "no artifact written")
            if a["steps"] != b["steps"]:
                off.append(i)
            first = max(first, float(np.abs(a["first_step"].astype(np.float64) - b["first_step"]).max()))
            for key in ("mel", "linear") if "linear" in a else ("mel",):
                n = min(len(a[key]), len(b[key]))  # a sentence that stopped a step apart: the common frames
                diff = np.abs(a[key][:n].astype(np.float64) - b[key][:n])
                worst = max(worst, float(diff.max()) if diff.size else 0.0)
                total, count = total + float(diff.sum()), count + diff.size
            mcds.append(mcd(a["mel"], b["mel"])["mcd_db"] or 0.0)
        where = f"on {len(data)} sentences; no artifact written"
        if len(off) > max(1, int(STOP_SLACK_SHARE * len(data))):
            raise SpeechoptError(f"validation failed: {len(off)} sentences stop at another decoder step than the "
                                 f"source's (allowed: {max(1, int(STOP_SLACK_SHARE * len(data)))}, one step apart) {where}")
        if not first <= atol:
            raise SpeechoptError(f"validation failed: the first decoder step's frames differ by {first:.3g} (atol "
                                 f"{atol:g}) {where}")
        k = int(np.argmax(mcds)) if mcds else 0
        if mcds and not mcds[k] <= max_mcd:
            raise SpeechoptError(f"validation failed: sentence {k + 1} ({data.texts[k][:40]!r}) is {mcds[k]:.3g} dB "
                                 f"MCD from the source's (tolerance {max_mcd:g} dB) {where}")
        mean = total / max(1, count)
        if not mean <= mean_abs:
            raise SpeechoptError(f"validation failed: the mels differ by {mean:.3g} on average (tolerance "
                                 f"{mean_abs:g}) {where}")
        return {"passed": True, "sentences": len(data), "utterances": len(data), "first_step_max_abs_diff": first,
                "max_abs_diff": worst, "mean_abs_diff": mean, "mcd_db": float(np.mean(mcds or [0.0])),
                "max_mcd_db": float(max(mcds or [0.0])),
                "tolerance": {"first_step_max_abs": atol, "mcd_db_per_sentence": max_mcd, "mean_abs": mean_abs},
                "same_gate_step": not off, "same_gate_step_share": 1.0 - len(off) / max(1, len(data)),
                "stopped_a_step_apart": [i + 1 for i in off], "gate_fired": int(sum(o["gate_fired"] for o in ref)),
                "synthesis": self.settings.to_dict()}

    def agreement(self, artifact, parent, child):
        from speechopt.models.tts.artifact import mel_config_of
        from speechopt.tasks.tts.metrics import mcd, mel_l1

        mel_config = mel_config_of(artifact)
        l1 = [mel_l1(a["mel"], b["mel"]) for a, b in zip(parent, child)]
        d = [mcd(a["mel"], b["mel"], mel_config)["mcd_db"] for a, b in zip(parent, child)]
        diffs = [float(np.abs(a["mel"] - b["mel"]).max()) for a, b in zip(parent, child)
                 if a["mel"].shape == b["mel"].shape and a["mel"].size]
        extra = {}
        if parent and "linear" in parent[0]:  # Tacotron: the post-net's linear magnitude, what is vocoded
            lin = [float(np.abs(a["linear"] - b["linear"]).max()) for a, b in zip(parent, child)
                   if a["linear"].shape == b["linear"].shape and a["linear"].size]
            extra = {"linear_max_abs_diff": max(lin) if len(lin) == len(parent) and lin else None,
                     "linear_l1": float(np.mean([mel_l1(a["linear"], b["linear"]) or 0.0 for a, b in zip(parent, child)]))}
        return {"sentences": len(parent), "utterances": len(parent), **extra,
                "max_abs_diff": max(diffs) if len(diffs) == len(parent) and diffs else None,
                "same_length": sum(a["mel"].shape == b["mel"].shape for a, b in zip(parent, child)) / max(1, len(parent)),
                "mel_l1": float(np.mean([x for x in l1 if x is not None] or [0.0])),
                "mcd_db": float(np.mean([x for x in d if x is not None] or [0.0])),
                "same_gate_step": sum(a["steps"] == b["steps"] for a, b in zip(parent, child)) / max(1, len(parent))}

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


# -- helpers ------------------------------------------------------------------------------------------


def mel_picture(mel) -> bytes | None:
    """A PNG of a log-mel (frames, bins), time across; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    import io

    fig, ax = plt.subplots(figsize=(4, 1.6), dpi=80)
    ax.imshow(np.asarray(mel).T, origin="lower", aspect="auto", cmap="magma")
    ax.set_axis_off()
    fig.tight_layout(pad=0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
