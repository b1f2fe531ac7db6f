"""espeak-ng in a child process, so that a crash inside the C library costs one utterance, not the corpus run.

espeak-ng (the build in espeakng-loader 0.2.4) dies with a segmentation fault on rare inputs, every time:
"visit them" in voice en-us+rob at pitch range 82 is one (any seed, any rate tried). A signal raised in the
library cannot be caught in the process that loaded it, so a corpus of seed 11 ended at utterance 1044 with
exit code 139 and no message. Here the synthesizer lives in a spawned child; when it dies, the parent
starts a new one and raises `EspeakCrashed`, and the caller decides what to speak instead.
"""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from speechopt.data.espeak import Voice
from speechopt.errors import SpeechoptError


class EspeakCrashed(SpeechoptError):
    """The child synthesizer died on an utterance (a new one has been started)."""


def _serve(conn) -> None:
    from speechopt.data.espeak import Espeak

    tts = Espeak.shared()
    conn.send(tts.sample_rate)
    while (job := conn.recv()) is not None:
        text, voice, seed = job
        try:
            conn.send(("ok", tts.synthesize(text, voice, seed)))
        except SpeechoptError as exc:
            conn.send(("error", str(exc)))


class IsolatedEspeak:
    """`Espeak.synthesize` behind a pipe to a child process: from the same starting state, the same audio as
    in-process, sample for sample (espeak-ng keeps state across utterances)."""

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        # spawn, not fork: the parent may hold torch's and OpenMP's threads, which fork does not copy safely.
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="speechopt-espeak")
        self._proc.start()
        child.close()
        try:
            self.sample_rate = int(self._conn.recv())
        except EOFError:
            self._proc.join()
            raise SpeechoptError(f"espeak-ng failed to start in a child process (exit {self._proc.exitcode})") from None

    @property
    def pid(self) -> int:
        return self._proc.pid

    def synthesize(self, text: str, voice: Voice, seed: int | None = None) -> np.ndarray:
        try:
            self._conn.send((text, voice, seed))
            status, value = self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            self._proc.join()
            code = self._proc.exitcode
            self._conn.close()
            self._start()
            raise EspeakCrashed(f"espeak-ng crashed (exit code {code}) on {text!r} in voice {voice.name} "
                                f"(rate {voice.rate_wpm}, pitch {voice.pitch}, range {voice.pitch_range})") from None
        if status == "error":
            raise SpeechoptError(value)
        return value

    def close(self) -> None:
        if self._proc.is_alive():
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._proc.join(timeout=5)
            if self._proc.is_alive():
                self._proc.kill()
        self._conn.close()

    def __enter__(self) -> "IsolatedEspeak":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["EspeakCrashed", "IsolatedEspeak"]
