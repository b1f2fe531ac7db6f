"""TensorRT optimization profiles of TTS graphs, from the sentences a user will synthesize.

The graphs' dynamic dimensions are named (`speechopt.backends.tensorrt.profiles.graph_shapes` maps names
to shapes), so one set of ranges serves every graph of an artifact:

- `batch`: what the caller gives (the TTS drivers run one sentence at a time: (1, 1, 1) by default);
- `text`: tokens per sentence with the artifact's front end: the shortest, the median and the longest
  rounded up to a multiple of TEXT_ROUND (never past the task's MAX_TOKENS, which `synth` refuses beyond);
- `frames` (the post-net's and WaveNet's conditioning input): from one decoder step (the reduction
  factor) to the most the loop can emit for the longest text (the driver's step cap times the reduction),
  with opt at the median frames of the manifest's own audio; without audio durations opt is the median
  cap (stated in the source);
- `cap` (the in-graph loop's prenet masks, one row per allowed step): the step caps of those texts.
"""

from __future__ import annotations

import math

import numpy as np

from speechopt.errors import SpeechoptError

TEXT_ROUND = 50
DEFAULT_TTS_BATCH = (1, 1, 1)


def _frames(durations, mel) -> list[int]:
    return [int(d * mel.sample_rate) // mel.hop_length + 1 for d in durations if d and d > 0]


def tts_profile_dims(artifact, data, settings, batch) -> tuple[dict, dict]:
    """(named dimension ranges, what they came from) for an acoustic model's graphs on `data` (TtsData)."""
    from speechopt.models.tts.artifact import mel_config_of
    from speechopt.tasks.tts.data import MAX_TOKENS

    mel = mel_config_of(artifact)
    r = int(((artifact.manifest.get("architecture") or {}).get("config") or {}).get("reduction", 1))
    tokens = np.asarray(data.lengths)
    lo, opt = int(tokens.min()), int(round(float(np.median(tokens))))
    hi = min(max(int(math.ceil(tokens.max() / TEXT_ROUND) * TEXT_ROUND), int(tokens.max())), MAX_TOKENS)
    caps = [settings.cap(t, r) for t in (lo, opt, hi)]
    own = _frames(data.durations, mel)
    frames_opt = int(np.median(own)) if len(own) == len(data) else caps[1] * r
    ranges = {"batch": tuple(batch), "text": (lo, opt, hi), "cap": tuple(caps),
              "frames": (r, min(max(frames_opt, r), caps[2] * r), caps[2] * r)}
    source = {"sentences": len(data), "tokens": {"min": lo, "median": float(np.median(tokens)), "max": int(tokens.max())},
              "reduction": r, "step_cap": settings.to_dict(),
              "frames_opt_from": "the own audio's median" if len(own) == len(data) else "the median text's step cap"}
    return ranges, source


def vocoder_profile_dims(durations, mel, batch) -> tuple[dict, dict]:
    """Ranges for a vocoder's graphs: frames of the sentences' mels (the longest rounded up to 100)."""
    frames = _frames(durations, mel)
    if not frames:
        raise SpeechoptError("a vocoder profile needs sentences with audio (a manifest with audio_filepath)")
    hi = int(math.ceil(max(frames) / 100) * 100)
    ranges = {"batch": tuple(batch), "frames": (min(frames), int(np.median(frames)), hi)}
    return ranges, {"sentences": len(frames), "frames": {"min": min(frames), "median": float(np.median(frames)),
                                                         "max": max(frames)}}
