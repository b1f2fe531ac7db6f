"""Festival as the ASR corpora's second synthesizer. These tests need the Debian packages (`make festival`);
they skip without them, except where `make test` installed them (SPEECHOPT_REQUIRE_FESTIVAL=1: CI), where a
missing Festival fails instead of hiding."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from speechopt.errors import SpeechoptError

HAVE = shutil.which("text2wave") is not None
if not HAVE and os.environ.get("SPEECHOPT_REQUIRE_FESTIVAL") == "1":
    raise RuntimeError("SPEECHOPT_REQUIRE_FESTIVAL=1 but Festival is not installed")
needs_festival = pytest.mark.skipif(not HAVE, reason="Festival is not installed (make festival)")


@needs_festival
def test_voices_speak_deterministically_and_batches_equal_single_calls():
    from speechopt.data.festival import VOICES, FestivalVoice, installed_voices, synthesize, synthesize_many

    assert installed_voices() == list(VOICES)
    items = [("bank keep try", FestivalVoice(v, stretch=1.1, f0_mean=120)) for v in VOICES]
    batch = synthesize_many(items)
    for (text, voice), audio in zip(items, batch):
        assert audio.dtype == np.float32 and len(audio) > 0.3 * 16000 and np.abs(audio).max() > 0.05
        assert np.array_equal(synthesize(text, voice), audio)  # one process or many: the same samples
    slow = synthesize("bank keep try", FestivalVoice("kal_diphone", stretch=1.4))
    assert len(slow) > len(synthesize("bank keep try", FestivalVoice("kal_diphone", stretch=1.0)))
    low = synthesize("bank keep try", FestivalVoice("kal_diphone", f0_mean=80))
    assert not np.array_equal(low, synthesize("bank keep try", FestivalVoice("kal_diphone", f0_mean=140)))
    with pytest.raises(SpeechoptError, match="unknown Festival voice"):
        synthesize("x", FestivalVoice("nobody"))


@needs_festival
def test_festival_and_mixed_corpora(tmp_path):
    from speechopt.data.synth import FESTIVAL_SPLITS, SynthSettings, synth_corpus

    assert not set(FESTIVAL_SPLITS["train"]) & set(FESTIVAL_SPLITS["test"])  # held-out voice
    a = synth_corpus(tmp_path / "f1", SynthSettings(num=6, seed=4, split="test", synth="festival"))
    b = synth_corpus(tmp_path / "f2", SynthSettings(num=6, seed=4, split="test", synth="festival"))
    rows = [json.loads(x) for x in a.read_text().splitlines()]
    assert all(r["voice"] == "festival:ked_diphone" and r["synth"] == "festival" for r in rows)
    assert a.read_text() == b.read_text()
    for r in rows:  # the same command, the same corpus
        assert (a.parent / r["audio_filepath"]).read_bytes() == (b.parent / r["audio_filepath"]).read_bytes()
    mix = synth_corpus(tmp_path / "m", SynthSettings(num=16, seed=1, split="train", synth="mix"))
    voices = [json.loads(x)["voice"] for x in mix.read_text().splitlines()]
    festival = [v for v in voices if v.startswith("festival:")]
    assert 0 < len(festival) < len(voices) and {v.split(":")[1] for v in festival} <= set(FESTIVAL_SPLITS["train"])


def test_a_missing_festival_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from speechopt.cli import app

    monkeypatch.setattr("speechopt.data.festival.shutil.which", lambda name: None)
    r = CliRunner().invoke(app, ["data", "synth", "-o", str(tmp_path / "c"), "--num", "3", "--synth", "mix"])
    assert r.exit_code == 1 and "apt-get install festival" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "c").exists()
    r = CliRunner().invoke(app, ["data", "synth", "-o", str(tmp_path / "c"), "--num", "3", "--synth", "flite"])
    assert r.exit_code == 1 and "unknown synthesizer 'flite'" in r.output
