"""The command line end to end, on data and models made in the test session."""

import json
import shutil
import subprocess
import sys

import pytest
from conftest import one_error_line
from typer.testing import CliRunner

from speechopt.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_data_synth(tmp_path):
    r = run("data", "synth", "--out", tmp_path / "c", "--num", 3, "--seed", 1, "--format", "flac")
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "c" / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["audio_filepath"].endswith(".flac")
    # refuses to overwrite, then a bad split
    assert "already exists" in one_error_line(run("data", "synth", "--out", tmp_path / "c", "--num", 3))
    assert "unknown split" in one_error_line(run("data", "synth", "--out", tmp_path / "d", "--num", 3, "--split", "dev"))
    assert not (tmp_path / "d").exists()


def test_train_then_eval_json(tmp_path, tiny_corpus):
    r = run("train", "asr", "--arch", "lstm-ctc", "--data", tiny_corpus, "--val-data", tiny_corpus,
            "--out", tmp_path / "m", "--epochs", 1, "--config", "hidden=16", "--config", "layers=1",
            "--optimizer", "sgd", "--threads", 1)
    assert r.exit_code == 0, r.output
    assert "validation WER" in r.stdout
    r = run("eval", tmp_path / "m", "--data", tiny_corpus, "--json", tmp_path / "e.json")
    assert r.exit_code == 0, r.output
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["utterances"] == 12 and 0.0 <= result["cer"] and "normalization" in result
    assert f"WER {result['wer']:.2%}" in r.stdout
    r = run("eval", tmp_path / "m", "--data", tiny_corpus, "--decoder", "lexicon", "--beam", 4, "--json", tmp_path / "l.json")
    assert r.exit_code == 0, r.output
    lex = json.loads((tmp_path / "l.json").read_text())
    assert lex["decoder"] == "lexicon" and lex["beam"] == 4 and lex["lexicon_words"] > 500
    assert "lexicon of" in r.stdout


def test_eval_errors_are_one_line(tmp_path, tiny_models, tiny_corpus):
    assert "artifact not found" in one_error_line(run("eval", tmp_path / "missing", "--data", tiny_corpus))
    broken = tmp_path / "broken"
    shutil.copytree(tiny_models["cnn-ctc"], broken)
    (broken / "model.safetensors").write_bytes(b"not a checkpoint")
    assert "checksum mismatch" in one_error_line(run("eval", broken, "--data", tiny_corpus))
    # a manifest that names a file which is not audio
    (tmp_path / "x.wav").write_text("hello")
    (tmp_path / "m.jsonl").write_text(json.dumps({"audio_filepath": "x.wav", "duration": 1, "text": "a"}) + "\n")
    assert "not a readable audio file" in one_error_line(run("eval", tiny_models["cnn-ctc"], "--data", tmp_path / "m.jsonl"))
    (tmp_path / "bad.jsonl").write_text("{nope\n")
    assert "bad.jsonl:1" in one_error_line(run("eval", tiny_models["cnn-ctc"], "--data", tmp_path / "bad.jsonl"))
    assert "no bundled model" in one_error_line(run("eval", "zoo:nothing-here", "--data", tiny_corpus))
    model = tiny_models["cnn-ctc"]
    assert "unknown decoder" in one_error_line(run("eval", model, "--data", tiny_corpus, "--decoder", "lm"))
    assert "cannot read the lexicon" in one_error_line(
        run("eval", model, "--data", tiny_corpus, "--decoder", "lexicon", "--lexicon", tmp_path / "none.txt"))


def test_debug_shows_traceback(tmp_path, tiny_corpus):
    r = run("--debug", "eval", tmp_path / "missing", "--data", tiny_corpus)
    assert r.exit_code != 0 and r.exception is not None and type(r.exception).__name__ == "SpeechoptError"


def test_zoo_list_json():
    r = run("zoo", "list", "--json")
    assert r.exit_code == 0, r.output
    entries = json.loads(r.stdout)
    data = [e for e in entries if e["kind"] == "dataset"]
    assert any(e["name"] == "eval" and e["utterances"] >= 300 for e in data)


def test_compression_commands(tmp_path, tiny_models, tiny_corpus):
    src = tiny_models["crnn-ctc"]
    r = run("prune", src, "--amount", 0.5, "--structured", "-o", tmp_path / "p")
    assert r.exit_code == 0, r.output
    assert '"kind": "structured"' in r.stdout
    r = run("prune", src, "--amount", 0.3, "--structured", "--finetune-steps", 2, "--data", tiny_corpus,
            "--val-data", tiny_corpus, "--threads", 1, "-o", tmp_path / "pf")
    assert r.exit_code == 0, r.output
    from speechopt.artifact import load_artifact

    tuned = load_artifact(tmp_path / "pf")
    assert tuned.manifest["lineage"]["step"] == "finetune" and tuned.architecture["config"]["hidden"] == 17
    assert "amount must be in" in one_error_line(run("prune", src, "--amount", 1.2, "-o", tmp_path / "bad"))
    assert "needs --data" in one_error_line(run("prune", src, "--amount", 0.2, "--finetune-steps", 5, "-o", tmp_path / "b2"))
    assert "--val-data (a held-out one)" in one_error_line(
        run("prune", src, "--amount", 0.2, "--finetune-steps", 5, "--data", tiny_corpus, "-o", tmp_path / "b2"))
    r = run("quantize", src, "--method", "dynamic", "--validation-data", tiny_corpus, "-o", tmp_path / "q")
    assert r.exit_code == 0, r.output
    assert "torchscript" in r.stdout
    assert "works on onnx artifacts" in one_error_line(run("quantize", src, "--method", "fp16", "-o", tmp_path / "q2"))
    r = run("distill", src, "--student-arch", "crnn-ctc", "--student-config", "hidden=8", "--student-config", "layers=1",
            "--student-config", "proj=16", "--student-config", "conv_channels=4", "--data", tiny_corpus,
            "--val-data", tiny_corpus, "--max-steps", 2, "--threads", 1, "-o", tmp_path / "s")
    assert r.exit_code == 0, r.output
    assert load_artifact(tmp_path / "s").manifest["lineage"]["step"] == "distill"
    assert not any(p.name.startswith((".", "bad", "b2", "q2")) for p in tmp_path.iterdir())


# ------------------------------------------------------------------------------- global behaviour
def test_version(tmp_path):
    from importlib.metadata import version

    r = run("--version")
    assert r.exit_code == 0 and r.stdout == f"speechopt {version('speechopt')}\n"
    out = subprocess.run([sys.executable, "-m", "speechopt.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("speechopt ")


def test_debug_after_the_subcommand_lasts_one_invocation(tmp_path, tiny_corpus):
    r = run("eval", tmp_path / "missing", "--data", tiny_corpus, "--debug")
    assert r.exit_code == 1 and type(r.exception).__name__ == "SpeechoptError"
    # the next invocation in the same process is back to one line
    assert "artifact not found" in one_error_line(run("eval", tmp_path / "missing", "--data", tiny_corpus))


def _help(*args):
    r = CliRunner(env={"COLUMNS": "80"}).invoke(app, [*args, "--help"])
    assert r.exit_code == 0, r.output
    return r.stdout


def test_help_is_readable_at_80_columns():
    from test_dependencies import _commands

    for path in _commands(app):
        text = _help(*path)
        assert "…" not in text and "<bool>" not in text, (path, text)
        assert max(len(line) for line in text.splitlines()) <= 80, (path, text)
    quantize = _help("quantize")
    for flag in ("--calibration-data", "--calibration-size", "--calibrate-method", "--validation-data",
                 "--per-channel / --no-per-channel", "--debug", "-v, --verbose"):
        assert flag in quantize
    top = _help()
    assert "Exit codes:" in top and all(f"  {code} " in top for code in ("0", "1", "2", "3", "130"))


def test_exit_codes(tmp_path, monkeypatch):
    assert run("zoo", "list").exit_code == 0
    assert "artifact not found" in one_error_line(run("eval", tmp_path / "missing"), code=1)
    for args, message in ((["eval", "x", "--no-such-option"], "No such option"),
                          (["export", "x", "--to", "onnx"], "Missing option"),
                          (["eval", "x", "--batch-size", "many"], "Invalid value for '--batch-size'"),
                          (["eval", "x", "--batch-size", "0"], "Invalid value for '--batch-size'"),
                          (["bench", "x", "--batch-sizes", "1,a"], "Invalid value for '--batch-sizes'"),
                          (["train", "asr", "--config", "hidden"], "Invalid value for '--config'")):
        r = run(*args)
        assert r.exit_code == 2 and message in r.stderr and r.stderr.startswith("Usage:"), (args, r.output)

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr("speechopt.zoo.list_zoo", interrupted)
    r = run("zoo", "list")
    assert r.exit_code == 130 and r.stderr.strip() == "interrupted"


def test_every_threads_option_takes_only_positive_integers(tmp_path):
    from typer.main import get_command

    def walk(cmd, path=()):
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, path + (name,))
        yield path, cmd

    found = []
    for path, cmd in walk(get_command(app)):
        for p in cmd.params:
            if p.name == "threads" and path != ("bench",):  # bench takes a list: checked by its callback
                assert p.min == 1, path
                found.append(path)
    assert len(found) >= 6
    for value in ("0", "-2", "1,0", "2,x", ","):  # refused before anything is loaded or measured
        r = run("bench", tmp_path / "missing", "--threads", value)
        assert r.exit_code == 2 and "Invalid value for '--threads'" in r.stderr and "measuring" not in r.stderr
    r = run("bench", tmp_path / "missing", "--threads", "1,1")
    assert r.exit_code == 1 and "thread counts repeat" in r.stderr


def test_eval_on_an_audio_file_is_one_line(tiny_models, tiny_corpus):
    audio = sorted((tiny_corpus.parent / "audio").iterdir())[0]
    line = one_error_line(run("eval", tiny_models["cnn-ctc"], "--data", audio))
    assert "audio, not a manifest" in line and "speechopt transcribe" in line


@pytest.fixture(scope="module")
def tiny_onnx(tiny_models, tiny_corpus, tmp_path_factory):
    from speechopt.steps.export import export_model

    return export_model(tiny_models["crnn-ctc"], "onnx", tmp_path_factory.mktemp("onnx") / "m",
                        validation_data=tiny_corpus).path


THIRD_PARTY_LINES = ("Performing symbolic shape inference", "Quantization parameters for tensor")


def test_third_party_log_lines_only_with_verbose(tiny_onnx, tiny_corpus, tmp_path):
    # the real entry point, in a fresh process: no log configuration left over from other tests
    out = subprocess.run([sys.executable, "-m", "speechopt.cli", "quantize", str(tiny_onnx), "--validation-data",
                          str(tiny_corpus), "-o", str(tmp_path / "q")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("wrote ")
    assert not any(line in out.stdout + out.stderr for line in THIRD_PARTY_LINES), out.stderr
    r = run("quantize", tiny_onnx, "--validation-data", tiny_corpus, "-o", tmp_path / "q2", "-v")
    assert r.exit_code == 0, r.output
    assert "Quantization parameters for tensor" in r.stderr


def test_own_info_lines_stay_and_others_need_verbose(capsys):
    import logging

    from speechopt.cli.logs import configure_logging

    configure_logging()
    logging.getLogger("speechopt.audio.io").info("resampled from 8000 Hz")
    logging.getLogger("matplotlib.font_manager").info("generated new fontManager")
    logging.info("Quantization parameters for tensor x not specified")  # ORT logs on the root logger
    err = capsys.readouterr().err
    assert "resampled" in err and "fontManager" not in err and "Quantization" not in err
    configure_logging(verbose=True)
    logging.getLogger("matplotlib.font_manager").info("generated new fontManager")
    assert "fontManager" in capsys.readouterr().err
    configure_logging()
