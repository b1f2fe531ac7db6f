"""What the TTS task computes around its outputs: alignment health, distance to the synthesizer's own
audio, Griffin-Lim vocoding and the round trip through an ASR artifact (WER/CER), SI-SDR, saved mels."""

from __future__ import annotations

import numpy as np

from speechopt.errors import SpeechoptError

DEFAULT_ASR = "zoo:crnn-ctc"  # the ASR artifact of every round trip unless another is named


def _load_arrays(path: str, prefix: str) -> list[np.ndarray]:
    with np.load(path) as z:
        n = sum(1 for f in z.files if f.startswith(prefix))
        return [z[f"{prefix}{i}"] for i in range(n)]


def _load_mels(path: str) -> list[np.ndarray]:
    return _load_arrays(path, "mel_")


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float | None:
    """SI-SDR (Le Roux et al. 2019), dB: a = <s', s>/|s|^2, 10 log10(|a s|^2 / |a s - s'|^2), no mean removal.
    None for a silent reference or identical signals (+inf)."""
    s, e = np.asarray(reference, np.float64), np.asarray(estimate, np.float64)
    energy = float(s @ s)
    if energy == 0.0:
        return None
    target = (float(e @ s) / energy) * s
    noise = float(((target - e) ** 2).sum())
    return None if noise == 0.0 else float(10.0 * np.log10(float(target @ target) / noise))


def spoken_lengths(tokenizer, data) -> list[int]:
    """Each sentence's tokens up to its last spoken one: trailing pauses, the final mark and EOS dropped under
    the phoneme front end (a duration model gives them zero frames, so no alignment reaches them); all tokens
    but trailing EOS/punctuation otherwise (the alignment check's end slack covers those)."""
    from speechopt.tts_phonemes import FINAL_MARKS, is_phonemes

    if not is_phonemes(tokenizer):
        return list(data.lengths)
    silent = {tokenizer.eos_id} | {i for i, p in enumerate(tokenizer.vocabulary)
                                   if p.startswith("_") or p in FINAL_MARKS.values()}
    out = []
    for item in data.items:
        ids = [int(x) for x in item["tokens"][0]]
        n = len(ids)
        while n > 1 and ids[n - 1] in silent:
            n -= 1
        out.append(n)
    return out


def alignment_summary(outputs, data, lengths=None) -> dict:
    """Share of sentences whose gate fired before the cap, and whose attention is monotonic
    (`speechopt.models.tts.alignment.alignment_health`; `lengths`: each sentence's spoken tokens, which the
    path must reach, default all), with the sentences that failed either."""
    from speechopt.models.tts.alignment import alignment_health

    monotonic, diag, failed = [], [], []
    for i, o in enumerate(outputs):
        h = alignment_health(o["alignment"], data.lengths[i], o["steps"],
                             spoken_len=None if lengths is None else lengths[i])
        monotonic.append(h["monotonic"])
        diag.append(h["diagonality"])
        if not (h["monotonic"] and o["gate_fired"]):
            failed.append({"sentence": i + 1, "text": data.texts[i], "gate_fired": o["gate_fired"],
                           "monotonic": h["monotonic"], "steps": o["steps"]})
    n = max(1, len(outputs))
    return {"gate_fired": sum(o["gate_fired"] for o in outputs) / n, "monotonic": sum(monotonic) / n,
            "diagonality": float(np.mean(diag)) if diag else None, "alignment_failures": failed[:20]}


def own_audio_distance(outputs, data, indices, mel_config, threads: int | None = 1) -> dict:
    """Mel L1 and MCD of the synthesized mels against the mels of the synthesizer's own audio."""
    from speechopt.audio.io import load_audio
    from speechopt.audio.mel import MelExtractor
    from speechopt.tasks.tts.metrics import mcd, mel_l1
    from speechopt.threads import torch_threads

    with torch_threads(threads):
        return _own_audio_distance(outputs, data, indices, mel_config, MelExtractor(mel_config), load_audio, mcd, mel_l1)


def _own_audio_distance(outputs, data, indices, mel_config, extractor, load_audio, mcd, mel_l1) -> dict:
    l1s, mcds, ratios = [], [], []
    for i in indices:
        target = extractor(load_audio(data.audio_paths[i], mel_config.sample_rate, allow_silent=True)).numpy()
        mel = outputs[i]["mel"]
        l1s.append(mel_l1(target, mel))
        mcds.append(mcd(target, mel, mel_config)["mcd_db"])
        ratios.append(len(mel) / max(1, len(target)))
    l1s, mcds = [x for x in l1s if x is not None], [x for x in mcds if x is not None]
    return {"sentences": len(indices), "mel_l1": float(np.mean(l1s)) if l1s else None,
            "mcd_db": float(np.mean(mcds)) if mcds else None,
            "length_ratio_mean": float(np.mean(ratios)),
            "same_length": sum(abs(r - 1.0) < 1e-9 for r in ratios) / len(ratios),
            "note": "mel L1 over the common length (lengths differ: see length_ratio_mean, synthesized/own); "
                    "MCD DTW-aligned"}


def vocode(mel, mel_config, settings, linear=None, threads: int | None = 1) -> np.ndarray:
    """Griffin-Lim of a mel (or of `linear`, Tacotron's log linear magnitude of the same frames)."""
    from speechopt.models.tts.griffin_lim import griffin_lim

    if len(mel) < 2:
        return np.zeros(0, np.float32)
    return griffin_lim(mel, mel_config, settings, threads, linear=linear)


def roundtrip_scores(audios, sample_rate: int, texts, asr: str, decoder="greedy", lexicon=None, beam=16,
                     threads=None) -> dict:
    """WER/CER of the ASR artifact `asr` on waveforms against `texts` (the ASR task's own normalization)."""
    from speechopt.tasks.asr.metrics import error_rates
    from speechopt.text import NORMALIZATION

    hyps, info = transcribe_audio(audios, sample_rate, asr, decoder, lexicon, beam, threads)
    rates = error_rates(list(texts), hyps)
    return {**info, **rates, "normalization": NORMALIZATION,
            "examples": [{"text": t, "heard": h} for t, h in list(zip(texts, hyps))[:5]]}


def transcribe_audio(audios, sample_rate: int, asr: str, decoder="greedy", lexicon=None, beam=16, threads=None):
    """(texts heard by the ASR artifact `asr`, decoder info with `asr`: its path) for waveforms at `sample_rate`."""
    from speechopt.artifact import load_artifact
    from speechopt.audio.features import Frontend
    from speechopt.audio.io import resample
    from speechopt.tasks import get_task
    from speechopt.tasks.asr.data import featurize, frontend_config
    from speechopt.zoo import resolve

    asr_art = load_artifact(resolve(asr))
    if asr_art.task != "asr":
        raise SpeechoptError(f"{asr_art.path}: round-trip WER needs an asr artifact, this one is {asr_art.task}")
    task = get_task("asr")
    frontend = Frontend(frontend_config(asr_art))
    rate = frontend.config.sample_rate
    # a clip shorter than the ASR's window cannot be featurized: pad every clip to 0.1 s of silence at least
    prepared = []
    for a in audios:
        a = resample(a, sample_rate, rate) if sample_rate != rate else a
        prepared.append(np.pad(a, (0, max(0, rate // 10 - len(a)))).astype(np.float32))
    data = featurize(prepared, [f"{i + 1:04d}" for i in range(len(prepared))], None, frontend)
    with task.driver(asr_art, "cpu", threads) as d:
        outputs = task.run(d, data, progress=False)
    hyps, info = task.decode(asr_art, outputs, decoder, lexicon, beam)
    return hyps, {**info, "asr": str(asr_art.path)}
