"""The scripts in benchmarks/ run end to end on tiny models (their figures are not checked: speed is
measured in benchmarks/, never in tests)."""

import json
import runpy
import sys
from pathlib import Path

import pytest

from speechopt.steps.export import export_model

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.usefixtures("one_thread")
def test_batch1_profile_splits_time_by_module_and_operator(tmp_path, tiny_models, tiny_corpus, monkeypatch):
    onnx = export_model(tiny_models["crnn-ctc"], "onnx", tmp_path / "onnx", validation_data=tiny_corpus)
    out = tmp_path / "profile"
    monkeypatch.setattr(sys, "argv", ["batch1_profile.py", "--model", str(tiny_models["crnn-ctc"]), "--onnx",
                                      str(onnx.path), "--data", str(tiny_corpus), "--utterances", "3",
                                      "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "batch1_profile.py"), run_name="__main__")
    results = json.loads(out.with_suffix(".json").read_text())["results"]
    eager, ort = (results[k] for k in sorted(results))  # "eager ..." sorts before "ort ..."
    assert {"conv", "proj", "rnn", "head", "rest"} == set(eager["parts_ms"])
    assert eager["parts_ms"]["rnn"] > 0 and eager["ms_per_utt"] > 0
    assert "LSTM" in ort["parts_ms"] and all(v >= 0 for v in ort["parts_ms"].values())
    assert "| rnn |" in out.with_suffix(".md").read_text()


@pytest.mark.usefixtures("one_thread")
def test_cpu_variants_writes_a_table_of_every_variant(tmp_path, tiny_models, tiny_corpus, monkeypatch):
    out = tmp_path / "study"
    monkeypatch.setattr(sys, "argv", ["cpu_variants.py", "--model", str(tiny_models["crnn-ctc"]), "--data",
                                      str(tiny_corpus), "--variants", "onnx,onnx-int8-static",
                                      "--calibration-data", str(tiny_corpus), "--repeats", "1",
                                      "--batch-sizes", "1,2", "--min-seconds", "0.1", "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "cpu_variants.py"), run_name="__main__")
    table = json.loads(out.with_suffix(".json").read_text())["table"]
    assert {r["name"] for r in table} == {tiny_models["crnn-ctc"].name, "onnx", "onnx-int8-static"}
    assert all(r["compressed_mb"] <= r["size_mb"] and r["p50_ms"] > 0 for r in table)
    text = out.with_suffix(".md").read_text()
    assert "static int8 calibrated on" in text and "| onnx-int8-static |" in text
