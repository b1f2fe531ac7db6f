"""The TTS path a user types, on a tiny corpus and a tiny Tacotron 2: data synth --tts -> train tts ->
synth and eval on the artifact (the figures are meaningless after 2 steps; the commands must work)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from speechopt.cli import app

TINY = ["embedding_dim=16", "encoder_conv_channels=16", "encoder_conv_layers=2", "encoder_dim=16",
        "attention_rnn_dim=24", "decoder_rnn_dim=24", "prenet_dims=[16,16]", "attention_dim=8",
        "location_filters=4", "location_kernel=7", "postnet_channels=16", "postnet_layers=2"]


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.usefixtures("one_thread")
def test_synthesize_a_corpus_train_and_speak(tmp_path):
    r = run("data", "synth", "--tts", "--num", "6", "--seed", "5", "-o", tmp_path / "corpus")
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (tmp_path / "corpus" / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(r["voice"] == "en-us" and r["phoneme_ms"] for r in rows)

    config = [x for c in TINY for x in ("--config", c)]
    r = run("train", "tts", "--data", tmp_path / "corpus", "--val-data", tmp_path / "corpus", "-o", tmp_path / "t2",
            "--max-steps", "2", "--batch-size", "3", "--val-sentences", "4", *config)
    assert r.exit_code == 0, r.output
    assert "graphs encoder, decoder_step, postnet" in r.stdout
    progress = json.loads((tmp_path / "t2.train-run" / "train-state" / "progress.json").read_text())
    assert progress["history"][-1]["val_infer"] == 4  # free-running validation on the sentences asked for

    r = run("synth", tmp_path / "t2", "--text", "the cat sat.", "-o", tmp_path / "cat.wav", "--max-steps", "20")
    assert r.exit_code == 0, r.output
    import soundfile as sf

    audio, rate = sf.read(tmp_path / "cat.wav")
    assert rate == 16000 and len(audio) > 0

    r = run("eval", tmp_path / "t2", "--data", tmp_path / "corpus", "--max-utterances", "2", "--threads", "1")
    assert r.exit_code == 0, r.output
    assert "(pytorch): round-trip WER" in r.stdout and "gate fired" in r.stdout

    r = run("train", "tts", "--data", tmp_path / "corpus", "--val-data", tmp_path / "corpus", "-o", tmp_path / "t2",
            "--max-steps", "2")
    assert r.exit_code == 1 and "already exists" in r.stderr


def test_wavenet_refuses_the_acoustic_models_options(tmp_path):
    """A vocoder run has no text front end and no decoder to validate free-running: those options are refused
    before anything is written, not silently ignored."""
    for extra, named in ((["--val-sentences", "100"], "--val-sentences"), (["--feedback", "0.5"], "--feedback"),
                         (["--frontend", "phonemes", "--select-on", "roundtrip"], "--frontend, --select-on"),
                         (["--init-from", "zoo:tacotron2"], "--init-from")):
        r = run("train", "tts", "--arch", "wavenet", "--data", tmp_path, "--val-data", tmp_path,
                "-o", tmp_path / "wn", "--max-steps", "1", *extra)
        assert r.exit_code == 1 and named in r.stderr and "Traceback" not in r.output, r.output
        assert not (tmp_path / "wn").exists() and not (tmp_path / "wn.train-run").exists()
