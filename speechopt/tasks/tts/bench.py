"""The TTS task's side of the bench: what a worker records, the drift against the reference, the report
columns and what the HTML report plays.

- `record` (in the worker): mels, alignments and Tacotron's linear magnitude to an .npz; steps, the gate and
  durations in the JSON;
- `accuracy` (in the parent, after every worker): `mcd` (dB) and `mel_l1` against the reference's mels
  (`metrics.py` states the formulas), `roundtrip_wer` (points: the bundled ASR on the Griffin-Lim audio of
  both), SI-SDR of that audio where it is sample-aligned (same length), the share of sentences whose gate
  fired, and the shares of the same length and the same stop step as the reference. Vocoding and the ASR
  run here, so they count in neither timings nor worker memory;
- `media`: the first sentences' audio and mel pictures for the HTML report.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from speechopt.errors import SpeechoptError
from speechopt.tasks.tts.scoring import DEFAULT_ASR, _load_arrays, _load_mels, si_sdr, transcribe_audio, vocode


def cell(v, spec: str) -> str:
    """A report cell: `v` formatted, or '-' when there is no figure."""
    return "-" if v is None else format(v, spec)


def percent_cell(r: dict, key: str, spec: str) -> str:
    """A share (0-1) in `r[key]` as a percentage cell, '-' when there is none."""
    return cell(None if r.get(key) is None else r[key] * 100, spec)


def first_audio_cell(spec: str):
    """The `1st audio ms` column's cell: a summary row holds the p50, a raw result the percentiles."""
    def render(r):
        v = r.get("first_audio_ms")
        return cell(v.get("p50") if isinstance(v, dict) else v, spec)

    return render


class TtsBenchMixin:
    """TtsTask's bench methods (it provides `parts`)."""

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
        cols = [("MCD dB", lambda r: cell(r.get("mcd"), ".3f")), ("mel L1", lambda r: cell(r.get("mel_l1"), ".4f")),
                ("RT WER", lambda r: percent_cell(r, "roundtrip_wer", ".1f"))]
        if not compact:
            cols.insert(0, ("1st audio ms", first_audio_cell(".1f")))
            cols += [("gate fired", lambda r: percent_cell(r, "gate_fired", ".0f") + "%"),
                     ("same len", lambda r: percent_cell(r, "same_length", ".0f") + "%")]
        return cols

    def plot_axis(self):
        return "MCD vs reference (dB)", lambda r: r.get("mcd") or 0.0

    def describe_quality(self) -> str:
        return "drift in MCD (dB) and mel L1 vs the reference's mels"


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
