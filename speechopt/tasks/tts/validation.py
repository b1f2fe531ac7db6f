"""Export and quantization checks of TTS artifacts: an exported or quantized variant against its source,
sentence by sentence, with the same prenet masks (TtsTask's `validate_export` and `agreement`)."""

from __future__ import annotations

import numpy as np

from speechopt.errors import SpeechoptError

# Whole-mel tolerances of export validation, beside `atol` for the first decoder step: see
# TtsValidationMixin.validate_export for why (and what was measured).
LOOP_MCD_DB = 0.5  # per sentence, dB
LOOP_MEAN_ABS = 0.01  # over every frame of every sentence, log-mel units
# A rounding difference can move the stop gate across its threshold a step early or late: allowed for one
# step, on at most this share of the sentences (at least one)
STOP_SLACK, STOP_SLACK_SHARE = 1, 0.05


class TtsValidationMixin:
    """TtsTask's export validation (it provides `driver`, `run` and `settings`)."""

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
