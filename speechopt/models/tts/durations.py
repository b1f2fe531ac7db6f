"""Per-token (character) durations in mel frames from the TTS corpus's espeak-ng timings.

The TTS front end reads characters (`speechopt.tts_text`), while espeak's durations are per phoneme
(`phoneme_ms`) and its word events (`words`: `[char_start, num_chars, start_ms]`) tie words to characters.
The rule, for one utterance of `num_frames` mel frames (text = the normalized text, tokens = its
characters then the EOS token):

1. Time line: phoneme boundaries are the running sum of `phoneme_ms`; T = their total (the audio
   duration). Pause phonemes are those whose mnemonic starts with "_" ("_", "_:", "_!" ...). The pause
   phonemes before the first spoken phoneme (leading silence, usually <= 13 ms) count as speech of the
   first word.
2. Word spans: word i speaks from its event time s_i to s_{i+1} (the first from 0, the last to T); event
   times are made non-decreasing and clipped to [0, T]. A span's *speech* is its length minus the
   (non-leading) pause time that overlaps it; it is spread equally over the word's characters.
3. Pauses: each non-leading pause phoneme goes to the nearest word boundary (s_1 .. s_{n-1}, and T for
   the end) by its midpoint, i.e. to the gap between two words (or after the last word). espeak's word
   events sit up to ~50 ms off the phoneme boundaries, so a pause may overlap the next word's span: this
   is why pauses are placed by boundary, not by the span they fall in. A gap's pause time is split
   equally over the punctuation characters ", . ? !" in the gap's characters (those between the two
   words; after the last word: the rest of the text); if it has none, over its other characters (a
   space); the EOS token takes it only when the final gap has no characters at all.
4. Characters that no word or gap covers (there are none in the corpus's normalized text) and the EOS
   token get 0 ms; spaces get 0 ms unless a pause falls in a gap without punctuation.
5. The per-token milliseconds become whole frames with `durations_to_frames` (cumulative boundaries
   rounded, the last token takes the remainder), so the durations sum exactly to `num_frames`; the EOS
   token thereby gets the one extra frame of a centred STFT (frames = samples // hop + 1).

Steps 2-3 conserve time: speech (T minus pauses) plus pauses is T, so the frames follow the audio.
"""

from __future__ import annotations

import numpy as np

from speechopt.errors import SpeechoptError

PUNCTUATION = set(",.?!")


def token_durations_ms(text: str, words, phonemes, phoneme_ms, eos: bool = True) -> np.ndarray:
    """Milliseconds per token (each character of `text`, then EOS if `eos`) by the rule above."""
    if not words:
        raise SpeechoptError(f"no word timings for {text!r}: cannot derive token durations")
    if len(phonemes) != len(phoneme_ms):
        raise SpeechoptError(f"{len(phonemes)} phonemes but {len(phoneme_ms)} durations for {text!r}")
    n_tok = len(text) + (1 if eos else 0)
    ms = np.zeros(n_tok, dtype=np.float64)
    dur = np.asarray(phoneme_ms, dtype=np.float64)
    ends = np.cumsum(dur)
    starts = ends - dur
    total = float(ends[-1]) if len(ends) else 0.0
    pause = np.array([str(p).startswith("_") for p in phonemes], dtype=bool)
    spoken = np.flatnonzero(~pause)
    lead = int(spoken[0]) if len(spoken) else len(pause)
    pause[:lead] = False  # leading silence: speech of the first word

    words = sorted((int(c), int(n), float(s)) for c, n, s in words)
    for c, n, _ in words:
        if c < 0 or n <= 0 or c + n > len(text):
            raise SpeechoptError(f"word timing {[c, n]} outside the text {text!r} ({len(text)} characters)")
    s = np.maximum.accumulate(np.clip([w[2] for w in words], 0.0, total))
    s[0] = 0.0
    span_end = np.append(s[1:], total)

    # pause time overlapping each word's span
    p_idx = np.flatnonzero(pause)
    p_start, p_end = starts[p_idx], ends[p_idx]
    overlap = np.clip(np.minimum(p_end[None, :], span_end[:, None]) - np.maximum(p_start[None, :], s[:, None]), 0, None)
    speech = (span_end - s) - overlap.sum(1)
    # pauses to the nearest boundary: boundary j (1..n) is the gap after word j-1
    boundaries = np.append(s[1:], total)
    gap_ms = np.zeros(len(words))
    if len(p_idx):
        mid = (p_start + p_end) / 2
        nearest = np.abs(mid[:, None] - boundaries[None, :]).argmin(1)
        np.add.at(gap_ms, nearest, dur[p_idx])

    for i, (c, n, _) in enumerate(words):
        ms[c : c + n] += max(0.0, speech[i]) / n
        gap_lo = c + n
        gap_hi = words[i + 1][0] if i + 1 < len(words) else len(text)
        gap = list(range(gap_lo, max(gap_lo, gap_hi)))
        if gap_ms[i] <= 0:
            continue
        target = [k for k in gap if text[k] in PUNCTUATION] or gap or ([len(text)] if eos else [c + n - 1])
        ms[target] += gap_ms[i] / len(target)
    return ms


def token_durations(row: dict, num_frames: int, hop_length: int, sample_rate: int, eos: bool = True) -> list[int]:
    """Whole mel frames per token of a TTS manifest row (`text`, `words`, `phonemes`, `phoneme_ms`), summing
    to `num_frames`: tokens are the characters of `row["text"]` (already normalized) then EOS."""
    from speechopt.data.tts_corpus import durations_to_frames

    ms = token_durations_ms(row["text"], row.get("words"), row["phonemes"], row["phoneme_ms"], eos)
    return durations_to_frames(ms, num_frames, hop_length, sample_rate)


def uniform_durations(num_tokens: int, num_frames: int) -> list[int]:
    """Fallback without timings: frames spread evenly (cumulative rounding), summing to `num_frames`."""
    bounds = np.round(np.arange(1, num_tokens + 1) * num_frames / num_tokens).astype(np.int64)
    return np.diff(np.concatenate([[0], bounds])).tolist()


__all__ = ["token_durations_ms", "token_durations", "uniform_durations", "PUNCTUATION"]
