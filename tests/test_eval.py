"""One inference path: `eval` works on every format through the runners and gives the bench's figures,
to the digit; `transcribe` reads audio files at any rate. Uses the bundled CRNN (real transcripts)."""

from __future__ import annotations

import numpy as np
import pytest

from speechopt.errors import SpeechoptError
from speechopt.evaluate import evaluate_artifact, transcribe_files
from speechopt.zoo import resolve

N = 12  # utterances: enough for non-trivial WER, few enough for a fast test


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def eval_data(tmp_path_factory):
    """The first N bundled evaluation utterances as a manifest of their own (the bench and eval read the same)."""
    src = resolve("zoo:eval")
    lines = src.read_text().splitlines()[:N]
    root = src.parent
    import json

    rows = [json.loads(x) for x in lines]
    for row in rows:
        row["audio_filepath"] = str(root / row["audio_filepath"])
    path = tmp_path_factory.mktemp("eval") / "manifest.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def variants(eval_data, tmp_path_factory):
    from speechopt.steps.export import export_model
    from speechopt.steps.quantize import QuantizeSettings, quantize

    root = tmp_path_factory.mktemp("variants")
    src = resolve("zoo:crnn-ctc")
    onnx = export_model(src, "onnx", root / "onnx", validation_data=eval_data, threads=1).path
    return {
        "pytorch": src,
        "torchscript": export_model(src, "torchscript", root / "ts", validation_data=eval_data, threads=1).path,
        "onnx": onnx,
        "int8": quantize(onnx, root / "int8", QuantizeSettings(method="dynamic"), validation_data=str(eval_data)).path,
    }


def test_eval_gives_the_bench_figures_on_every_format(variants, eval_data):
    from speechopt.bench.harness import BenchSettings, bench, summary_rows

    settings = BenchSettings(data=str(eval_data), batch_sizes=[1], threads=1, warmup=0, min_iters=1,
                             min_seconds=0.0)
    rows = {r["name"]: r for r in summary_rows(bench([str(p) for p in variants.values()], str(variants["pytorch"]),
                                                     settings, log=lambda m: None))}
    for fmt, path in variants.items():
        result = evaluate_artifact(path, eval_data, threads=1)
        row = rows[path.name]
        assert result["format"] == ("torchscript" if fmt == "torchscript" else
                                    "pytorch" if fmt == "pytorch" else "onnx")
        assert result["utterances"] == N
        assert result["wer"] == row["wer"] and result["cer"] == row["cer"], fmt  # exactly, not approximately
    assert rows["int8"]["wer"] != rows[variants["pytorch"].name]["wer"] or rows["int8"]["max_logit_diff"] > 1e-3


def test_eval_batches_pad_and_say_so(variants, eval_data):
    single = evaluate_artifact(variants["onnx"], eval_data, threads=1)
    batched = evaluate_artifact(variants["onnx"], eval_data, threads=1, batch_size=4)
    assert single["batch_size"] == 1 and batched["batch_size"] == 4
    assert 0.0 <= batched["wer"] <= 1.0
    with pytest.raises(SpeechoptError, match="--batch-size must be at least 1"):
        evaluate_artifact(variants["onnx"], eval_data, batch_size=0)


def test_eval_can_keep_every_transcript_for_paired_comparisons(variants, eval_data):
    from speechopt.data.manifest import read_manifest
    from speechopt.tasks.asr.metrics import error_rates

    result = evaluate_artifact(variants["pytorch"], eval_data, threads=1, keep_hypotheses=True)
    assert len(result["hypotheses"]) == N
    refs = [u.text for u in read_manifest(eval_data)]
    assert error_rates(refs, result["hypotheses"])["wer"] == result["wer"]  # the same transcripts were scored
    assert "hypotheses" not in evaluate_artifact(variants["pytorch"], eval_data, threads=1)


def test_transcribe_reads_any_rate_and_stereo(variants, eval_data, tmp_path):
    import soundfile as sf

    from speechopt.audio.io import load_audio
    from speechopt.data.manifest import read_manifest
    from speechopt.audio.io import resample

    utt = read_manifest(eval_data)[0]
    audio = load_audio(utt.audio_filepath, 16000)
    stereo_44k = np.stack([resample(audio, 16000, 44100)] * 2, axis=1)
    sf.write(tmp_path / "a.flac", stereo_44k, 44100)
    result = transcribe_files(variants["int8"], [utt.audio_filepath, tmp_path / "a.flac"], threads=1)
    texts = [r["text"] for r in result["results"]]
    assert texts[0] and texts[0] == texts[1]  # the same words, whatever the rate and channels
    assert all(r["seconds"] > 0 and r["audio_seconds"] > 0 for r in result["results"])
    assert result["rtfx"] > 0 and result["decoder"] == "greedy"
    with pytest.raises(SpeechoptError, match="not a readable audio file"):
        transcribe_files(variants["onnx"], [eval_data])


def test_cli_eval_and_transcribe_on_an_exported_model(variants, eval_data, tmp_path):
    import json

    from typer.testing import CliRunner

    from speechopt.cli import app
    from speechopt.data.manifest import read_manifest

    runner = CliRunner()
    r = runner.invoke(app, ["eval", str(variants["onnx"]), "--data", str(eval_data), "--threads", "1",
                            "--json", str(tmp_path / "e.json")])
    assert r.exit_code == 0, r.output
    assert "(onnx): WER" in r.stdout and "expected a pytorch artifact" not in r.output
    assert json.loads((tmp_path / "e.json").read_text())["runner"]["backend"] == "onnxruntime"
    wav = read_manifest(eval_data)[1].audio_filepath
    r = runner.invoke(app, ["transcribe", str(variants["torchscript"]), str(wav), "--threads", "1", "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["format"] == "torchscript" and result["results"][0]["file"] == str(wav)
    r = runner.invoke(app, ["transcribe", str(variants["onnx"]), str(tmp_path / "missing.wav")])
    assert r.exit_code == 1 and "audio file does not exist" in r.stderr and "Traceback" not in r.output
