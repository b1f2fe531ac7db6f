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


@pytest.mark.usefixtures("one_thread")
def test_optimum_peers_adopt_and_bench_beside_speechopts_variants(tmp_path, tiny_models, tiny_corpus, monkeypatch):
    """A peer's quantized ONNX (here ONNX Runtime's quantize_dynamic with library defaults standing in for
    Optimum's ORTQuantizer, which lives in a venv of its own) becomes a validated artifact, and cpu_variants
    measures it as it is at each thread count, with best-vs-best ratios."""
    from onnxruntime.quantization import quantize_dynamic

    from speechopt.artifact import load_artifact

    onnx = export_model(tiny_models["crnn-ctc"], "onnx", tmp_path / "onnx", validation_data=tiny_corpus)
    work = tmp_path / "work"
    (work / "avx2").mkdir(parents=True)
    quantize_dynamic(str(onnx.graph_path("model")), str(work / "avx2" / "model_quantized.onnx"))
    (work / "avx2" / "speechopt-peer.json").write_text(json.dumps(
        {"preset": "AutoQuantizationConfig.avx2(is_static=False)", "optimum_version": "test", "config": {}}))
    monkeypatch.setattr(sys, "argv", ["optimum_peers.py", "adopt", "--source", str(onnx.path), "--work", str(work),
                                      "--out-prefix", str(tmp_path / "peer"), "--validation-data", str(tiny_corpus)])
    runpy.run_path(str(BENCHMARKS / "optimum_peers.py"), run_name="__main__")
    peer = load_artifact(tmp_path / "peer-avx2")
    assert peer.manifest["quantization"]["engine"] == "optimum.onnxruntime.ORTQuantizer"
    assert peer.manifest["lineage"]["parent"]["checksum"] == onnx.checksum and peer.manifest["precision"] == "int8"
    assert peer.manifest["validation"]["utterances"] > 0

    out = tmp_path / "study"
    monkeypatch.setattr(sys, "argv", ["cpu_variants.py", "--model", str(tiny_models["crnn-ctc"]), "--data",
                                      str(tiny_corpus), "--variants", "onnx", "--extra", str(peer.path),
                                      "--threads", "1,2", "--repeats", "1", "--batch-sizes", "1",
                                      "--min-seconds", "0.1", "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "cpu_variants.py"), run_name="__main__")
    table = json.loads(out.with_suffix(".json").read_text())["table"]
    assert {(r["name"], r["threads"]) for r in table} == {(n, t) for n in (tiny_models["crnn-ctc"].name, "onnx",
                                                                           "peer-avx2") for t in (1, 2)}
    assert all(r["best_speedup"] and r["best_threads"] in (1, 2) for r in table)
    assert "| peer-avx2 | onnx | 1 |" in out.with_suffix(".md").read_text()


def _tiny_tacotron2(path):
    import torch

    from speechopt.audio.mel import MelConfig
    from speechopt.models.pytorch import save_pytorch_artifact
    from speechopt.models.registry import build_model
    from speechopt.models.tts.artifact import tts_fields
    from speechopt.tts_text import TtsTokenizer

    tok = TtsTokenizer()
    config = {"vocab_size": len(tok), "n_mels": 80, "reduction": 2, "embedding_dim": 16, "encoder_conv_channels": 16,
              "encoder_dim": 16, "attention_rnn_dim": 24, "decoder_rnn_dim": 24, "prenet_dims": [16, 16],
              "attention_dim": 8, "location_filters": 4, "location_kernel": 5, "postnet_channels": 16,
              "postnet_layers": 3}
    torch.manual_seed(0)
    model = build_model("tacotron2", config).eval()
    with torch.no_grad():
        model.gate.bias.fill_(-20.0)  # never stops: every sentence runs to its cap
    return save_pytorch_artifact(path, model, "tacotron2", config, tts_fields(tok, MelConfig()))


@pytest.mark.usefixtures("one_thread")
def test_tts_benchmarks_run_end_to_end(tmp_path, monkeypatch):
    """tacotron2_loop_modes, tts_synthesis and wavenet_generation on tiny models (figures not checked)."""
    import torch

    from speechopt.audio.mel import MelConfig
    from speechopt.models.pytorch import save_pytorch_artifact
    from speechopt.models.registry import build_model
    from speechopt.zoo import resolve

    t2 = _tiny_tacotron2(tmp_path / "t2")
    texts = tmp_path / "texts.txt"
    texts.write_text("a cat.\nthe dog ran.\nhello there, you.\n")
    out = tmp_path / "loops"
    monkeypatch.setattr(sys, "argv", ["tacotron2_loop_modes.py", "--model", str(t2.path), "--data", str(texts),
                                      "--sentences", "3", "--repeats", "1", "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "tacotron2_loop_modes.py"), run_name="__main__")
    r = json.loads(out.with_suffix(".json").read_text())
    assert [g["group"] for g in r["groups"]] == ["short", "medium", "long"] and set(r["median_ms"]) == {
        "eager", "step", "graph"}
    split = r["time_split_ms_per_sentence"]
    assert {"encoder", "decoder_step", "postnet"} <= set(split["step"]) and "decoder_loop" in split["graph"]
    assert all(v["total"] >= v["encoder"] for v in split.values())
    torch.manual_seed(0)
    wn = build_model("wavenet", {"layers": 4, "dilation_cycle": 2, "residual_channels": 8, "gate_channels": 8,
                                 "skip_channels": 8, "cond_channels": 4}).eval()
    wn_art = save_pytorch_artifact(tmp_path / "wn", wn, "wavenet", {"layers": 4, "dilation_cycle": 2,
                                   "residual_channels": 8, "gate_channels": 8, "skip_channels": 8, "cond_channels": 4},
                                   {"mel": MelConfig().to_dict()})
    out = tmp_path / "wavenet"
    monkeypatch.setattr(sys, "argv", ["wavenet_generation.py", "--vocoder", str(wn_art.path), "--seconds", "0.01",
                                      "--repeats", "1", "--batches", "1,2", "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "wavenet_generation.py"), run_name="__main__")
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [(x["generation"], x["batch"]) for x in rows] == [("naive", 1), ("cached", 1), ("cached", 2)]
    assert json.loads(out.with_suffix(".json").read_text())["same_samples_float64"] is True
    out = tmp_path / "synth"
    monkeypatch.setattr(sys, "argv", ["tts_synthesis.py", "--models", str(t2.path), "--data", str(resolve("zoo:tts-eval")),
                                      "--sentences", "2", "--repeats", "1", "--threads", "1", "--wavenet",
                                      str(wn_art.path), "--wavenet-sentences", "1", "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "tts_synthesis.py"), run_name="__main__")
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [x["vocoder"] for x in rows][0] == "griffin-lim" and rows[-1]["vocoder"] == str(wn_art.path)


@pytest.mark.usefixtures("one_thread")
def test_wavenet_step_profile_counts_the_graphs_nodes(tmp_path, monkeypatch):
    import torch

    from speechopt.audio.mel import MelConfig
    from speechopt.models.pytorch import save_pytorch_artifact
    from speechopt.models.registry import build_model
    from speechopt.steps.export import export_model

    config = {"layers": 4, "dilation_cycle": 2, "residual_channels": 8, "gate_channels": 8, "skip_channels": 8,
              "cond_channels": 4}
    torch.manual_seed(0)
    wn = save_pytorch_artifact(tmp_path / "wn", build_model("wavenet", config).eval(), "wavenet", config,
                               {"mel": MelConfig().to_dict()})
    export_model(wn.path, "onnx", tmp_path / "wn-onnx")
    out = tmp_path / "profile"
    monkeypatch.setattr(sys, "argv", ["wavenet_step_profile.py", "--onnx", str(tmp_path / "wn-onnx"), "--repeats",
                                      "1", "--calls", "20", "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "wavenet_step_profile.py"), run_name="__main__")
    r = json.loads(out.with_suffix(".json").read_text())
    assert r["nodes"]["Tanh"] == r["nodes"]["Sigmoid"] == 4  # one gate a layer
    assert r["step_ms"] > 0 and r["identity_ms"] > 0 and r["matmul_macs"] > 0
    assert "us a node" in out.with_suffix(".md").read_text()


@pytest.mark.usefixtures("one_thread")
def test_chunked_asr_writes_the_streaming_table(tmp_path, tiny_models, tiny_corpus, monkeypatch):
    out = tmp_path / "chunked"
    monkeypatch.setattr(sys, "argv", ["chunked_asr.py", "--models", str(tiny_models["separable-ctc"]), "--data",
                                      str(tiny_corpus), "--right-ms", "0", "160", "--max-utterances", "2",
                                      "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "chunked_asr.py"), run_name="__main__")
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["settings"]["right_ms"] for r in rows] == [0.0, 160.0]
    assert all(r["window_ms"]["p50"] > 0 for r in rows)
    assert "| lookahead ms |" in out.with_suffix(".md").read_text()


def tiny_fastspeech(tmp_path):
    """(an untrained tiny FastSpeech artifact, a 3-sentence espeak-ng TTS corpus); about e^2 - 1 = 6 frames
    a token."""
    import torch

    from speechopt.audio.mel import MelConfig
    from speechopt.data.tts_corpus import TtsSynthSettings, synth_tts_corpus
    from speechopt.models.pytorch import save_pytorch_artifact
    from speechopt.models.registry import build_model
    from speechopt.models.tts.artifact import tts_fields
    from speechopt.tts_text import TtsTokenizer

    corpus = tmp_path / "c"
    synth_tts_corpus(corpus, TtsSynthSettings(num=3, seed=0))
    tok = TtsTokenizer()
    config = dict(vocab_size=len(tok), n_mels=80, d_model=16, heads=2, ffn_dim=24, encoder_layers=1,
                  decoder_layers=1, predictor_channels=16)
    torch.manual_seed(0)
    model = build_model("fastspeech", config).eval()
    with torch.no_grad():
        model.duration_predictor.proj.bias.fill_(2.0)
    return save_pytorch_artifact(tmp_path / "fs", model, "fastspeech", config, tts_fields(tok, MelConfig())), corpus


@pytest.mark.usefixtures("one_thread")
def test_fastspeech_limits_separates_durations_from_mels(tmp_path, monkeypatch):
    """On a tiny untrained FastSpeech and a 3-sentence corpus: three rows, the true mel's at zero distance."""
    art, corpus = tiny_fastspeech(tmp_path)
    out = tmp_path / "limits"
    monkeypatch.setattr(sys, "argv", ["fastspeech_limits.py", "--model", str(art.path), "--data", str(corpus),
                                      "--bands", "0:80", "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "fastspeech_limits.py"), run_name="__main__")
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["what"] for r in rows][:2] == ["predicted durations", "true durations"]
    assert rows[2]["what"].startswith("true durations, bins 0-79") and rows[3]["what"] == "true mel"
    assert rows[3]["mcd_db"] == 0.0 and rows[1]["mcd_db"] > 0
    assert rows[2]["mcd_db"] < 1e-6  # every bin swapped in: the true mel, over the aligned frames


@pytest.mark.usefixtures("one_thread")
def test_roundtrip_errors_splits_the_round_trip_per_sentence(tmp_path, monkeypatch):
    """A tiny untrained FastSpeech on 3 sentences: one row per scoring, the same three audios in each."""
    art, corpus = tiny_fastspeech(tmp_path)
    out = tmp_path / "errors"
    monkeypatch.setattr(sys, "argv", ["roundtrip_errors.py", "--model", str(art.path), "--data", str(corpus),
                                      "--pad-ms", "50", "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "roundtrip_errors.py"), run_name="__main__")
    result = json.loads(out.with_suffix(".json").read_text())
    assert [r["decoder"] for r in result["rows"]] == ["greedy", "lexicon", "greedy, 50 ms pads"]
    for r in result["rows"]:
        assert 0.0 <= r["worst_10pct_share"] <= r["worst_25pct_share"] <= 1.0
        assert set(r["first_word_missed"]) == {"synthesis", "vocoder copy", "own audio"}
    assert len(result["sentences"]) == 3 and "| greedy, 50 ms pads |" in out.with_suffix(".md").read_text()


def test_roundtrip_error_shares_and_edge_words():
    import numpy as np

    script = runpy.run_path(str(BENCHMARKS / "roundtrip_errors.py"))
    assert script["concentration"](np.array([3, 1, 0, -2]), 0.25) == 0.75  # the worst of 4 holds 3 of 4
    assert script["concentration"](np.array([0, -1]), 0.5) == 0.0
    assert script["edge_misses"](["pull grass now.", "it cow."], ["pll grass now", "it"]) == (1, 1)


@pytest.mark.usefixtures("one_thread")
def test_training_precision_times_both_precisions(tmp_path, tiny_corpus, monkeypatch):
    out = tmp_path / "precision"
    monkeypatch.setattr(sys, "argv", ["training_precision.py", "--data", str(tiny_corpus), "--val-data",
                                      str(tiny_corpus), "--steps", "2", "--repeats", "1", "--runs", "separable",
                                      "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "training_precision.py"), run_name="__main__")
    result = json.loads(out.with_suffix(".json").read_text())
    assert [(r["precision"], r["steps"]) for r in result["runs"]] == [("fp32", 2), ("bf16", 2)]
    assert 0.9 < result["summary"][0]["gradient_cosine"] <= 1.0 + 1e-6  # a bf16 step goes where fp32's does
    assert "| separable-ctc, distill from crnn-ctc |" in out.with_suffix(".md").read_text()


def test_training_curve_lists_every_validation(tmp_path, monkeypatch):
    run = tmp_path / "run"
    (run / "train-state").mkdir(parents=True)
    history = [{"minutes": 1.0, "step": 10, "val_l1_post": 0.5, "roundtrip_wer": 0.9, "roundtrip_cer": 0.4,
                "gate_fired": 1.0, "monotonic": 1.0},
               {"minutes": 2.0, "step": 20, "val_l1_post": 0.4}]  # a FastSpeech-like row: no round trip
    (run / "train-state" / "progress.json").write_text(json.dumps({"step": 20, "elapsed": 120.0, "history": history}))
    out = tmp_path / "curve"
    monkeypatch.setattr(sys, "argv", ["training_curve.py", str(run), "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "training_curve.py"), run_name="__main__")
    text = out.with_suffix(".md").read_text()
    assert "| 1.0 | 10 | 0.500 | 90.0% | 40.0% |" in text and "| 2.0 | 20 | 0.400 | - | - |" in text


@pytest.mark.usefixtures("one_thread")
def test_cpu_variants_compares_a_students_planar_and_native_forms(tmp_path, tiny_models, tiny_corpus, monkeypatch):
    out = tmp_path / "student"
    student = tiny_models["separable-ctc"]
    monkeypatch.setattr(sys, "argv", ["cpu_variants.py", "--model", str(tiny_models["crnn-ctc"]), "--data",
                                      str(tiny_corpus), "--variants", "", "--extra", str(student),
                                      "--extra-variants", "onnx,onnx-native,onnx-native-int8-static-u8",
                                      "--calibration-data", str(tiny_corpus), "--repeats", "1",
                                      "--batch-sizes", "1", "--min-seconds", "0.1", "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "cpu_variants.py"), run_name="__main__")
    runs = json.loads(out.with_suffix(".json").read_text())["runs"]
    by_name = {Path(r["artifact"]).name: r for r in runs[0]["results"]}
    assert {f"{student.name}+{v}" for v in ("onnx", "onnx-native", "onnx-native-int8-static-u8")} <= set(by_name)
    assert all(by_name[f"{student.name}+{v}"]["latency_ms"]["p50"] > 0 for v in ("onnx", "onnx-native"))


@pytest.mark.usefixtures("one_thread")
def test_griffin_lim_settings_scores_every_inversion_and_setting(tmp_path, monkeypatch):
    """A tiny untrained FastSpeech on 3 sentences: a row per inversion and setting, and the library's own mel
    inversion is back in place afterwards."""
    from speechopt.audio.mel import MelExtractor

    library = MelExtractor.mel_to_linear
    art, corpus = tiny_fastspeech(tmp_path)
    out = tmp_path / "gl"
    monkeypatch.setattr(sys, "argv", ["griffin_lim_settings.py", "--models", str(art.path), "--data", str(corpus),
                                      "--settings", "2:0.99,2:0", "--inversions", "pinv,nnls,power:1.3",
                                      "--out", str(out)])
    runpy.run_path(str(BENCHMARKS / "griffin_lim_settings.py"), run_name="__main__")
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [(r["inversion"], r["momentum"]) for r in rows] == [(i, m) for i in ("pinv", "nnls", "power:1.3")
                                                               for m in (0.99, 0.0)]
    assert all(0.0 <= r["copy_wer"] and r["sentences"] == 3 for r in rows)
    assert MelExtractor.mel_to_linear is library
