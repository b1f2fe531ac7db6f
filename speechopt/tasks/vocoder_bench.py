"""The vocoder task's side of the bench: WaveNet (or any vocoder with graphs) timed on the mels of real audio,
and its drift against the reference vocoder's audio.

- items: one sentence's mel (of the manifest's own audio, the vocoder's mel settings), generated from seed 0,
  (frames - 1) x hop samples; a throughput batch pads its mels to the longest (the driver draws for all rows);
- `record` (in the worker): the audio of every sentence to an .npz;
- `accuracy` (in the parent, after the workers): the share of identical samples and the shortest prefix that
  agrees (both vocoders draw the same uniforms, so an exact variant gives the reference's samples and a
  float-rounding flip makes the two histories part), SI-SDR (dB) of the audio against the reference's, MCD
  (dB) between the mels of the two audios, and round-trip WER drift (points: the bundled ASR on both);
- `first_audio`: the conditioning of the first FIRST_AUDIO_SECONDS of frames (plus CONDITIONING_LOOKAHEAD,
  which the learned upsampling reads ahead) and that many samples.
"""

from __future__ import annotations

import math

import numpy as np

from speechopt.errors import SpeechoptError
from speechopt.tasks.base import Metric

FIRST_AUDIO_SECONDS = 0.25
CONDITIONING_LOOKAHEAD = 2  # frames past the chunk fed to the conditioning network
VOCODER_METRICS = {
    "mcd": Metric("mcd", "MCD", "dB", "mel-cepstral distortion between the mels of the variant's and the reference's "
                  "audio (c1..c13)"),
    "roundtrip_wer": Metric("roundtrip_wer", "round-trip WER", "points", "WER of the bundled ASR (zoo:crnn-ctc) on "
                            "the vocoded audio, in percentage points of drift"),
}


def _load_audio(path: str) -> list[np.ndarray]:
    with np.load(path) as z:
        return [z[f"audio_{i}"] for i in range(sum(1 for f in z.files if f.startswith("audio_")))]


class VocoderBenchMixin:
    """VocoderTask's bench methods."""

    metrics = VOCODER_METRICS
    streams = True

    def first_audio(self, artifact, driver, item, threads=None):
        from speechopt.models.tts.artifact import mel_config_of

        mel = mel_config_of(artifact)
        frames = math.ceil(FIRST_AUDIO_SECONDS * mel.sample_rate / mel.hop_length) + 1
        chunk = item["mel"][:, : frames + CONDITIONING_LOOKAHEAD]
        samples = min(int(FIRST_AUDIO_SECONDS * mel.sample_rate), int(item["samples"]))
        return driver({"mel": chunk, "samples": samples, "seed": 0})["audio"][0]

    def record(self, artifact, outputs, data, path) -> dict:
        """The generated audio in `path`; texts, durations and the mel settings in the JSON."""
        np.savez_compressed(path, **{f"audio_{i}": o["audio"] for i, o in enumerate(outputs)})
        return {"texts": data.texts, "durations": list(data.durations), "samples": [len(o["audio"]) for o in outputs],
                "mel": artifact.manifest.get("mel"), "outputs_file": str(path)}

    def _transcripts(self, result) -> dict:
        """The bundled ASR's transcripts of a result's audio, once per result ({"skipped": why} without it)."""
        import os

        from speechopt.audio.mel import MelConfig
        from speechopt.tasks.tts.scoring import DEFAULT_ASR, transcribe_audio

        cache = self.__dict__.setdefault("_transcript_cache", {})
        path = result["outputs_file"]
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size)
        if key not in cache:
            audio = _load_audio(path)
            try:
                hyps, info = transcribe_audio(audio, MelConfig.from_dict(result["mel"]).sample_rate, DEFAULT_ASR,
                                              threads=1)
                cache[key] = {"audio": audio, "hypotheses": hyps, "asr": info["asr"]}
            except SpeechoptError as exc:
                cache[key] = {"audio": audio, "skipped": str(exc)}
        return cache[key]

    def accuracy(self, result, reference):
        from speechopt.audio.mel import MelConfig, MelExtractor
        from speechopt.tasks.asr.metrics import error_rates
        from speechopt.tasks.tts.metrics import mcd
        from speechopt.tasks.tts.scoring import si_sdr
        from speechopt.threads import torch_threads

        mine, ref = self._transcripts(result), self._transcripts(reference)
        cfg = MelConfig.from_dict(reference["mel"])
        extractor = MelExtractor(cfg)
        same, prefix, sdrs, mcds = [], [], [], []
        with torch_threads(1):
            for a, b in zip(ref["audio"], mine["audio"]):
                n = min(len(a), len(b))
                equal = a[:n] == b[:n]
                same.append(float(np.mean(equal)) if n else 1.0)
                prefix.append(int(np.argmin(equal)) if n and not equal.all() else n)
                if len(a) == len(b) and len(a):
                    sdrs.append(si_sdr(a, b))
                if len(a) > cfg.n_fft and len(b) > cfg.n_fft:
                    mcds.append(mcd(extractor(a).numpy(), extractor(b).numpy(), cfg)["mcd_db"])
        finite = [x for x in sdrs if x is not None]
        wer = drift = None
        if "hypotheses" in mine and "hypotheses" in ref:
            wer = error_rates(result["texts"], mine["hypotheses"])["wer"]
            drift = (wer - error_rates(reference["texts"], ref["hypotheses"])["wer"]) * 100.0
        valid = [x for x in mcds if x is not None]
        mcd_mean = float(np.mean(valid)) if valid else None
        return {"identical_samples": float(np.mean(same)) if same else None,
                "agreeing_prefix_min": min(prefix) if prefix else None,
                # identical audio has no SI-SDR (+inf): over the sentences that differ only
                "si_sdr_db": float(np.mean(finite)) if finite else None, "si_sdr_sentences": len(finite),
                "mcd": mcd_mean, "roundtrip_wer": wer, "roundtrip_skipped": mine.get("skipped"),
                "roundtrip_asr": mine.get("asr"), "drift": {"mcd": mcd_mean, "roundtrip_wer": drift},
                "sentences": len(mine["audio"])}

    def summary(self, result):
        return {"first_audio_ms": (result.get("first_audio_ms") or {}).get("p50"),
                **{k: result.get(k) for k in ("identical_samples", "agreeing_prefix_min", "si_sdr_db", "mcd",
                                             "roundtrip_wer", "drift", "sentences")}}

    def columns(self, compact=False):
        from speechopt.tasks.tts.bench import cell, first_audio_cell, percent_cell

        cols = [("MCD dB", lambda r: cell(r.get("mcd"), ".3f")),
                ("RT WER", lambda r: percent_cell(r, "roundtrip_wer", ".1f"))]
        if not compact:
            cols = [("1st audio ms", first_audio_cell(".0f"))] + cols + [
                ("same samples", lambda r: percent_cell(r, "identical_samples", ".0f") + "%"),
                ("SI-SDR dB", lambda r: cell(r.get("si_sdr_db"), ".1f"))]
        return cols

    def plot_axis(self):
        return "MCD vs reference (dB)", lambda r: r.get("mcd") or 0.0

    def describe_quality(self) -> str:
        return "drift in MCD (dB) and round-trip WER vs the reference vocoder's audio"

    def media(self, result, count: int = 3):
        import io

        import soundfile as sf

        from speechopt.audio.mel import MelConfig, MelExtractor
        from speechopt.tasks.tts.bench import mel_picture

        cfg = MelConfig.from_dict(result["mel"])
        out = []
        for text, a in list(zip(result["texts"], self._transcripts(result)["audio"]))[:count]:
            buf = io.BytesIO()
            sf.write(buf, np.clip(a, -1.0, 1.0), cfg.sample_rate, format="WAV", subtype="PCM_16")
            png = mel_picture(MelExtractor(cfg)(a).numpy()) if len(a) > cfg.n_fft else None
            out.append({"text": text, "wav": buf.getvalue(), "png": png})
        return out
