"""Pure logic of the bench: timing loop, length buckets, budgets, report rendering."""


import pytest

from speechopt.bench.budgets import Budgets, check_budgets
from speechopt.bench.machine import cpu_label
from speechopt.bench.report import html_report, markdown
from speechopt.bench.timing import measure
from speechopt.errors import SpeechoptError
from speechopt.tasks import get_task
from speechopt.tasks.asr.task import length_buckets

METRICS = get_task("asr").metrics


def test_measure_needs_both_count_and_duration():
    calls = []
    t = measure(calls.append, n_items=3, warmup=2, min_iters=5, min_seconds=0.0)
    assert len(t.seconds) == 5 and len(calls) == 7 and calls[:3] == [0, 1, 0]
    p = t.percentiles_ms()
    assert p["p50"] <= p["p90"] <= p["p99"]
    t = measure(lambda i: None, n_items=1, warmup=0, min_iters=1, min_seconds=0.05)
    assert len(t.seconds) > 1  # kept going until the minimum duration


def test_length_buckets_are_thirds_by_duration():
    d = [5.0, 1.0, 3.0, 2.0, 6.0, 4.0]
    b = length_buckets(d)
    assert b == {"short": [1, 3], "medium": [2, 5], "long": [0, 4]}


def _row(name, reference=False, p50=10.0, speedup=1.0, drift=0.0):
    return {"artifact": name, "name": name, "format": "onnx", "backend": "cpu", "device": "cpu", "threads": 2,
            "reference": reference, "latency_ms": {"p50": p50, "p90": p50 * 1.2, "p99": p50 * 1.5},
            "speedup": speedup, "throughput_batch": 16, "throughput_utt_s": 100.0, "rtfx": 250.0,
            "size_mb": 4.0, "peak_rss_mb": 300.0, "load_seconds": 0.1, "wer": 0.05 + drift, "cer": 0.01,
            "wer_drift": drift, "cer_drift": 0.0, "drift": {"wer": drift * 100, "cer": 0.0},
            "identical_transcripts": 0.9, "max_logit_diff": 0.01,
            "drift_by_length": {"short": 0.0, "medium": 0.0, "long": drift}}


def test_budgets_report_each_breach():
    rows = [_row("ref", reference=True, p50=20.0), _row("fast", p50=5.0, speedup=4.0, drift=0.002),
            _row("bad", p50=30.0, speedup=0.66, drift=0.011)]
    budgets = Budgets.from_options(max_wer_drift=0.5, max_latency_ms=25.0, min_speedup=1.0)
    breaches = check_budgets(rows, budgets, METRICS)
    assert len(breaches) == 3
    assert any("bad on cpu: WER drift +1.10 points > budget 0.5" == b for b in breaches)
    assert any(b.startswith("bad on cpu: latency p50 30.00 ms") for b in breaches)
    assert any(b.startswith("bad on cpu: speedup 0.66x") for b in breaches)
    assert check_budgets(rows[:2], Budgets.from_options(max_wer_drift=0.5, min_speedup=1.0), METRICS) == []
    assert not Budgets().any()


def test_budgets_are_keyed_by_metric():
    rows = [_row("ref", reference=True), _row("int8", drift=0.004)]
    keyed = Budgets.from_options(max_drift=["wer=0.5", "cer=0.1"])
    assert keyed.max_drift == {"wer": 0.5, "cer": 0.1}
    assert check_budgets(rows, keyed, METRICS) == []
    assert check_budgets(rows, Budgets.from_options(max_drift=["wer=0.25"]), METRICS) == [
        "int8 on cpu: WER drift +0.40 points > budget 0.25"]
    # the old flag is the same budget under its old name
    assert Budgets.from_options(max_wer_drift=0.5).max_drift == {"wer": 0.5}
    with pytest.raises(SpeechoptError, match="no metric named 'mcd' to budget; this task measures cer, wer"):
        Budgets.from_options(max_drift=["mcd=0.5"]).check_metrics(METRICS)
    for bad in ("wer", "=1", "wer=fast"):
        with pytest.raises(SpeechoptError):
            Budgets.from_options(max_drift=[bad])
    with pytest.raises(SpeechoptError, match="disagree"):
        Budgets.from_options(max_drift=["wer=1"], max_wer_drift=0.5)
    # a further quality set: METRIC@SET, known only when the bench measures that set
    on_set = Budgets.from_options(max_drift=["wer@eval-hard=1.0"])
    on_set.check_metrics(METRICS, sets=["eval-hard"])
    with pytest.raises(SpeechoptError, match="no quality set named 'eval-hard'"):
        on_set.check_metrics(METRICS)
    with pytest.raises(SpeechoptError, match="no metric named 'mcd'"):
        Budgets.from_options(max_drift=["mcd@eval-hard=1"]).check_metrics(METRICS, sets=["eval-hard"])
    hard = [_row("ref", reference=True), {**_row("int8"), "drift": {"wer": 0.0, "wer@eval-hard": 1.5}}]
    assert check_budgets(hard, on_set, METRICS) == ["int8 on cpu: WER@eval-hard drift +1.50 points > budget 1"]


def test_reports_render():
    report = {"task": "asr", "machine": {"processor": "x86_64", "cpu_count": 2, "threads": 2, "torch": "2.13.0"},
              "settings": {"data": "eval.jsonl", "reference": "ref", "accuracy_mode": "per utterance"}}
    rows = [_row("ref", reference=True), _row("onnx", speedup=2.0, drift=0.001)]
    md = markdown(rows, report, ["onnx on cpu: too slow"])
    assert "| onnx | cpu |" in md and "Budgets broken" in md and "too slow" in md
    page = html_report(rows, report, [])
    assert page.startswith("<!doctype html>") and "Budgets: all met" in page
    assert "data:image/png;base64," in page  # matplotlib is a dev dependency


def test_html_report_plays_the_media_and_writes_it_beside(tmp_path):
    """A TTS bench result's media (text, WAV bytes, mel picture) is embedded in the HTML report, written as WAV
    files beside it, and kept out of the JSON."""
    import io
    import json

    import numpy as np
    import soundfile as sf

    from speechopt.bench.report import write_reports

    buf = io.BytesIO()
    sf.write(buf, np.zeros(1600, np.float32), 16000, format="WAV", subtype="PCM_16")
    media = [{"text": "a <b> c.", "wav": buf.getvalue(), "png": b"\x89PNG"}]
    report = {"task": "asr", "machine": {"processor": "x86_64"},
              "settings": {"data": "d", "reference": "ref", "accuracy_mode": "m"},
              "results": [{"name": "t2 onnx", "backend": "cpu", "media": media}, {"name": "ref", "backend": "cpu"}]}
    rows = [_row("ref", reference=True)]
    write_reports(report, rows, None, tmp_path / "r.json", None, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert page.count("<audio controls") == 1 and "a &lt;b&gt; c." in page and "data:audio/wav;base64," in page
    wav = tmp_path / "r-audio" / "0-t2_onnx-cpu-1.wav"
    assert wav.read_bytes() == media[0]["wav"]
    assert "media" not in json.loads((tmp_path / "r.json").read_text())["results"][0]


def test_quantized_but_slower_warning_names_a_reason():
    from speechopt.bench.warnings import slower_than_parent

    parent = {"name": "onnx", "backend": "cpu", "checksum": "p", "latency_ms": {"p50": 5.0}}
    conv = {"name": "int8-all", "backend": "cpu", "checksum": "c", "parent_checksum": "p",
            "quantization": {"method": "dynamic", "op_types": ["Conv", "MatMul"]}, "latency_ms": {"p50": 7.0}}
    fast = {"name": "int8", "backend": "cpu", "checksum": "f", "parent_checksum": "p",
            "quantization": {"method": "dynamic", "op_types": ["MatMul", "LSTM"]}, "latency_ms": {"p50": 2.0}}
    warnings = slower_than_parent([parent, conv, fast], {"isa": ["avx2"]})
    assert len(warnings) == 1
    assert warnings[0].startswith("int8-all (dynamic) is slower than its parent onnx on cpu: p50 7.00 ms vs 5.00 ms")
    assert "ConvInteger" in warnings[0] and "without VNNI" in warnings[0]
    assert slower_than_parent([parent, conv], {"isa": ["avx2", "avx512_vnni"]})[0].count("Likely reason") == 1


def test_cpu_label_tells_masked_cpu_generations_apart():
    # Virtual machines report "AMD EPYC" for every generation; family/model/stepping keep them apart.
    assert cpu_label({"cpu": "AMD EPYC", "cpu_family": "23", "cpu_model": "1", "cpu_stepping": "2"}) == \
        "AMD EPYC (family 23 model 1 stepping 2)"
    assert cpu_label({"processor": "arm64"}) == "arm64"


def test_noisy_timings_are_flagged():
    from speechopt.bench.warnings import noisy_timings

    durations = [1.0, 2.0, 3.0, 4.0] * 25
    quiet = {"name": "q", "backend": "cpu", "latency_ms": {"p50": 20.0, "p99": 40.0}, "durations": durations,
             "latency_seconds": [0.01 * d for d in durations]}  # time per audio second constant: lengths vary
    noisy = {**quiet, "name": "n", "latency_seconds": [0.01 * d * (200 if k % 50 == 7 else 1)
                                                          for k, d in enumerate(durations)]}
    warnings = noisy_timings([quiet, noisy])
    assert not quiet["noisy"] and noisy["noisy"] and len(warnings) == 1
    assert warnings[0].startswith("n on cpu: timings are noisy") and "--min-seconds" in warnings[0]


def test_terminal_table_fits_80_columns(monkeypatch, capsys):
    from speechopt.bench.report import print_table

    monkeypatch.setenv("COLUMNS", "80")
    report = {"task": "asr", "machine": {"cpu": "AMD EPYC", "cpu_family": "25", "cpu_model": "17",
                                         "cpu_stepping": "0", "threads": 1}, "warnings": []}
    rows = [_row("crnn-ctc", reference=True), _row("crnn-ctc-pruned25-int8", speedup=2.83, drift=-0.0025)]
    rows[1]["noisy"] = True
    print_table(rows, report)
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "crnn-ctc-pruned25-int8" in out and "2.83x~" in out and "-0.25" in out and "…" not in out
    assert "--markdown" in out and "too noisy" in out
    monkeypatch.setenv("COLUMNS", "200")
    print_table(rows, report)
    assert "long drift" in capsys.readouterr().out  # room for the full table

def test_macs_are_counted_from_the_layer_shapes():
    """Linear, Conv1d and a bidirectional two-layer LSTM, against the formulas of speechopt.models.macs."""
    import torch

    from speechopt.models.macs import macs_counter

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(8, 16, 5, padding=2, groups=2)
            self.rnn = torch.nn.LSTM(16, 12, num_layers=2, bidirectional=True, batch_first=True)
            self.head = torch.nn.Linear(24, 7)

        def forward(self, x, lengths):
            y = self.conv(x.transpose(1, 2)).transpose(1, 2)
            y, _ = self.rnn(y)
            return self.head(y)

    count = macs_counter(Tiny())
    B, T = 2, 30
    conv = B * 16 * T * (8 // 2) * 5
    lstm = B * T * 2 * (4 * 12 * (16 + 12) + 4 * 12 * (24 + 12))
    head = B * T * 24 * 7
    assert count(torch.zeros(B, T, 8), torch.tensor([T, T])) == conv + lstm + head
    assert count(torch.zeros(1, 2 * T, 8), torch.tensor([2 * T])) == conv + lstm + head  # linear in frames
