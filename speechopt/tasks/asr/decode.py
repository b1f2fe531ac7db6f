"""CTC decoding, shared by every backend so that drift figures measure the model, not the decoder."""

from __future__ import annotations

import numpy as np


def ctc_greedy(log_probs: np.ndarray, lengths: np.ndarray, tokenizer) -> list[str]:
    """Best path: argmax per frame, collapse repeats, drop blanks. log_probs (B, T, V), lengths (B,)."""
    best = np.asarray(log_probs).argmax(-1)
    texts = []
    for row, n in zip(best, np.asarray(lengths)):
        row = row[: int(n)]
        keep = np.ones(len(row), dtype=bool)
        keep[1:] = row[1:] != row[:-1]
        ids = row[keep]
        texts.append(tokenizer.decode(int(i) for i in ids if i != tokenizer.blank_id).strip())
    return texts


class Lexicon:
    """A word list as a character trie: which characters may follow a partial word, and where words end."""

    def __init__(self, words, tokenizer) -> None:
        self.children: list[dict[int, int]] = [{}]
        self.is_word: list[bool] = [False]
        if " " not in tokenizer.vocabulary:
            from speechopt.errors import SpeechoptError

            raise SpeechoptError("lexicon decoding needs a tokenizer with a space (word separator) symbol")
        space = self.space = tokenizer.vocabulary.index(" ")
        for word in words:
            ids = [i for i in tokenizer.encode(word) if i != space]
            if not ids:
                continue
            node = 0
            for i in ids:
                nxt = self.children[node].get(i)
                if nxt is None:
                    nxt = len(self.children)
                    self.children[node][i] = nxt
                    self.children.append({})
                    self.is_word.append(False)
                node = nxt
            self.is_word[node] = True
        if len(self.children) == 1:
            from speechopt.errors import SpeechoptError

            raise SpeechoptError("the lexicon has no words the tokenizer can spell")

    @classmethod
    def from_file(cls, path, tokenizer) -> "Lexicon":
        from pathlib import Path

        from speechopt.errors import SpeechoptError

        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpeechoptError(f"{path}: cannot read the lexicon ({exc.__class__.__name__})") from None
        return cls([w for line in text.splitlines() if not line.startswith("#") for w in line.split()], tokenizer)


def _logaddexp(a: float, b: float) -> float:
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    m = max(a, b)
    return m + float(np.log1p(np.exp(-abs(a - b))))


def ctc_lexicon_beam(log_probs: np.ndarray, lengths: np.ndarray, tokenizer, lexicon: Lexicon, beam: int = 16,
                     prune: float = -12.0) -> list[str]:
    """CTC prefix beam search whose output may only contain words of `lexicon`.

    The acoustic model spells characters; with a known vocabulary, most of its errors are near-misses
    ("betwen", "wil") that no word list contains. Each beam entry walks the lexicon's trie: a letter may
    extend the current word only along the trie, a space may close it only at a word end. Characters
    whose log-probability at a frame is below `prune` are not tried. No language model: every word of
    the lexicon is equally likely, so homophones ("two"/"too") stay an acoustic coin toss.
    """
    blank, space = tokenizer.blank_id, lexicon.space
    out = []
    for lp, n in zip(np.asarray(log_probs, dtype=np.float64), np.asarray(lengths)):
        # prefix (tuple of ids) -> [log p ending in blank, log p ending in non-blank, trie node]
        beams: dict[tuple, list] = {(): [0.0, -np.inf, 0]}
        for t in range(int(n)):
            frame = lp[t]
            # blank is always tried: when the model insists on a letter no word allows, the beam survives on it
            candidates = {int(c) for c in np.nonzero(frame > prune)[0]} | {blank}
            nxt: dict[tuple, list] = {}

            def add(prefix, node, pb, pnb):
                entry = nxt.get(prefix)
                if entry is None:
                    nxt[prefix] = [pb, pnb, node]
                else:
                    entry[0] = _logaddexp(entry[0], pb)
                    entry[1] = _logaddexp(entry[1], pnb)

            for prefix, (pb, pnb, node) in beams.items():
                total = _logaddexp(pb, pnb)
                last = prefix[-1] if prefix else None
                for c in candidates:
                    p = frame[c]
                    if c == blank:
                        add(prefix, node, total + p, -np.inf)
                    elif c == last:
                        add(prefix, node, -np.inf, pnb + p)  # repeat collapses into the same character
                        if pb > -np.inf:  # blank in between: a doubled letter ("book")
                            child = lexicon.children[node].get(c) if c != space else None
                            if child is not None:
                                add(prefix + (c,), child, -np.inf, pb + p)
                    elif c == space:
                        if prefix and lexicon.is_word[node]:
                            add(prefix + (c,), 0, -np.inf, total + p)
                    else:
                        child = lexicon.children[node].get(c)
                        if child is not None:
                            add(prefix + (c,), child, -np.inf, total + p)
            ranked = sorted(nxt.items(), key=lambda kv: -_logaddexp(kv[1][0], kv[1][1]))
            beams = dict(ranked[:beam])
        finished = [(k, _logaddexp(v[0], v[1])) for k, v in beams.items() if v[2] == 0 or lexicon.is_word[v[2]]]
        if not finished:  # nothing spelled a whole word: fall back to the best partial prefix
            finished = [(k, _logaddexp(v[0], v[1])) for k, v in beams.items()]
        best = max(finished, key=lambda kv: kv[1])[0]
        out.append(tokenizer.decode(best).strip())
    return out


def make_decoder(name: str, tokenizer, lexicon_path=None, beam: int = 16):
    """The decoder named `name` ("greedy" or "lexicon") as `decode(log_probs, lengths) -> texts`, and a
    description of it for reports."""
    from speechopt.errors import SpeechoptError

    if name == "greedy":
        return (lambda lp, n: ctc_greedy(lp, n, tokenizer)), {"decoder": "greedy"}
    if name != "lexicon":
        raise SpeechoptError(f"unknown decoder {name!r}: choose greedy or lexicon")
    if beam < 1:
        raise SpeechoptError("--beam must be at least 1")
    if lexicon_path is None:  # the vocabulary the bundled corpus is drawn from
        from speechopt.data.synth import vocabulary

        lexicon_path, lexicon = "speechopt/data/words.txt", Lexicon(vocabulary(), tokenizer)
    else:
        lexicon = Lexicon.from_file(lexicon_path, tokenizer)
    words = sum(lexicon.is_word)
    return ((lambda lp, n: ctc_lexicon_beam(lp, n, tokenizer, lexicon, beam=beam)),
            {"decoder": "lexicon", "lexicon": str(lexicon_path), "lexicon_words": words, "beam": beam})
