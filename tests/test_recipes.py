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
    ("model: m\nbench: {budgets: {max_drift: 0.5}}\n", "max_drift is a mapping"),
    ("model: m\nbench: {budgets: {max_drift: {wer: lots}}}\n", "'lots' is not a number"),
    ("model: m\nbench: {budgets: {max_drift: {wer: 0.5}, max_wer_drift: 1.0}}\n", "disagree"),
    ("model: m\nbench: {threads: -2}\n", "bench.threads: must be a positive integer"),
    ("model: m\nbench: {also_data: zoo:eval-hard}\n", "bench.also_data: must be a list"),
    ("model: m\nbench: {also_data: [/no/such/set]}\n", "no such data set"),
    ("model: m\nbench: {also_data: [zoo:eval-hard], budgets: {max_drift: {wer@dev: 1}}}\n",
     "wer@dev: no quality set named 'dev'"),
    ("model: m\nbench: {batch_sizes: [1, 0]}\n", "bench.batch_sizes"),
    ("model: m\nsteps:\n  - {id: a, step: export, with: {to: onnx, threads: 0}}\n", "threads must be a positive integer"),
    ("model: m\nsteps:\n  - {id: ft, step: finetune, with: {max_steps: 3}}\n", "finetune needs `data`, `val_data`"),
    ("model: m\nsteps:\n  - {id: ft, step: finetune, with: {data: d, val_data: v}}\n", "finetune needs `max_steps`"),
    ("model: m\nsteps:\n  - {id: s, step: distill, with: {max_steps: 3}}\n", "distill needs `data`, `val_data`"),
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
    broken = [x for x in r.stderr.splitlines() if x.startswith("budget broken:")]
    assert len(broken) == 3
    assert {x.split(":")[1].split(" on ")[0].strip() for x in broken} == {"onnx", "int8", "slim"}  # recipe ids
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [row["name"] for row in report["rows"]] == ["model", "onnx", "int8", "slim"]
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"onnx", "int8", "slim", "report.md", "report.html"}
    lineage = json.loads((tmp_path / "out" / "int8" / "manifest.json").read_text())["lineage"]
    assert lineage["history"] == ["export", "quantize"]


def test_budgets_old_and_new_form(tmp_path):
    new = load_recipe(write(tmp_path, "model: m\nbench: {budgets: {max_drift: {wer: 0.5}, min_speedup: 1.5}}\n"))
    old = load_recipe(write(tmp_path, "model: m\nbench: {budgets: {max_wer_drift: 0.5, min_speedup: 1.5}}\n", "o.yaml"))
    assert new.budgets == old.budgets and new.budgets.max_drift == {"wer": 0.5} and new.budgets.min_speedup == 1.5
    assert load_recipe(write(tmp_path, "model: m\nbench: {threads: 1}\n", "n.yaml")).budgets is None


def test_the_shipped_recipes_load():
    from pathlib import Path

    for path in sorted(Path(__file__).parent.parent.joinpath("recipes").glob("*.yaml")):
        recipe = load_recipe(path)
        # every shipped recipe is a CI gate on its task's headline drift (ASR: WER; TTS: MCD)
        assert recipe.budgets is not None and {"wer", "mcd"} & set(recipe.budgets.max_drift), path
        assert "max_wer_drift" not in path.read_text(), f"{path}: use the max_drift form"


def test_every_step_is_a_settings_type_and_a_function():
    from dataclasses import is_dataclass

    from speechopt.steps.registry import STEPS, make_settings, option_names

    assert set(STEPS) >= {"export", "quantize", "prune", "finetune", "distill", "build"}
    assert all(is_dataclass(s.settings) and callable(s.run) for s in STEPS.values())
    assert "calibration_data" in option_names("quantize") and "max_steps" in option_names("finetune")
    assert make_settings("prune", {"amount": 0.2}).amount == 0.2
    with pytest.raises(SpeechoptError, match="unknown step 'squash'"):
        make_settings("squash", {})


def test_unknown_budget_metric_fails_before_the_first_step(tmp_path, tiny_models, tiny_corpus):
    recipe = write(tmp_path, f"""
model: {tiny_models['crnn-ctc']}
data: {tiny_corpus}
steps:
  - {{id: slim, step: prune, with: {{amount: 0.25, structured: true}}}}
bench: {{budgets: {{max_drift: {{mcd: 1.0}}}}}}
""")
    r = CliRunner().invoke(app, ["run", str(recipe), "-o", str(tmp_path / "out")])
    assert "no metric named 'mcd'" in one_error_line(r)
    assert not (tmp_path / "out" / "slim").exists()


def test_prune_then_finetune_as_two_recipe_steps(tmp_path, tiny_models, tiny_corpus):
    recipe = write(tmp_path, f"""
name: slim
model: {tiny_models['crnn-ctc']}
steps:
  - {{id: pruned, step: prune, with: {{amount: 0.3, structured: true}}}}
  - {{id: tuned, step: finetune, from: pruned, with: {{data: {tiny_corpus}, val_data: {tiny_corpus}, max_steps: 2, threads: 1}}}}
""")
    r = CliRunner().invoke(app, ["run", str(recipe), "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "slim: wrote pruned, tuned under" in r.stdout
    from speechopt.artifact import load_artifact

    pruned, tuned = load_artifact(tmp_path / "out" / "pruned"), load_artifact(tmp_path / "out" / "tuned")
    lineage = tuned.manifest["lineage"]
    assert lineage["step"] == "finetune" and lineage["settings"]["max_steps"] == 2
    assert lineage["parent"]["checksum"] == pruned.checksum
    # the same architecture as the pruned model, and so the same as `speechopt prune --finetune-steps` makes
    assert tuned.architecture == pruned.architecture and tuned.architecture["config"]["hidden"] == 17


def test_run_missing_recipe(tmp_path):
    r = CliRunner().invoke(app, ["run", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "o")])
    assert "recipe not found" in one_error_line(r)


def test_resume_keeps_finished_steps_and_refuses_strangers(tmp_path, tiny_models, tiny_corpus):
    # The second step fails (its calibration data does not exist): the first one's artifact stays, and a
    # rerun with --resume keeps it rather than exporting again; a changed option is refused.
    def recipe(calibration, opset=17):
        return write(tmp_path, f"""
name: tiny
model: {tiny_models['crnn-ctc']}
data: {tiny_corpus}
steps:
  - {{id: onnx, step: export, with: {{to: onnx, opset: {opset}}}}}
  - {{id: qdq, step: quantize, from: onnx, with: {{method: static, calibration_data: {calibration}}}}}
""")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["run", str(recipe(tmp_path / "missing")), "-o", str(out)])
    assert r.exit_code == 1 and r.stderr.splitlines()[-1].startswith(f"error: {tmp_path / 'missing'}")
    assert (out / "onnx" / "manifest.json").is_file() and not (out / "qdq").exists()
    made = (out / "onnx" / "manifest.json").stat().st_mtime_ns

    r = CliRunner().invoke(app, ["run", str(recipe(tiny_corpus)), "-o", str(out)])
    assert "add --resume" in one_error_line(r)

    r = CliRunner().invoke(app, ["run", str(recipe(tiny_corpus)), "-o", str(out), "--resume"])
    assert r.exit_code == 0, r.output
    assert "onnx: kept from an earlier run" in r.stderr
    assert (out / "onnx" / "manifest.json").stat().st_mtime_ns == made
    assert json.loads((out / "qdq" / "manifest.json").read_text())["lineage"]["history"] == ["export", "quantize"]
    assert set(json.loads((out / "recipe-state.json").read_text())) == {"onnx", "qdq"}

    r = CliRunner().invoke(app, ["run", str(recipe(tiny_corpus, opset=18)), "-o", str(out), "--resume"])
    assert "made by another recipe, other options or another source" in one_error_line(r)

    (out / "qdq" / "model.onnx").write_bytes(b"tampered")
    r = CliRunner().invoke(app, ["run", str(recipe(tiny_corpus)), "-o", str(out), "--resume"])
    assert r.exit_code == 1 and "model.onnx: checksum mismatch" in r.stderr.splitlines()[-1]
