import numpy as np
import pytest

from speechopt.tasks.asr.decode import Lexicon, ctc_greedy, ctc_lexicon_beam
from speechopt.errors import SpeechoptError
from speechopt.tasks.asr.metrics import error_rates
from speechopt.text import CharTokenizer, normalize_text


def test_normalize_text():
    assert normalize_text("  Hello, World!  It's  FINE.") == "hello world it's fine"
    assert normalize_text("") == ""


def test_tokenizer_round_trip_and_blank():
    tok = CharTokenizer()
    ids = tok.encode("Don't stop")
    assert tok.blank_id not in ids
    assert tok.decode(ids) == "don't stop"
    assert CharTokenizer.from_dict(tok.to_dict()).vocabulary == tok.vocabulary


def _one_hot(ids, vocab):
    lp = np.full((len(ids), vocab), -10.0, dtype=np.float32)
    lp[np.arange(len(ids)), ids] = 0.0
    return lp


def test_ctc_greedy_collapses_repeats_and_drops_blanks():
    tok = CharTokenizer()
    a, b = tok.encode("a")[0], tok.encode("b")[0]
    # a a _ a b b _ -> "aab"; frames past the length are ignored
    frames = [a, a, 0, a, b, b, 0, a, a]
    lp = _one_hot(frames, len(tok))[None]
    assert ctc_greedy(lp, np.array([7]), tok) == ["aab"]
    assert ctc_greedy(lp, np.array([9]), tok) == ["aaba"]


def _soft(frames, tok, p=0.8):
    """Frames that put probability p on the given symbol and share the rest."""
    lp = np.full((len(frames), len(tok)), np.log((1 - p) / (len(tok) - 1)), dtype=np.float32)
    lp[np.arange(len(frames)), frames] = np.log(p)
    return lp


def _spell(text, tok):
    """One frame per character with a blank between, as a CTC model emits it."""
    frames = []
    for ch in text:
        frames += [tok.vocabulary.index(ch), tok.blank_id]
    return frames


def test_lexicon_beam_snaps_a_misspelling_to_a_known_word():
    tok = CharTokenizer()
    lex = Lexicon(["cat", "sat", "mat", "book"], tok)
    lp = _soft(_spell("the cat", tok), tok)
    assert ctc_greedy(lp[None], np.array([len(lp)]), tok) == ["the cat"]
    # "cxt": greedy keeps the error; with the lexicon only known words come out
    lp = _soft(_spell("cxt sat", tok), tok, p=0.6)
    lp[2, tok.vocabulary.index("a")] = np.log(0.3)  # the model's second choice is the right letter
    assert ctc_greedy(lp[None], np.array([len(lp)]), tok) == ["cxt sat"]
    assert ctc_lexicon_beam(lp[None], np.array([len(lp)]), tok, lex) == ["cat sat"]


def test_lexicon_beam_keeps_doubled_letters_and_respects_length():
    tok = CharTokenizer()
    lex = Lexicon(["book", "bok"], tok)
    frames = _spell("book", tok)
    lp = _soft(frames + _spell(" mat", tok), tok)
    assert ctc_lexicon_beam(lp[None], np.array([len(frames)]), tok, lex) == ["book"]


def test_lexicon_refuses_an_unusable_word_list(tmp_path):
    tok = CharTokenizer()
    with pytest.raises(SpeechoptError, match="no words"):
        Lexicon(["123!", "..."], tok)
    with pytest.raises(SpeechoptError, match="cannot read"):
        Lexicon.from_file(tmp_path / "missing.txt", tok)


def test_error_rates():
    r = error_rates(["the cat sat", "a dog"], ["the cat sat", "a cat"])
    assert r["wer"] == pytest.approx(1 / 5)
    assert r["cer"] == pytest.approx(3 / 16)  # "a dog" vs "a cat": 3 of 5 chars; 11 + 5 chars in all
    assert r["utterances"] == 2
    # normalization applies to both sides
    assert error_rates(["Hello, World"], ["hello world"])["wer"] == 0.0
