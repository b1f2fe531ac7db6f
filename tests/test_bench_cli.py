"""`speechopt bench` end to end on tiny models: real workers, real timings, real drift figures."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from speechopt.cli import app

FAST = ["--min-seconds", "0.05", "--min-iters", "3", "--batch-sizes", "1,4", "--threads", "1"]


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def variants(tiny_models, tiny_corpus, tmp_path_factory):
    from speechopt.steps.export import export_model

    root = tmp_path_factory.mktemp("bench")
    src = tiny_models["crnn-ctc"]
    return {
        "pytorch": src,
        "torchscript": export_model(src, "torchscript", root / "ts", validation_data=tiny_corpus).path,
        "onnx": export_model(src, "onnx", root / "onnx", validation_data=tiny_corpus).path,
    }


def test_bench_reports_every_variant(variants, tiny_corpus, tmp_path):
    r = run("bench", variants["pytorch"], variants["torchscript"], variants["onnx"], "--data", tiny_corpus, *FAST,
            "--json", tmp_path / "r.json", "--markdown", tmp_path / "r.md", "--html", tmp_path / "r.html",
            "--max-wer-drift", 5)
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "r.json").read_text())
    rows = {row["format"]: row for row in report["rows"]}
    assert set(rows) == {"pytorch", "torchscript", "onnx"}
    for row in rows.values():
        for key in ("artifact", "backend", "device", "threads", "latency_ms", "throughput_utt_s", "rtfx", "size_mb",
                    "compressed_mb", "peak_rss_mb", "wer", "cer", "wer_drift"):
            assert key in row
        assert row["latency_ms"]["p50"] > 0 and row["rtfx"] > 0 and row["threads"] == 1
    # exported variants are numerically the same model: no drift, identical transcripts
    assert rows["onnx"]["wer_drift"] == 0.0 and rows["onnx"]["identical_transcripts"] == 1.0
    assert rows["onnx"]["max_logit_diff"] < 1e-3
    assert rows["pytorch"]["reference"] and rows["pytorch"]["speedup"] == 1.0
    # achieved GFLOP/s: the same multiply-adds for every variant of one model, read against the sgemm rate
    assert len({row["gflops"] > 0 for row in rows.values()}) == 1 and rows["onnx"]["gflops"] > 0
    macs = {res["macs_per_item"] for res in report["results"]}
    assert len(macs) == 1 and macs.pop() > 0
    assert all(row["sgemm_gflops"] > 0 and row["sgemm_fraction"] == row["gflops"] / row["sgemm_gflops"]
               for row in rows.values())
    # raw timings are kept beside every percentile
    assert all(len(res["latency_seconds"]) >= 3 for res in report["results"])
    assert "| onnx" in (tmp_path / "r.md").read_text() or "onnx" in (tmp_path / "r.md").read_text()
    assert "data:image/png;base64" in (tmp_path / "r.html").read_text()


def test_bench_at_several_thread_counts_gives_best_vs_best(variants, tiny_corpus, tmp_path):
    """--threads 1,2: every configuration at each count, same-threads ratios against the reference at that
    count, and each configuration's best count against the reference's best."""
    fast = [x for x in FAST if x not in ("--threads", "1")]
    r = run("bench", variants["pytorch"], variants["onnx"], "--data", tiny_corpus, *fast, "--threads", "1,2",
            "--json", tmp_path / "r.json", "--markdown", tmp_path / "r.md")
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert sorted((row["format"], row["threads"]) for row in rows) == [("onnx", 1), ("onnx", 2), ("pytorch", 1),
                                                                      ("pytorch", 2)]
    by = {(row["format"], row["threads"]): row for row in rows}
    for t in (1, 2):
        assert by[("pytorch", t)]["speedup"] == 1.0
        assert by[("onnx", t)]["speedup"] == pytest.approx(
            by[("pytorch", t)]["latency_ms"]["p50"] / by[("onnx", t)]["latency_ms"]["p50"])
    for fmt in ("pytorch", "onnx"):
        best_t = min((1, 2), key=lambda t: by[(fmt, t)]["latency_ms"]["p50"])
        assert by[(fmt, 1)]["best_threads"] == by[(fmt, 2)]["best_threads"] == best_t
    ref_best = min(by[("pytorch", t)]["latency_ms"]["p50"] for t in (1, 2))
    onnx_best = min(by[("onnx", t)]["latency_ms"]["p50"] for t in (1, 2))
    assert by[("onnx", 1)]["best_speedup"] == pytest.approx(ref_best / onnx_best)
    md = (tmp_path / "r.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| variant"))
    assert "| thr |" in header and "| best |" in header


def test_budget_breach_exits_3_with_one_line_each(variants, tiny_corpus):
    r = run("bench", variants["pytorch"], variants["onnx"], "--data", tiny_corpus, *FAST,
            "--max-latency-ms", "0.000001", "--min-speedup", "1000")
    assert r.exit_code == 3, r.output
    breaches = [x for x in r.stderr.splitlines() if x.startswith("budget broken:")]
    assert len(breaches) == 3  # latency of both rows, speedup of the onnx row


def test_bench_bad_input(variants, tiny_models, tiny_corpus, tmp_path):
    def one_error(result):
        assert result.exit_code == 1, result.output
        errors = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
        assert len(errors) == 1 and "Traceback" not in result.output
        return errors[0]

    assert "unknown backend" in one_error(run("bench", variants["onnx"], "--backend", "tpu", "--data", tiny_corpus))
    assert "needs an onnx artifact" in one_error(run("bench", variants["pytorch"], "--backend", "onnxruntime",
                                                     "--data", tiny_corpus))
    # GPU backends fail before anything is measured (the reference is not timed first)
    for backend, artifact, expected in (("cuda", "pytorch", "no CUDA"), ("tensorrt", "pytorch", "speechopt build"),
                                        ("tensorrt", "onnx", "TensorRT")):
        result = run("bench", variants[artifact], "--backend", backend, "--data", tiny_corpus, *FAST)
        assert expected in one_error(result) and "measuring" not in result.stderr, result.output
    # a variant with another frontend cannot be compared
    other = tmp_path / "other"
    shutil.copytree(tiny_models["cnn-ctc"], other)
    m = json.loads((other / "manifest.json").read_text())
    m["frontend"]["n_mels"] = 80
    (other / "manifest.json").write_text(json.dumps(m))
    assert "frontend settings differ" in one_error(run("bench", variants["pytorch"], other, "--data", tiny_corpus))
    # a dataset whose transcripts are all empty has no usable utterance
    lines = [json.loads(x) for x in tiny_corpus.read_text().splitlines()]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("".join(json.dumps({**x, "audio_filepath": str(tiny_corpus.parent / x["audio_filepath"]),
                                         "text": ""}) + "\n" for x in lines))
    assert "no usable utterances" in one_error(run("bench", variants["pytorch"], "--data", empty))


def test_max_drift_by_metric_name(variants, tiny_corpus, tmp_path):
    # --max-drift wer= is --max-wer-drift by its new name; a budget that holds exits 0
    r = run("bench", variants["pytorch"], variants["onnx"], "--data", tiny_corpus, *FAST, "--max-drift", "wer=5",
            "--max-drift", "cer=5", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "r.json").read_text())["breaches"] == []

    def one_error(result):
        assert result.exit_code == 1, result.output
        lines = [x for x in result.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and "measuring" not in result.stderr
        return lines[0]

    base = ["bench", variants["pytorch"], "--data", tiny_corpus, *FAST]
    assert "no metric named 'mcd'" in one_error(run(*base, "--max-drift", "mcd=1"))
    for bad in ("wer", "wer=lots", "=1"):  # the form of a value is Click's to report (usage error, exit 2)
        r = run(*base, "--max-drift", bad)
        assert r.exit_code == 2 and "Invalid value for '--max-drift'" in r.stderr, r.output
    assert "disagree" in one_error(run(*base, "--max-drift", "wer=1", "--max-wer-drift", "2"))


def test_quality_on_a_further_set_is_measured_and_budgeted(variants, tiny_corpus, tmp_path):
    # the same utterances under another folder name: a second set whose drift is keyed wer@hard
    hard = tmp_path / "hard"
    hard.mkdir()
    lines = [json.loads(x) for x in tiny_corpus.read_text().splitlines()]
    (hard / "manifest.jsonl").write_text("".join(
        json.dumps({**x, "audio_filepath": str(tiny_corpus.parent / x["audio_filepath"])}) + "\n" for x in lines))
    base = ["bench", variants["pytorch"], variants["onnx"], "--data", tiny_corpus, *FAST, "--also-data", hard]
    r = run(*base, "--json", tmp_path / "r.json", "--markdown", tmp_path / "r.md", "--max-drift", "wer@hard=0.5")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "r.json").read_text())
    onnx = next(row for row in report["rows"] if row["format"] == "onnx")
    assert onnx["also"]["hard"]["wer"] == onnx["wer"]  # the same audio through the same path
    assert onnx["drift"]["wer@hard"] == 0.0 and onnx["also"]["hard"]["identical_transcripts"] == 1.0
    assert "WER@hard" in (tmp_path / "r.md").read_text() and "drift@hard" in (tmp_path / "r.md").read_text()
    assert not any("outputs_file" in sub for res in report["results"] for sub in res["also"].values())

    broken = run(*base, "--max-drift", "wer@hard=-1")
    assert broken.exit_code == 3
    assert [x for x in broken.stderr.splitlines() if x.startswith("budget broken")] == [
        f"budget broken: {onnx['name']} on cpu: WER@hard drift +0.00 points > budget -1"]
    unknown = run(*base, "--max-drift", "wer@eval-hard=1")
    assert unknown.exit_code == 1 and "no quality set named 'eval-hard' (--also-data gives hard)" in unknown.stderr
