"""`speechopt eval` on a vocoder artifact: copy synthesis, the vocoder alone on the mels of real audio.

For each sentence of a TTS manifest (default zoo:tts-eval): the mel of its own audio (the vocoder's mel
settings) -> the vocoder -> audio, then the bundled ASR (`zoo:crnn-ctc` unless told) -> WER/CER against the
text. Beside it, on the same sentences and the same ASR: the floor (the own audio) and Griffin-Lim of the
same mels (32 iterations, the built-in default), so a learned vocoder is read against the one it replaces.
Also the MCD between the mel of the vocoded audio and the original mel (`speechopt.tasks.tts.metrics`),
and the generation speed (audio seconds per wall second; higher is faster).
"""

from __future__ import annotations

import time

import numpy as np


def evaluate_vocoder(artifact, manifest=None, max_items: int | None = None, threads: int | None = 1,
                     asr: str | None = None, progress=True) -> dict:
    """Copy synthesis of a vocoder artifact (any format) on a TTS manifest (default zoo:tts-eval)."""
    from speechopt.models.tts.vocoder import load_vocoder
    from speechopt.progress import progress_bar
    from speechopt.tasks import get_task
    from speechopt.zoo import resolve

    vocoder = load_vocoder(artifact)
    path = resolve(manifest or "zoo:tts-eval")
    data = get_task("vocoder").load_data(artifact, path, max_items)
    t0 = time.perf_counter()
    with progress_bar(len(data), f"vocoding ({vocoder.name})" if progress else False) as advance:
        vocoded = vocoder.many(data.mels, threads, progress=advance)
    seconds = time.perf_counter() - t0
    audio_seconds = sum(len(a) for a in vocoded) / vocoder.mel_config.sample_rate
    result = {"artifact": str(artifact.path), "task": "vocoder", "format": artifact.format, "data": str(path),
              "vocoder": vocoder.describe(), **copy_synthesis_scores(vocoded, data, vocoder.mel_config, asr, threads)}
    result["speed"] = {"audio_seconds": audio_seconds, "seconds": seconds,
                       "audio_seconds_per_second": audio_seconds / seconds if seconds else None, "threads": threads}
    return result


def copy_synthesis_scores(vocoded, data, mel_config, asr: str | None = None, threads: int | None = 1) -> dict:
    """WER/CER of the vocoded audio of `data` (`speechopt.tasks.vocoder.VocoderData`: mels of the own audio),
    beside the floor (the own audio) and Griffin-Lim of the same mels, with the same ASR; and the MCD between
    the vocoded audio's mel and the original mel."""
    from speechopt.audio.io import load_audio
    from speechopt.audio.mel import MelExtractor
    from speechopt.models.tts.vocoder import griffin_lim_vocoder
    from speechopt.tasks.tts.metrics import MCD_DESCRIPTION, mcd
    from speechopt.tasks.tts.scoring import roundtrip_scores
    from speechopt.tasks.tts.scoring import DEFAULT_ASR
    from speechopt.threads import torch_threads

    asr = asr or DEFAULT_ASR
    cfg, rate = mel_config, mel_config.sample_rate
    extractor = MelExtractor(cfg)
    with torch_threads(threads):
        mcds = [mcd(m, extractor(v).numpy(), cfg)["mcd_db"] for m, v in zip(data.mels, vocoded) if len(v)]
    own = [load_audio(p, rate, allow_silent=True) for p in data.audio_paths]
    result = {"sentences": len(data), "utterances": len(data),
              "what": "copy synthesis: the vocoder on the mels of the manifest's own audio"}
    copy = roundtrip_scores(vocoded, rate, data.texts, asr, threads=threads)
    result.update({k: copy[k] for k in ("wer", "cer", "asr", "examples")})
    for key, audio, what in (("floor", own, "the same ASR on the manifest's own audio"),
                             ("griffin_lim", griffin_lim_vocoder(cfg).many(data.mels, threads),
                              "the same ASR on Griffin-Lim (32 iterations) of the same mels")):
        r = roundtrip_scores(audio, rate, data.texts, asr, threads=threads)
        result[key] = {"wer": r["wer"], "cer": r["cer"], "utterances": len(data), "what": what}
    valid = [x for x in mcds if x is not None]
    result["resynthesis_mcd_db"] = float(np.mean(valid)) if valid else None
    result["mcd_formula"] = MCD_DESCRIPTION
    return result


def describe_vocoder_eval(result: dict) -> str:
    speed = result["speed"]["audio_seconds_per_second"]
    return (f"copy-synthesis WER {result['wer']:.2%}  CER {result['cer']:.2%} (floor {result['floor']['wer']:.2%}, "
            f"griffin-lim {result['griffin_lim']['wer']:.2%}); resynthesis MCD {result['resynthesis_mcd_db']:.2f} dB; "
            f"{speed:.3f} audio s per s  ({result['sentences']} sentences)")


def vocoder_zoo_figures(result: dict) -> dict:
    return {"copy_wer": result["wer"], "copy_cer": result["cer"], "floor_wer": result["floor"]["wer"],
            "griffin_lim_copy_wer": result["griffin_lim"]["wer"], "resynthesis_mcd_db": result["resynthesis_mcd_db"]}


__all__ = ["evaluate_vocoder", "copy_synthesis_scores", "describe_vocoder_eval", "vocoder_zoo_figures"]
