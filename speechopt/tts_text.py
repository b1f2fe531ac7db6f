"""The text front end of the TTS models: characters, with punctuation kept as pause tokens.

Normalization, stated once here (`NORMALIZATION`) and applied by `normalize_tts_text`:

1. lower case; typographic apostrophes (U+2018, U+2019, U+02BC) become "'";
2. ";" and ":" become ",", and "-" and "_" become a space (they are pauses or word separators in speech);
3. white space (any run of it) becomes one space; leading/trailing spaces are removed, and so are spaces
   before a punctuation mark ("word ," -> "word,") and a space is put between a punctuation mark and a
   letter that follows it ("a,b" -> "a, b");
4. if the text does not end with ". ? !" a "." is appended: Tacotron-style models learn to stop on the
   final punctuation (a sentence without it often never fires the stop gate).

After normalization a text may contain only a-z, "'", space and the pause tokens ", . ? !". Anything else
(digits, other letters, symbols) cannot be spelled: `encode` raises one error naming each such character,
or, with `on_unknown="drop"`, drops them and reports which ones it dropped (`TtsTokenizer.dropped`).
Numbers are not expanded into words: a caller with digits must spell them out first.

Ids: 0 is padding, 1 is the end-of-sequence token appended to every encoded text, then the characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from speechopt.errors import SpeechoptError

NORMALIZATION = (
    "lowercase; curly apostrophes -> '; ';' ':' -> ','; '-' '_' -> space; collapse whitespace, no space before "
    "punctuation, one after it; append '.' unless the text ends with . ? !; keep a-z ' space , . ? ! (others: error or dropped)"
)
PAD, EOS = "<pad>", "<eos>"
PAUSE_TOKENS = [",", ".", "?", "!"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
DEFAULT_TTS_VOCAB = [PAD, EOS, " ", "'"] + LETTERS + PAUSE_TOKENS

_APOSTROPHES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", ";": ",", ":": ",", "-": " ", "_": " "})
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.?!])")
_PUNCT_BEFORE_LETTER = re.compile(r"([,.?!])(?=[^ ,.?!])")


def normalize_tts_text(text: str) -> str:
    """The normalization above, steps 1-4 (unknown characters are left in; `encode` deals with them)."""
    t = text.lower().translate(_APOSTROPHES)
    t = _SPACES.sub(" ", t).strip()
    t = _SPACE_BEFORE_PUNCT.sub(r"\1", t)
    t = _PUNCT_BEFORE_LETTER.sub(r"\1 ", t)
    if t and t[-1] not in ".?!":
        t += "."
    return t


@dataclass
class TtsTokenizer:
    """Normalized characters to ids (0 = padding, 1 = end of sequence) and back."""

    vocabulary: list[str] = field(default_factory=lambda: list(DEFAULT_TTS_VOCAB))
    pad_id: int = 0
    eos_id: int = 1
    dropped: list[str] = field(default_factory=list, repr=False)  # characters the last encode dropped

    def __post_init__(self) -> None:
        self._index = {ch: i for i, ch in enumerate(self.vocabulary) if i not in (self.pad_id, self.eos_id)}

    def unknown_characters(self, text: str) -> list[str]:
        """Characters of the normalized `text` that the vocabulary cannot spell, in order of appearance."""
        seen: dict[str, None] = {}
        for ch in normalize_tts_text(text):
            if ch not in self._index:
                seen.setdefault(ch, None)
        return list(seen)

    def encode(self, text: str, on_unknown: str = "error") -> list[int]:
        """Normalized text to ids, ending with `eos_id`.

        on_unknown="error": raise SpeechoptError naming the characters it cannot spell (nothing dropped);
        "drop": drop them (listed in `self.dropped`). Empty text (after normalization) is an error.
        """
        if on_unknown not in ("error", "drop"):
            raise ValueError(f"on_unknown must be 'error' or 'drop', not {on_unknown!r}")
        unknown = self.unknown_characters(text)
        self.dropped = unknown
        if unknown and on_unknown == "error":
            shown = ", ".join(repr(c) + (f" (U+{ord(c):04X})" if not c.isprintable() or ord(c) > 127 else "")
                              for c in unknown)
            raise SpeechoptError(f"text has characters the TTS front end cannot spell: {shown} "
                                 f"(allowed after normalization: a-z ' space , . ? !; nothing was dropped)")
        ids = [self._index[ch] for ch in normalize_tts_text(text) if ch in self._index]
        if not ids or all(self.vocabulary[i] in PAUSE_TOKENS + [" "] for i in ids):
            raise SpeechoptError(f"text {text!r} has nothing to speak after normalization")
        return ids + [self.eos_id]

    def decode(self, ids) -> str:
        return "".join(self.vocabulary[int(i)] for i in ids if int(i) not in (self.pad_id, self.eos_id))

    def to_dict(self) -> dict:
        return {"type": "tts_char", "vocabulary": list(self.vocabulary), "pad_id": self.pad_id,
                "eos_id": self.eos_id, "normalization": NORMALIZATION}

    @classmethod
    def from_dict(cls, d: dict) -> "TtsTokenizer":
        if d.get("type", "tts_char") != "tts_char":
            raise SpeechoptError(f"not a TTS character tokenizer (type {d.get('type')!r})")
        return cls(vocabulary=list(d["vocabulary"]), pad_id=int(d["pad_id"]), eos_id=int(d["eos_id"]))

    def __len__(self) -> int:
        return len(self.vocabulary)
