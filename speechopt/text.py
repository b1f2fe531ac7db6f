"""Text normalization and the character tokenizer shared by ASR models, decoding and metrics."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The stated normalization for WER/CER: lower case, keep letters, digits, apostrophes and spaces,
# collapse white space. Both reference and hypothesis go through it.
_DROP = re.compile(r"[^a-z0-9' ]+")
_SPACES = re.compile(r"\s+")

NORMALIZATION = "lowercase; drop characters other than a-z 0-9 apostrophe; collapse whitespace"


def normalize_text(text: str) -> str:
    text = _DROP.sub(" ", text.lower())
    return _SPACES.sub(" ", text).strip()


DEFAULT_VOCAB = ["<blank>", " ", "'"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]


@dataclass
class CharTokenizer:
    """Characters to ids and back; id `blank_id` is the CTC blank."""

    vocabulary: list[str] = field(default_factory=lambda: list(DEFAULT_VOCAB))
    blank_id: int = 0

    def __post_init__(self) -> None:
        self._index = {ch: i for i, ch in enumerate(self.vocabulary) if i != self.blank_id}

    def encode(self, text: str) -> list[int]:
        """Normalized text to ids; characters outside the vocabulary are dropped."""
        return [self._index[ch] for ch in normalize_text(text) if ch in self._index]

    def decode(self, ids) -> str:
        return "".join(self.vocabulary[i] for i in ids if i != self.blank_id)

    def to_dict(self) -> dict:
        return {"type": "char", "vocabulary": list(self.vocabulary), "blank_id": self.blank_id}

    @classmethod
    def from_dict(cls, d: dict) -> "CharTokenizer":
        return cls(vocabulary=list(d["vocabulary"]), blank_id=int(d["blank_id"]))

    def __len__(self) -> int:
        return len(self.vocabulary)
