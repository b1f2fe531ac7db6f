import numpy as np
import pytest

from speechopt.decode import ctc_greedy
from speechopt.metrics import error_rates
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


def test_error_rates():
    r = error_rates(["the cat sat", "a dog"], ["the cat sat", "a cat"])
    assert r["wer"] == pytest.approx(1 / 5)
    assert r["cer"] == pytest.approx(3 / 16)  # "a dog" vs "a cat": 3 of 5 chars; 11 + 5 chars in all
    assert r["utterances"] == 2
    # normalization applies to both sides
    assert error_rates(["Hello, World"], ["hello world"])["wer"] == 0.0
