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
# espeak_Initialize option bit: deliver a phoneme event for each phoneme (speak_lib.h
# espeakINITIALIZE_PHONEME_EVENTS). It only adds events: the audio is the same with and without it (checked
# sample for sample on the ASR corpora), so the one synthesizer of a process always asks for them.
INITIALIZE_PHONEME_EVENTS = 0x0001
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EVENT_SENTENCE = 2
EVENT_END = 5
EVENT_MSG_TERMINATED = 6
EVENT_PHONEME = 7


class _Event(ctypes.Structure):
    """speak_lib.h `espeak_EVENT`; `id` is a union whose 8-byte `string` member holds phoneme names."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character position in the input text
        ("length", ctypes.c_int),  # word events: length of the word in characters
        ("audio_position", ctypes.c_int),  # milliseconds from the start of the utterance
        ("sample", ctypes.c_int),  # the same position in samples at the synthesizer's rate
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


@dataclass(frozen=True)
class Phoneme:
    """One phoneme event: espeak's phoneme mnemonic and where its audio starts and ends (samples at the
    synthesizer's rate, from the event's `sample` field; `audio_position` carries the same in whole ms).
    `text_position` is espeak's 1-based character position of the word the phoneme belongs to."""

    name: str
    start: int
    end: int
    text_position: int

    @property
    def num_samples(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Word:
    """One word event: `text_position` (1-based) and `length` in characters of the input, `start` in samples."""

    text_position: int
    length: int
    start: int


@dataclass(frozen=True)
class PhonemeAlignment:
    """Audio and its segmentation. The phonemes tile the audio: the first starts at 0 (a leading "_" is
    added when espeak's first phoneme starts later), each ends where the next starts, and the last ends
    at the last sample, so durations sum to the audio length exactly."""

    audio: np.ndarray  # float32 in [-1, 1] at `sample_rate`
    sample_rate: int
    phonemes: tuple
    words: tuple

    def durations_ms(self) -> list[float]:
        return [p.num_samples * 1000.0 / self.sample_rate for p in self.phonemes]

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
        rate = self._lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, INITIALIZE_PHONEME_EVENTS)
        if rate <= 0:
            raise SpeechoptError(f"espeak-ng failed to initialise (data folder {data_path.decode()})")
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple] | None = None  # collected only by synthesize_with_phonemes

        def on_audio(wav, num_samples, events):  # called by espeak for each chunk of audio
            if num_samples > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
            if self._events is not None and events:
                ev = ctypes.cast(events, ctypes.POINTER(_Event))
                i = 0
                while ev[i].type != EVENT_LIST_TERMINATED:
                    e = ev[i]
                    if e.type in (EVENT_WORD, EVENT_PHONEME):
                        self._events.append((e.type, e.text_position, e.length, e.audio_position, e.sample,
                                             e.id.decode("utf-8", "replace") if e.type == EVENT_PHONEME else ""))
                    i += 1
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

    def synthesize_with_phonemes(self, text: str, voice: Voice, seed: int | None = None) -> PhonemeAlignment:
        """Speak `text` like `synthesize` (the same call sequence, so the same audio) and also return espeak's
        phoneme and word events, as sample positions at `self.sample_rate`."""
        self._events = []
        try:
            audio = self.synthesize(text, voice, seed)
            events = self._events
        finally:
            self._events = None
        n = len(audio)
        starts = []  # (name, start, text_position) in order, positions clamped into the audio
        for etype, tpos, _length, _ms, sample, name in events:
            if etype == EVENT_PHONEME:
                start = min(max(int(sample), 0), n)
                if starts and start < starts[-1][1]:
                    start = starts[-1][1]
                starts.append((name, start, tpos))
        if starts and starts[0][1] > 0:
            starts.insert(0, ("_", 0, starts[0][2]))
        phonemes = []
        for k, (name, start, tpos) in enumerate(starts):
            end = starts[k + 1][1] if k + 1 < len(starts) else n
            phonemes.append(Phoneme(name, start, end, tpos))
        if not phonemes and n:
            phonemes.append(Phoneme("_", 0, n, 1))
        words = tuple(Word(tpos, length, min(max(int(sample), 0), n))
                      for etype, tpos, length, _ms, sample, _name in events if etype == EVENT_WORD)
        return PhonemeAlignment(audio, self.sample_rate, tuple(phonemes), words)
