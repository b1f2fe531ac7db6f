"""The phoneme front end of the TTS models: espeak-ng's phonemes of the normalized text.

A sentence is normalized as the character front end does (`speechopt.tts_text.normalize_tts_text`), spoken
by espeak-ng with the corpus voice (name, rate, pitch, range: recorded in the tokenizer), and its phoneme
events are the tokens: espeak's mnemonics with their stress marks ("'aI", ",oU", "t#", ...) and its pause
phonemes ("_", "_:") where the text has punctuation. The sentence's final mark becomes one more token
(`<.>`, `<?>`, `<!>`): espeak's phonemes are the same for a statement and a question, its intonation is not.
Then the end-of-sequence token. Ids: 0 padding, 1 end of sequence, then the vocabulary (the phonemes of
the training corpus, sorted, and the three final marks).

A corpus manifest row carries espeak's phonemes of its text (`phonemes`, with `phoneme_ms`), so training
reads them from there, and frames per token are exact (`token_frames`): the phonemes' own durations, 0 for
the final mark and the end token. At synthesis time the text is phonemized by espeak-ng (a few ms a
sentence; cached). A phoneme the vocabulary lacks is looked up without its stress mark, else refused in one
line naming it.
Characters the character front end refuses (digits, symbols, other letters) reach espeak-ng here, which
reads most aloud in its own words and skips a few: `outside_characters` says which, for `synth` to report.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from speechopt.errors import SpeechoptError

PHONEME_TYPE = "tts_phoneme"
PAD, EOS = "<pad>", "<eos>"
FINAL_MARKS = {".": "<.>", "?": "<?>", "!": "<!>"}
DEFAULT_VOICE = {"name": "en-us", "rate_wpm": 175, "pitch": 50, "pitch_range": 50}


@functools.lru_cache(maxsize=4096)
def phonemize(text: str, voice: tuple) -> tuple:
    """espeak-ng's phoneme mnemonics of `text` (already normalized) spoken by `voice` (name, rate, pitch,
    range), as the corpus recorded them (`Espeak.synthesize_with_phonemes`)."""
    from speechopt.data.espeak import Espeak, Voice

    al = Espeak.shared().synthesize_with_phonemes(text, Voice(*voice), seed=0)
    return tuple(p.name for p in al.phonemes)


@dataclass
class PhonemeTokenizer:
    vocabulary: list[str]
    voice: dict = field(default_factory=lambda: dict(DEFAULT_VOICE))
    pad_id: int = 0
    eos_id: int = 1

    def __post_init__(self) -> None:
        self._index = {p: i for i, p in enumerate(self.vocabulary) if i not in (self.pad_id, self.eos_id)}

    @classmethod
    def build(cls, rows, voice: dict | None = None) -> "PhonemeTokenizer":
        """The vocabulary of a corpus: every phoneme of its rows, sorted, then the final marks."""
        phonemes = sorted({p for r in rows for p in r["phonemes"]})
        return cls([PAD, EOS] + phonemes + list(FINAL_MARKS.values()), dict(voice or DEFAULT_VOICE))

    def _voice(self) -> tuple:
        v = self.voice
        return (v["name"], int(v["rate_wpm"]), int(v["pitch"]), int(v["pitch_range"]))

    def tokens(self, text: str, phonemes=None) -> list[str]:
        """The token strings of `text` (phonemized unless its espeak `phonemes` are given), end token excluded."""
        from speechopt.tts_text import normalize_tts_text

        normalized = normalize_tts_text(text)
        if not normalized.strip(".?!, "):
            raise SpeechoptError(f"text {text!r} has nothing to speak after normalization")
        names = list(phonemes) if phonemes is not None else list(phonemize(normalized, self._voice()))
        return names + [FINAL_MARKS.get(normalized[-1], FINAL_MARKS["."])]

    def encode(self, text: str, on_unknown: str = "error", phonemes=None) -> list[int]:
        ids = []
        for p in self.tokens(text, phonemes):
            i = self._index.get(p, self._index.get(p.lstrip("',")))
            if i is None:
                raise SpeechoptError(f"espeak-ng phoneme {p!r} of {text[:40]!r} is not in this model's vocabulary "
                                     f"({len(self._index)} phonemes of its training corpus)")
            ids.append(i)
        if all(self.vocabulary[i].startswith("_") or self.vocabulary[i] in FINAL_MARKS.values() for i in ids):
            raise SpeechoptError(f"text {text!r} has nothing to speak")
        return ids + [self.eos_id]

    def outside_characters(self, text: str) -> dict[str, list[str]]:
        """The characters of `text` outside the character front end's set (a-z ' space , . ? !), in order of
        appearance. This front end does not refuse them: espeak-ng reads most aloud in its own words ("%" as
        "percent", "4" as "four", "é" as a letter in a word) and skips a few. {"spelled": those it speaks on
        their own, "dropped": those it gives no phoneme for}."""
        from speechopt.tts_text import DEFAULT_TTS_VOCAB, normalize_tts_text

        allowed = set(DEFAULT_TTS_VOCAB)
        out: dict[str, list[str]] = {"spelled": [], "dropped": []}
        for c in dict.fromkeys(c for c in normalize_tts_text(text) if c not in allowed):
            spoken = [p for p in phonemize(normalize_tts_text(c), self._voice()) if not p.startswith("_")]
            out["spelled" if spoken else "dropped"].append(c)
        return out

    def decode(self, ids) -> str:
        return " ".join(self.vocabulary[int(i)] for i in ids if int(i) not in (self.pad_id, self.eos_id))

    def to_dict(self) -> dict:
        from speechopt.tts_text import NORMALIZATION

        return {"type": PHONEME_TYPE, "vocabulary": list(self.vocabulary), "pad_id": self.pad_id,
                "eos_id": self.eos_id, "voice": dict(self.voice), "normalization": NORMALIZATION,
                "phonemizer": "espeak-ng phoneme events of the normalized text (espeakng-loader), the final mark "
                              "as a token"}

    @classmethod
    def from_dict(cls, d: dict) -> "PhonemeTokenizer":
        if d.get("type") != PHONEME_TYPE:
            raise SpeechoptError(f"not a TTS phoneme tokenizer (type {d.get('type')!r})")
        return cls(list(d["vocabulary"]), dict(d.get("voice") or DEFAULT_VOICE), int(d["pad_id"]), int(d["eos_id"]))

    def __len__(self) -> int:
        return len(self.vocabulary)


def token_frames(row: dict, num_frames: int, hop_length: int, sample_rate: int) -> list[int]:
    """Frames per token of a corpus row under the phoneme front end: its phonemes' durations (summing to
    `num_frames`), then 0 for the final mark and 0 for the end token."""
    from speechopt.data.tts_corpus import durations_to_frames

    return durations_to_frames(row["phoneme_ms"], num_frames, hop_length, sample_rate) + [0, 0]


def tokenizer_from_dict(d: dict):
    """The TTS tokenizer a manifest records: characters (`tts_char`, the default) or phonemes."""
    if d.get("type") == PHONEME_TYPE:
        return PhonemeTokenizer.from_dict(d)
    from speechopt.tts_text import TtsTokenizer

    return TtsTokenizer.from_dict(d)


def is_phonemes(tokenizer) -> bool:
    return isinstance(tokenizer, PhonemeTokenizer)


__all__ = ["PhonemeTokenizer", "phonemize", "token_frames", "tokenizer_from_dict", "is_phonemes", "FINAL_MARKS"]
