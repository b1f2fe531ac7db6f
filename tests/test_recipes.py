import json

import pytest
from conftest import one_error_line
from typer.testing import CliRunner

from speechopt.cli import app
from speechopt.errors import SpeechoptError
from speechopt.recipes import load_recipe


def write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("model: m\nsteps:\n  - {id: a, step: squash, from: model}\n", "unknown step 'squash'"),
    ("model: m\nsteps:\n  - {id: a, step: export, from: b, with: {to: onnx}}\n", "`from: b` names no earlier step"),
    ("model: m\nsteps:\n  - {id: a, step: export, with: {to: onnx, speed: 11}}\n", "unknown export options \\['speed'\\]"),
    ("model: m\nsteps:\n  - {id: a, step: prune, with: {amount: 0.1}}\n  - {id: a, step: prune}\n", "duplicate id"),
    ("model: m\nbench: {artifacts: [model, ghost]}\n", "artifact 'ghost' is neither"),
    ("model: m\nbench: {budgets: {max_wer: 1}}\n", "unknown budgets \\['max_wer'\\]"),
    ("steps: []\n", "missing `model`"),
    ("model: [unclosed\n", "not valid YAML"),
])
def test_bad_recipes_fail_before_running(tmp_path, text, message):
    with pytest.raises(SpeechoptError, match=message):
        load_recipe(write(tmp_path, text))


def test_run_recipe_end_to_end(tmp_path, tiny_models, tiny_corpus):
    recipe = write(tmp_path, f"""
name: tiny
model: {tiny_models['crnn-ctc']}
data: {tiny_corpus}
steps:
  - {{id: onnx, step: export, with: {{to: onnx}}}}
  - {{id: int8, step: quantize, from: onnx, with: {{method: dynamic}}}}
  - {{id: slim, step: prune, with: {{amount: 0.25, structured: true}}}}
bench:
  artifacts: [model, onnx, int8, slim]
  batch_sizes: [1, 4]
  threads: 1
  min_seconds: 0.05
  min_iters: 3
  budgets: {{min_speedup: 1000}}
""")
    r = CliRunner().invoke(app, ["run", str(recipe), "-o", str(tmp_path / "out")])
    assert r.exit_code == 3, r.output  # nothing is 1000x faster: the budget breaks, once per variant
    assert len([x for x in r.stderr.splitlines() if x.startswith("budget broken:")]) == 3
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [row["name"] for row in report["rows"]] == ["model", "onnx", "int8", "slim"]
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"onnx", "int8", "slim", "report.md", "report.html"}
    lineage = json.loads((tmp_path / "out" / "int8" / "manifest.json").read_text())["lineage"]
    assert lineage["history"] == ["export", "quantize"]


def test_run_missing_recipe(tmp_path):
    r = CliRunner().invoke(app, ["run", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "o")])
    assert "recipe not found" in one_error_line(r)
