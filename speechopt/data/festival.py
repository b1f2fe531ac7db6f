"""Festival (the University of Edinburgh's speech synthesizer) as a second voice source beside espeak-ng.

Festival is a Debian package, not a Python one: `apt-get install festival festvox-kallpc16k
festvox-kdlpc16k festvox-us-slt-hts` (`make festival` does it). It is run as `text2wave`, one process an
batch of utterances, from a Scheme script (`festival -b`), which writes what `text2wave` would:

    (voice_kal_diphone) (Parameter.set 'Duration_Stretch 1.1)
    (utt.save.wave (utt.synth (Utterance Text "...")) "out.wav" 'riff)

Voices: `kal_diphone` and `ked_diphone` (US English diphone voices, 16 kHz, LR intonation whose mean pitch is
settable) and `cmu_us_slt_arctic_hts` (a US English HMM voice, 32 kHz, resampled to 16 kHz). The prosody
knobs are the speaking rate (`Duration_Stretch`: > 1 slower) and, for the diphone voices, the mean and
spread of the pitch (`int_lr_params`). Festival is deterministic: the same text and settings give the same
samples.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechopt.errors import SpeechoptError

PACKAGES = "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
INSTALL = f"apt-get install {PACKAGES} (or: make festival)"
DIPHONE_VOICES = ("kal_diphone", "ked_diphone")
VOICES = DIPHONE_VOICES + ("cmu_us_slt_arctic_hts",)


@dataclass(frozen=True)
class FestivalVoice:
    name: str  # one of VOICES
    stretch: float = 1.0  # Duration_Stretch: > 1 speaks slower
    f0_mean: int = 105  # diphone voices: mean pitch (Hz)
    f0_std: int = 14  # diphone voices: pitch spread (Hz)

    @property
    def label(self) -> str:
        return f"festival:{self.name}"


def require_festival() -> str:
    """The path of `text2wave`, or one line naming the packages and how to install them."""
    path = shutil.which("text2wave")
    if path is None:
        raise SpeechoptError(f"Festival is not installed (no text2wave on PATH): {INSTALL}")
    return path


def installed_voices() -> list[str]:
    """The VOICES this machine's Festival has (each is its own package)."""
    roots = [Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices")]
    found = {p.name for root in roots if root.is_dir() for p in root.glob("*/*") if p.is_dir()}
    return [v for v in VOICES if v in found]


def _settings(voice: FestivalVoice) -> list[str]:
    """The Scheme that selects `voice` and its prosody."""
    if voice.name not in VOICES:
        raise SpeechoptError(f"unknown Festival voice {voice.name!r}; known: {', '.join(VOICES)}")
    out = [f"(voice_{voice.name})", f"(Parameter.set 'Duration_Stretch {voice.stretch:.3f})"]
    if voice.name in DIPHONE_VOICES:
        out.append(f"(set! int_lr_params '((target_f0_mean {int(voice.f0_mean)}) (target_f0_std {int(voice.f0_std)}) "
                   "(model_f0_mean 170) (model_f0_std 34)))")
    return out


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def synthesize_many(items, sample_rate: int = 16000) -> list[np.ndarray]:
    """Speak each (text, FestivalVoice) of `items` in one Festival process (starting one an utterance costs
    more than most utterances do); float32 mono at `sample_rate`, in order. The same as `text2wave` gives."""
    require_festival()
    exe = shutil.which("festival")
    with tempfile.TemporaryDirectory(prefix="speechopt-festival-") as tmp:
        lines, paths, current = [], [], None
        for k, (text, voice) in enumerate(items):
            if voice != current:
                lines += _settings(voice)
                current = voice
            path = Path(tmp) / f"{k:06d}.wav"
            lines.append(f"(utt.save.wave (utt.synth (Utterance Text {_quote(text)})) {_quote(str(path))} 'riff)")
            paths.append(path)
        script = Path(tmp) / "script.scm"
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        proc = subprocess.run([exe, "-b", str(script)], capture_output=True, text=True, timeout=60 + 10 * len(items))
        missing = [p for p in paths if not p.is_file()]
        if proc.returncode != 0 or missing:
            err = proc.stderr + proc.stdout
            if "unbound variable" in err.lower() and "voice_" in err:
                raise SpeechoptError(f"Festival lacks a voice of this corpus ({err.strip().splitlines()[-1]}): {INSTALL}")
            last = (err.strip().splitlines() or ["no output"])[-1]
            raise SpeechoptError(f"Festival failed ({len(missing)} of {len(paths)} utterances not written): {last}")
        return [_read_mono(p, sample_rate) for p in paths]


def _read_mono(path: Path, sample_rate: int) -> np.ndarray:
    # Not load_audio: it logs each resampled file, and the HMM voice's 32 kHz (documented above) would
    # put one log line per utterance into a corpus run.
    import soundfile as sf

    from speechopt.audio.io import resample

    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(audio.mean(axis=1), sr, sample_rate)


def synthesize(text: str, voice: FestivalVoice, sample_rate: int = 16000) -> np.ndarray:
    """Speak `text` with Festival; float32 mono at `sample_rate`."""
    return synthesize_many([(text, voice)], sample_rate)[0]


__all__ = ["FestivalVoice", "synthesize", "synthesize_many", "require_festival", "installed_voices", "VOICES", "INSTALL"]
