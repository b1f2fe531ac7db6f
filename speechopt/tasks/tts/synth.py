"""`speechopt synth`: sentences -> WAV files through a TTS artifact of any format and a vocoder.

Real-time factor here is **audio seconds per wall second** (higher is faster: 10 means ten seconds of audio
synthesized per second), the same direction as RTFx; NVIDIA's Tacotron 2 scripts and sherpa-onnx report the
inverse (compute time per audio second, lower is faster).

Every sentence is tokenized before anything runs (one error naming what cannot be spelled), synthesized and
vocoded before anything is written; each WAV (16-bit PCM) is written to a temporary name beside its target
and renamed into place, so an error leaves no partial file. A sentence whose stop gate never fires is cut
at the step cap, warned about and marked `gate_fired: false` in the results.

The vocoder: `vocoder` None or "griffin-lim" is the built-in Griffin-Lim with the acoustic model's own mel
settings (as before vocoder artifacts existed); a vocoder artifact folder (or zoo:NAME) is used as it is and
refused, in one line naming both settings, if its mel settings differ from the acoustic model's. A pipeline
artifact (`speechopt.models.tts.pipeline`) brings its own vocoder: both components are checked against the
checksums it recorded, and an explicit `vocoder` beside it is refused.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from speechopt.errors import SpeechoptError

VOCODERS = ("griffin-lim",)  # built-in vocoders, by name; anything else given as --vocoder is an artifact
RTF_DEFINITION = ("real-time factor = audio seconds / wall seconds (higher is faster; the RTFx direction; NVIDIA "
                  "and sherpa-onnx report the inverse)")


def _open_tts(artifact_path, vocoder=None, n_iter: int | None = None):
    """(given artifact, acoustic artifact, its task, Vocoder): a pipeline's components, or a tts artifact and the
    vocoder chosen by `vocoder` (`speechopt.models.tts.vocoder.vocoder_for`)."""
    from speechopt.artifact import load_artifact
    from speechopt.models.tts.vocoder import vocoder_for
    from speechopt.tasks import task_of
    from speechopt.zoo import resolve

    artifact = load_artifact(resolve(artifact_path))
    if artifact.format == "pipeline" and artifact.task == "tts":
        from speechopt.models.tts.pipeline import load_pipeline

        if vocoder is not None:
            raise SpeechoptError(f"{artifact.path}: a pipeline brings its own vocoder; drop --vocoder {vocoder}, or "
                                 "synthesize its acoustic model with that vocoder")
        _, acoustic, voc = load_pipeline(artifact)
        return artifact, acoustic, task_of(acoustic), voc
    if artifact.task != "tts":
        arch = (artifact.manifest.get("architecture") or {}).get("name", "?")
        raise SpeechoptError(f"{artifact.path}: synth needs a tts artifact, this one is {artifact.task} ({arch})")
    task = task_of(artifact)
    return artifact, artifact, task, vocoder_for(artifact, vocoder, n_iter)


def output_paths(out, count: int, names: list[str] | None = None) -> list[Path]:
    """One .wav per sentence: `out` itself for one sentence ending in .wav, else files in the folder `out`."""
    out = Path(out)
    if out.suffix.lower() == ".wav":
        if count != 1:
            raise SpeechoptError(f"{out}: {count} sentences need an output folder, not one .wav file")
        return [out]
    if out.exists() and not out.is_dir():
        raise SpeechoptError(f"{out}: not a folder (give OUT.wav for one sentence, or a folder)")
    return [out / f"{(names[i] if names else f'{i + 1:04d}')}.wav" for i in range(count)]


def write_wav_atomic(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    from speechopt.audio.io import write_audio

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.wav", dir=path.parent)
    os.close(fd)
    try:
        write_audio(tmp, audio, sample_rate)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _outside_characters(artifact, texts: list[str], warn) -> list[dict | None]:
    """Per sentence, what the phoneme front end did with characters the character front end would refuse
    (None under the character front end, which refuses them in `load_tts_data`), with a warning line each."""
    from speechopt.models.tts.artifact import tokenizer_of

    tokenizer = tokenizer_of(artifact)
    if not hasattr(tokenizer, "outside_characters"):
        return [None] * len(texts)
    out = []
    for i, text in enumerate(texts):
        found = tokenizer.outside_characters(text)
        out.append(found)
        for how, chars in found.items():
            if chars and warn is not None:
                named = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in chars)
                what = "espeak-ng reads them aloud in its own words" if how == "spelled" else \
                    "espeak-ng speaks nothing for them: dropped"
                warn(f"warning: sentence {i + 1} ({text[:40]!r}) has characters outside a-z ' , . ? !: {named}; "
                     f"{what}")
    return out


def synthesize(artifact_path, texts: list[str] | None = None, texts_file=None, out=None, vocoder: str | None = None,
               device: str = "cpu", threads: int | None = None, prenet_seed: int | None = 0,
               gate_threshold: float = 0.5, max_steps: int | None = None, n_iter: int = 32, warn=None) -> dict:
    """Synthesize `texts` (or the sentences of `texts_file`: text lines or a TTS manifest) to WAVs under `out`.

    Returns {"artifact", "format", "vocoder", "results": [{text, file, audio_seconds, seconds, acoustic_seconds,
    vocoder_seconds, rtf, steps, gate_fired[, outside_characters: {spelled, dropped} under the phoneme front
    end]}], "total_seconds", "audio_seconds", "rtf", "rtf_definition"}.
    `vocoder`: None or "griffin-lim" (`n_iter` iterations, the acoustic model's mel settings) or a vocoder
    artifact; `artifact_path` may be a pipeline (then "acoustic" names its acoustic model and `vocoder` must be
    None). "vocoder" in the result is `Vocoder.describe()` (with the artifact path and checksum if any).
    """
    from speechopt.models.tts.artifact import mel_config_of
    from speechopt.tasks.tts.data import load_tts_data
    from speechopt.tasks.tts.driver import SynthesisSettings

    if (texts is None) == (texts_file is None):
        raise SpeechoptError("give --text or --texts (one of them)")
    if texts is not None and not any(t.strip() for t in texts):
        raise SpeechoptError("the text is empty: nothing to synthesize")
    if out is None:
        raise SpeechoptError("give -o OUT.wav (one sentence) or -o FOLDER")
    if threads is not None and threads < 1:
        raise SpeechoptError(f"threads must be a positive integer, got {threads}")
    given, artifact, task, voc = _open_tts(artifact_path, vocoder, n_iter)
    data = load_tts_data(artifact, texts if texts is not None else texts_file)
    outside = _outside_characters(artifact, data.texts, warn)
    paths = output_paths(out, len(data), None if texts is not None else data.names)
    mel_config = mel_config_of(artifact)
    settings = SynthesisSettings(gate_threshold=gate_threshold, max_steps=max_steps, prenet_seed=prenet_seed)
    results, audios = [], []
    with task.driver(artifact, device, threads, settings=settings) as driver:
        warm = task.run(driver, data.subset([0]), progress=False)[0]  # warm-up: first calls pay for allocation
        voc(warm["mel"][:3], threads or 1)  # ... and the vocoder its set-up (a few frames: WaveNet is slow)
        for i in range(len(data)):
            t0 = time.perf_counter()
            out_i = task.run(driver, data.subset([i]), progress=False)[0]
            t1 = time.perf_counter()
            audio = voc(out_i["mel"], threads or 1, linear=out_i.get("linear"))
            t2 = time.perf_counter()
            seconds = len(audio) / mel_config.sample_rate
            results.append({"text": data.texts[i], "file": str(paths[i]), "audio_seconds": seconds,
                            "seconds": t2 - t0, "acoustic_seconds": t1 - t0, "vocoder_seconds": t2 - t1,
                            "rtf": seconds / (t2 - t0) if t2 > t0 else None, "steps": out_i["steps"],
                            "frames": len(out_i["mel"]), "gate_fired": out_i["gate_fired"]})
            if outside[i] is not None:
                results[-1]["outside_characters"] = outside[i]
            audios.append(audio)
            if not out_i["gate_fired"] and warn is not None:
                warn(f"warning: sentence {i + 1} ({data.texts[i][:40]!r}) never fired the stop gate; cut at the cap "
                     f"of {out_i['steps']} decoder steps")
    for path, audio in zip(paths, audios):
        write_wav_atomic(path, audio, mel_config.sample_rate)
    total = sum(r["seconds"] for r in results)
    audio_total = sum(r["audio_seconds"] for r in results)
    return {"artifact": str(given.path), "acoustic": str(artifact.path), "format": artifact.format,
            "pipeline": given.format == "pipeline", "vocoder": voc.describe(), "synthesis": settings.to_dict(),
            "mel": mel_config.describe(), "results": results, "total_seconds": total, "audio_seconds": audio_total,
            "rtf": audio_total / total if total else None, "rtf_definition": RTF_DEFINITION,
            "capped": sum(not r["gate_fired"] for r in results)}
