"""Tasks: what is specific to ASR, TTS and vocoders behind one interface (`speechopt.tasks.base`).

Tasks are registered as "module:Class" strings, so importing this package imports no task code.
"""

from __future__ import annotations

import importlib

from speechopt.errors import SpeechoptError

_TASKS: dict[str, str] = {"asr": "speechopt.tasks.asr.task:AsrTask", "tts": "speechopt.tasks.tts.task:TtsTask",
                          "vocoder": "speechopt.tasks.vocoder:VocoderTask"}
_LOADED: dict[str, object] = {}


def register_task(name: str, target) -> None:
    """Add a task: a "module:Class" string or a Task instance (tests register toy tasks this way)."""
    _TASKS[name] = target
    _LOADED.pop(name, None)


def get_task(name: str):
    """The task object for an artifact's `task` field."""
    if name not in _LOADED:
        target = _TASKS.get(name)
        if target is None:
            raise SpeechoptError(f"no task {name!r} in this speechopt (known: {', '.join(sorted(_TASKS))})")
        if isinstance(target, str):
            module, cls = target.split(":")
            target = getattr(importlib.import_module(module), cls)()
        _LOADED[name] = target
    return _LOADED[name]


def task_of(artifact):
    return get_task(artifact.task)
