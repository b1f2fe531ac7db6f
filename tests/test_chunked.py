"""Chunked (streaming) ASR inference: the chunks reassemble to the whole-utterance output when every window
sees the whole utterance, the output frames line up with the subsampling, and the evaluation reports the
WER cost and the time per window."""

from __future__ import annotations

import numpy as np
import pytest

from speechopt.errors import SpeechoptError


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("arch", ["separable-ctc", "cnn-ctc"])
def test_unbounded_context_reassembles_the_whole_utterance(tiny_models, tiny_corpus, arch):
    from dataclasses import replace

    from speechopt.artifact import load_artifact
    from speechopt.audio.features import Frontend
    from speechopt.tasks import get_task
    from speechopt.tasks.asr.chunked import ChunkSettings, chunked_log_probs
    from speechopt.tasks.asr.data import frontend_config

    art = load_artifact(tiny_models[arch])
    task = get_task("asr")
    data = task.load_data(art, tiny_corpus, max_items=2)
    config = frontend_config(art)
    raw = Frontend(replace(config, normalize="none"))
    hop = config.hop_length / config.sample_rate
    with task.driver(art, threads=1) as d:
        whole = task.run(d, data, progress=False)
        for audio, ref in zip(data.audios, whole):
            feats, frames = raw.from_arrays([audio])
            x = feats[0, : int(frames[0])].numpy()
            # chunks of 320 ms, but every window reaching the whole utterance on both sides
            lp, calls = chunked_log_probs(d, x, ChunkSettings(320, 1e6, 1e6), hop)
            assert lp.shape == ref.shape and len(calls) == -(-len(x) // 32)
            np.testing.assert_allclose(lp, ref, atol=1e-4)
            short, _ = chunked_log_probs(d, x, ChunkSettings(320, 200, 0), hop)  # limited context: same frames
            assert short.shape == ref.shape and not np.allclose(short, ref, atol=1e-4)


def test_chunk_settings_align_to_the_subsampling():
    from speechopt.tasks.asr.chunked import ChunkSettings

    assert ChunkSettings(320, 2000, 160).frames(0.01) == (32, 200, 16)
    assert ChunkSettings(340, 15, 0).frames(0.01) == (34, 2, 0)
    with pytest.raises(SpeechoptError):
        ChunkSettings(5, 0, 0).frames(0.01)


@pytest.mark.usefixtures("one_thread")
def test_evaluate_chunked_reports_the_cost_and_the_window_time(tiny_models, tiny_corpus):
    from speechopt.artifact import load_artifact
    from speechopt.tasks.asr.chunked import ChunkSettings, evaluate_chunked

    r = evaluate_chunked(load_artifact(tiny_models["separable-ctc"]), tiny_corpus, ChunkSettings(320, 1000, 80),
                         max_items=3)
    assert r["utterances"] == 3 and r["frames"] == {"chunk": 32, "left": 100, "right": 8, "hop_ms": 10.0}
    assert r["wer_cost"] == pytest.approx(r["chunked"]["wer"] - r["whole"]["wer"])
    assert r["window_ms"]["p50"] > 0 and r["window_ms"]["calls"] >= 3 and r["algorithmic_latency_ms"] == 400.0


def test_eval_chunk_ms_prints_the_cost_and_refuses_tts(tiny_models, tiny_corpus, tmp_path):
    import json

    from typer.testing import CliRunner

    from speechopt.cli import app

    from conftest import one_error_line

    r = CliRunner().invoke(app, ["eval", str(tiny_models["separable-ctc"]), "--data", str(tiny_corpus),
                                 "--chunk-ms", "320", "--right-ms", "80", "--max-utterances", "2", "--threads", "1",
                                 "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    assert "chunked WER" in r.output and "400 ms latency" in r.output
    assert json.loads((tmp_path / "r.json").read_text())["frames"]["right"] == 8
    bad = CliRunner().invoke(app, ["eval", "zoo:fastspeech", "--chunk-ms", "320"])
    assert "chunked inference is for ASR artifacts" in one_error_line(bad)
