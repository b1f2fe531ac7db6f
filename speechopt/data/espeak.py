"""In-process speech synthesis with espeak-ng through ctypes.

The `espeakng-loader` wheel bundles libespeak-ng and its data folder, so no apt package and no network
are needed. The C API is declared in espeak-ng's `speak_lib.h`; only the calls we use are bound here.
espeak-ng keeps global state, so one process holds one synthesizer; calls are serialised by the GIL and
must come from one thread.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from speechopt.errors import SpeechoptError

AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
ESPEAK_CHARS_AUTO = 0
ESPEAK_RATE = 1
ESPEAK_PITCH = 3
ESPEAK_RANGE = 4

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class Voice:
    """An espeak voice: base language voice, variant and prosody settings."""

    name: str  # e.g. "en-us+m3"
    rate_wpm: int = 175
    pitch: int = 50
    pitch_range: int = 50


class Espeak:
    """A synchronous espeak-ng synthesizer returning float32 mono audio at `sample_rate`."""

    _instance: "Espeak | None" = None

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - it is a core dependency
            raise SpeechoptError("espeak-ng is not available: pip install espeakng-loader") from exc
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        # espeak-ng draws breath noise (voice variants f2, f3, f5 ...) from its own generator, seeded from
        # the clock at initialisation; seeding it before each utterance makes the audio reproducible.
        self._set_seed = getattr(self._lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.argtypes = [ctypes.c_long]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        data_path = espeakng_loader.get_data_path().encode()
        rate = self._lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if rate <= 0:
            raise SpeechoptError(f"espeak-ng failed to initialise (data folder {data_path.decode()})")
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []

        def on_audio(wav, num_samples, events):  # called by espeak for each chunk of audio
            if num_samples > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
            return 0

        self._callback = _SYNTH_CALLBACK(on_audio)  # keep a reference: espeak holds the pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def shared(cls) -> "Espeak":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def set_voice(self, voice: Voice) -> None:
        if self._lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise SpeechoptError(f"espeak-ng refused voice {voice.name!r}")
        self._lib.espeak_SetParameter(ESPEAK_RATE, int(voice.rate_wpm), 0)
        self._lib.espeak_SetParameter(ESPEAK_PITCH, int(voice.pitch), 0)
        self._lib.espeak_SetParameter(ESPEAK_RANGE, int(voice.pitch_range), 0)

    def synthesize(self, text: str, voice: Voice, seed: int | None = None) -> np.ndarray:
        """Speak `text`; returns float32 samples in [-1, 1] at `self.sample_rate`."""
        self.set_voice(voice)
        if seed is not None and self._set_seed is not None:
            self._set_seed(seed)
        self._chunks = []
        encoded = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(encoded)
        status = self._lib.espeak_Synth(buf, len(encoded), 0, POS_CHARACTER, 0, ESPEAK_CHARS_AUTO, None, None)
        if status != 0:
            raise SpeechoptError(f"espeak-ng failed to synthesize {text!r} (status {status})")
        self._lib.espeak_Synchronize()
        if not self._chunks:
            return np.zeros(0, dtype=np.float32)
        return (np.concatenate(self._chunks).astype(np.float32) / 32768.0)
