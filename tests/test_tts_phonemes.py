"""The espeak phoneme front end: tokenizer, exact durations, the attention prior, training and synthesis."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speechopt.errors import SpeechoptError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from speechopt.data.tts_corpus import TtsSynthSettings, synth_tts_corpus

    out = tmp_path_factory.mktemp("tts-ph") / "c"
    synth_tts_corpus(out, TtsSynthSettings(num=8, seed=7, max_clauses=2, max_clause_words=3))
    return out


def _rows(corpus):
    from speechopt.data.tts_corpus import read_tts_manifest

    return read_tts_manifest(corpus)


def test_phonemize_gives_the_corpus_phonemes(corpus):
    """Synthesis-time phonemes are exactly what the corpus recorded for the same text and voice."""
    from speechopt.tts_phonemes import PhonemeTokenizer, phonemize

    rows = _rows(corpus)
    tok = PhonemeTokenizer.build(rows)
    for r in rows:
        assert list(phonemize(r["text"], ("en-us", 175, 50, 50))) == r["phonemes"]
        assert tok.encode(r["text"]) == tok.encode(r["text"], phonemes=r["phonemes"])


def test_tokenizer_ids_final_mark_and_round_trip(corpus):
    from speechopt.tts_phonemes import FINAL_MARKS, PhonemeTokenizer, tokenizer_from_dict

    rows = _rows(corpus)
    tok = PhonemeTokenizer.build(rows)
    assert tok.vocabulary[:2] == ["<pad>", "<eos>"] and tok.vocabulary[-3:] == list(FINAL_MARKS.values())
    text = rows[0]["text"]
    ids = tok.encode(text, phonemes=rows[0]["phonemes"])
    assert ids[-1] == tok.eos_id and 0 not in ids
    assert len(ids) == len(rows[0]["phonemes"]) + 2  # phonemes, the final mark, the end token
    assert tok.decode(ids).split() == rows[0]["phonemes"] + [FINAL_MARKS[text[-1]]]
    # a question differs from the statement only by its final mark
    ph = rows[0]["phonemes"]
    q, s = tok.encode("key boat?", phonemes=ph), tok.encode("key boat.", phonemes=ph)
    assert q[:-2] == s[:-2] and q[-2] != s[-2]
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.vocabulary == tok.vocabulary and again.voice == tok.voice
    assert tokenizer_from_dict({"type": "tts_char", **{k: v for k, v in again.to_dict().items() if k != "type"}})


def test_unknown_phoneme_and_empty_text_are_one_line_errors(corpus):
    from speechopt.tts_phonemes import PhonemeTokenizer

    tok = PhonemeTokenizer.build(_rows(corpus))
    with pytest.raises(SpeechoptError, match="not in this model's vocabulary"):
        tok.encode("x.", phonemes=["Q!"])
    assert tok.encode("x.", phonemes=["'" + tok.vocabulary[2].lstrip("',")])  # stress mark dropped if unknown
    with pytest.raises(SpeechoptError, match="nothing to speak"):
        tok.encode(" . ")


def test_token_frames_are_the_phoneme_durations(corpus):
    from speechopt.audio.io import load_audio
    from speechopt.audio.mel import MelConfig, MelExtractor
    from speechopt.tts_phonemes import token_frames

    cfg = MelConfig()
    for r in _rows(corpus):
        frames = MelExtractor(cfg)(load_audio(r["audio_filepath"], cfg.sample_rate)).shape[0]
        d = token_frames(r, frames, cfg.hop_length, cfg.sample_rate)
        assert len(d) == len(r["phonemes"]) + 2 and d[-2:] == [0, 0] and sum(d) == frames
        # each phoneme's frames follow its milliseconds (cumulative rounding: within one frame)
        ends = np.cumsum(d[:-2]) * cfg.hop_length * 1000 / cfg.sample_rate
        assert np.all(np.abs(ends[:-1] - np.cumsum(r["phoneme_ms"])[:-1]) <= 1000 * cfg.hop_length / cfg.sample_rate)


def test_prior_centers_follow_the_phonemes():
    from speechopt.data.tts_dataset import phoneme_prior_centers

    c = phoneme_prior_centers([100.0, 300.0, 100.0], num_steps=20, step_ms=25.0, num_tokens=5)
    assert np.all(np.diff(c) >= 0) and c[0] < 1 and c[-1] <= 4
    t = (np.arange(20) + 0.5) * 25.0
    assert np.all(c[(t > 100) & (t < 400)] >= 1) and np.all(c[(t > 100) & (t < 400)] < 2)  # the long phoneme


def test_fastspeech_phoneme_training_and_synthesis(corpus, tmp_path, one_thread):
    """A phoneme FastSpeech trains with exact durations, records its tokenizer, and synthesizes new text."""
    from typer.testing import CliRunner

    from speechopt.artifact import load_artifact
    from speechopt.cli import app
    from speechopt.tts_phonemes import PhonemeTokenizer, token_frames
    from speechopt.train_fastspeech import FastSpeechDataset
    from speechopt.audio.mel import MelConfig

    rows = _rows(corpus)
    tok = PhonemeTokenizer.build(rows)
    ds = FastSpeechDataset(corpus, MelConfig(), tok, log=lambda *_: None)
    assert ds.uniform == 0
    for r, d, frames in zip(rows, ds.durations, ds.frames):
        assert d.tolist() == token_frames(r, frames, 200, 16000)
    out = tmp_path / "fs"
    res = CliRunner().invoke(app, ["train", "tts", "--arch", "fastspeech", "--frontend", "phonemes", "--data",
                                   str(corpus), "--val-data", str(corpus), "-o", str(out), "--max-steps", "2",
                                   "--config", "d_model=16", "--config", "ffn_dim=16", "--config",
                                   "predictor_channels=8"])
    assert res.exit_code == 0, res.output
    m = load_artifact(out).manifest
    assert m["tokenizer"]["type"] == "tts_phoneme" and m["tokenizer"]["voice"]["name"] == "en-us"
    assert m["architecture"]["config"]["vocab_size"] == len(tok)
    res = CliRunner().invoke(app, ["synth", str(out), "--text", rows[0]["text"], "-o", str(tmp_path / "a.wav"),
                                   "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["results"][0]["audio_seconds"] > 0
    res = CliRunner().invoke(app, ["train", "tts", "--frontend", "letters", "--data", str(corpus), "--val-data",
                                   str(corpus), "-o", str(tmp_path / "x"), "--max-steps", "1"])
    assert res.exit_code == 1 and "unknown TTS front end" in res.output


def test_silent_tail_tokens_need_not_be_reached(corpus):
    """A duration model gives espeak's silent last pause, the final mark and EOS zero frames: the alignment
    check asks the path to reach the last spoken token instead of the last token."""
    from speechopt.models.tts.alignment import alignment_health
    from speechopt.tasks.tts.scoring import spoken_lengths
    from speechopt.tts_phonemes import PhonemeTokenizer
    from speechopt.tts_text import TtsTokenizer

    durations = [2, 3, 2, 4, 0, 0, 0]  # ... 'd', '_:' spoken; '_', '<.>', EOS silent
    hard = np.repeat(np.eye(len(durations)), durations, axis=0)
    assert not alignment_health(hard, len(durations))["monotonic"]
    assert alignment_health(hard, len(durations), spoken_len=4)["monotonic"]
    rows = _rows(corpus)
    tok = PhonemeTokenizer.build(rows)

    class Data:
        items = [{"tokens": np.array([tok.encode(r["text"], phonemes=r["phonemes"])])} for r in rows]
        lengths = [it["tokens"].shape[1] for it in items]

    spoken = spoken_lengths(tok, Data)
    for n, length, r in zip(spoken, Data.lengths, rows):
        assert n < length and not r["phonemes"][n - 1].startswith("_")
    assert spoken_lengths(TtsTokenizer(), Data) == Data.lengths  # characters: unchanged


def test_characters_outside_the_set_are_named_spelled_or_dropped(tmp_path):
    """The phoneme front end hands every character to espeak-ng; synth says which were outside a-z ' , . ? !
    and whether espeak-ng spoke them ("%" as "percent") or gave them no phoneme (a bullet), in the warning
    and in the JSON."""
    from typer.testing import CliRunner

    from speechopt.artifact import load_artifact
    from speechopt.cli import app
    from speechopt.models.tts.artifact import tokenizer_of
    from speechopt.zoo import resolve

    tok = tokenizer_of(load_artifact(resolve("zoo:fastspeech")))
    assert tok.outside_characters("Hello world, it's 5%.") == {"spelled": ["5", "%"], "dropped": []}
    assert tok.outside_characters("a \u2022 b \u2022 c") == {"spelled": [], "dropped": ["\u2022"]}

    r = CliRunner().invoke(app, ["synth", "zoo:fastspeech", "--text", "one \u2022 two %", "-o",
                                 str(tmp_path / "a.wav"), "--json"])
    assert r.exit_code == 0, r.output
    assert "'%' (U+0025); espeak-ng reads them aloud" in r.stderr
    assert "'\u2022' (U+2022); espeak-ng speaks nothing for them: dropped" in r.stderr
    result = json.loads(r.stdout)["results"][0]
    assert result["outside_characters"] == {"spelled": ["%"], "dropped": ["\u2022"]}
