"""The TTS task on tiny Tacotron 2 models with random weights: three-graph export, the shared loop on PyTorch
and ONNX Runtime, Griffin-Lim, MCD, `speechopt synth`, eval and the bench's mel drift."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from speechopt.errors import SpeechoptError

TINY = dict(n_mels=20, embedding_dim=16, encoder_conv_channels=16, encoder_conv_layers=2, encoder_dim=16,
            attention_rnn_dim=24, decoder_rnn_dim=24, prenet_dims=[16, 16], attention_dim=8, location_filters=4,
            location_kernel=7, postnet_channels=16, postnet_layers=2)
SENTENCES = ["hello world.", "the cat sat on the mat, quietly?", "a b c!"]


def _tiny_tts(path, gate_bias=None, seed=0):
    import torch

    from speechopt.audio.mel import MelConfig
    from speechopt.models.pytorch import save_pytorch_artifact
    from speechopt.models.registry import build_model
    from speechopt.models.tts.artifact import tts_fields
    from speechopt.tts_text import TtsTokenizer

    tok = TtsTokenizer()
    config = {**TINY, "vocab_size": len(tok)}
    torch.manual_seed(seed)
    model = build_model("tacotron2", config).eval()
    if gate_bias is not None:  # a strongly negative bias: the stop gate never fires, every sentence hits the cap
        with torch.no_grad():
            model.gate.bias.fill_(gate_bias)
    return save_pytorch_artifact(path, model, "tacotron2", config, tts_fields(tok, MelConfig(n_mels=20)))


@pytest.fixture(scope="module")
def tts(tmp_path_factory, one_thread):
    """pytorch artifacts (gate fires at once / never fires), their ONNX exports and a text file."""
    from speechopt.steps.export import export_model

    root = tmp_path_factory.mktemp("tts")
    texts = root / "texts.txt"
    texts.write_text("\n".join(SENTENCES) + "\n")
    fires = _tiny_tts(root / "fires")
    capped = _tiny_tts(root / "capped", gate_bias=-20.0)
    onnx = export_model(capped.path, "onnx", root / "capped-onnx", validation_data=str(texts), max_validation_utts=2,
                        threads=1)
    return {"root": root, "texts": texts, "fires": fires, "capped": capped, "onnx": onnx}


def test_three_graph_onnx_export_passes_the_dynamic_shape_check(tts):
    from speechopt.artifact import load_artifact

    art = load_artifact(tts["onnx"].path)
    assert sorted(art.manifest["files"]) == ["decoder_step.onnx", "encoder.onnx", "postnet.onnx"]
    graphs = art.manifest["export"]["graphs"]
    for name in ("encoder", "decoder_step", "postnet"):
        assert graphs[name]["exporter"] == "legacy"
        checks = graphs[name]["dynamic_shape_check"]
        assert len(checks) == 2 and all(c["max_abs_diff"] < 1e-4 for c in checks)
    step = art.graph("decoder_step")
    assert {t["name"]: t["dtype"] for t in step["inputs"]}["mask"] == "bool"
    assert [t["name"] for t in step["inputs"]][-2:] == ["prenet_mask_0", "prenet_mask_1"]
    assert step["dynamic_axes"]["memory"] == {"0": "batch", "1": "text"}
    assert art.graph("postnet")["dynamic_axes"]["decoder_mel"] == {"0": "batch", "1": "frames"}
    v = art.manifest["validation"]
    assert v["passed"] and v["same_gate_step"] and v["max_abs_diff"] < 1e-4
    assert art.manifest["mel"]["n_mels"] == 20 and art.manifest["tokenizer"]["type"] == "tts_char"


def test_driver_gives_the_same_mels_on_pytorch_onnxruntime_and_torchscript(tts, tmp_path, one_thread):
    import torch

    from speechopt.steps.export import export_model

    from speechopt.artifact import load_artifact
    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.tasks import get_task
    from speechopt.tasks.tts.driver import SynthesisSettings

    task = get_task("tts")
    data = task.load_data(tts["capped"], tts["texts"])
    seeded = SynthesisSettings(max_steps=25, prenet_seed=3)
    with task.driver(tts["capped"], settings=seeded) as eager, \
            task.driver(load_artifact(tts["onnx"].path), settings=seeded) as ort:
        assert {r.backend for r in ort.runners.values()} == {"onnxruntime"}
        a, b, again = task.run(eager, data), task.run(ort, data), task.run(eager, data)
    for x, y, z in zip(a, b, again):
        assert x["steps"] == y["steps"] == 25 and not x["gate_fired"] and not y["gate_fired"]
        assert x["mel"].shape == (50, 20) and x["alignment"].shape[0] == 25
        np.testing.assert_allclose(x["mel"], y["mel"], atol=1e-4)
        np.testing.assert_array_equal(x["mel"], z["mel"])  # the same prenet seed twice: the same mels
    with task.driver(tts["capped"], settings=SynthesisSettings(max_steps=25, prenet_seed=4)) as eager:
        other = task.run(eager, data)
    ts = export_model(tts["capped"].path, "torchscript", tmp_path / "ts", validation_data=str(tts["texts"]),
                      max_validation_utts=1, threads=1)
    with task.driver(load_artifact(ts.path), settings=seeded) as scripted:
        assert {r.backend for r in scripted.runners.values()} == {"torchscript"}
        for x, y in zip(a, task.run(scripted, data)):
            assert x["steps"] == y["steps"]
            np.testing.assert_allclose(x["mel"], y["mel"], atol=1e-4)
    assert not np.allclose(other[0]["mel"], a[0]["mel"])  # the masks matter, so the seed is what fixes them

    # dropout off: the loop over the graphs equals the model's own infer(), outside every runner
    off = SynthesisSettings(max_steps=25, prenet_seed=None)
    with task.driver(tts["capped"], settings=off) as eager:
        mine = task.run(eager, data)
    model = load_pytorch_model(tts["capped"])
    for item, out in zip(data.items, mine):
        ref = model.infer(torch.from_numpy(item["tokens"]), torch.from_numpy(item["lengths"]), max_steps=25,
                          prenet_seed=None)
        np.testing.assert_allclose(out["mel"], ref["mel"][0].numpy(), atol=1e-5)


def test_the_gate_stops_the_loop(tts, one_thread):
    from speechopt.tasks import get_task

    task = get_task("tts")
    data = task.load_data(tts["fires"], SENTENCES)
    with task.driver(tts["fires"]) as d:
        out = task.run(d, data)
    assert all(o["gate_fired"] and o["steps"] == 1 and o["mel"].shape == (2, 20) for o in out)  # random bias fires


def test_first_chunk_stops_the_decoder_early_and_first_audio_vocodes_it(tts, one_thread):
    """Time to first audio's path: the step loop runs only until the chunk's frames (the same frames as the
    whole run's), and first_audio vocodes FIRST_AUDIO_SECONDS of them."""
    from speechopt.tasks import get_task
    from speechopt.tasks.tts.driver import SynthesisSettings
    from speechopt.tasks.tts.task import FIRST_AUDIO_SECONDS

    task = get_task("tts")
    data = task.load_data(tts["capped"], SENTENCES)
    item = data.items[1]
    with task.driver(tts["capped"], settings=SynthesisSettings(max_steps=25)) as d:
        calls = []
        step = d.runners["decoder_step"]
        infer = step.infer
        step.infer = lambda feeds: calls.append(1) or infer(feeds)
        whole = d(item)
        n_whole = len(calls)
        chunk = d.first_chunk(item, 7)
        assert len(calls) - n_whole == 4  # ceil(7 / reduction 2) steps, not the 25 of the whole sentence
        assert int(chunk["mel_lengths"][0]) == 8 and int(chunk["steps"][0]) == 4
        np.testing.assert_array_equal(chunk["mel_before_postnet"][0], whole["mel_before_postnet"][0, :8])
        audio = task.first_audio(tts["capped"], d, item, threads=1)
    frames = int(np.ceil(FIRST_AUDIO_SECONDS * 16000 / 200)) + 1
    assert audio.shape == ((frames - 1) * 200,)


def test_griffin_lim_is_deterministic_with_the_expected_length():
    from speechopt.audio.mel import MelConfig
    from speechopt.models.tts.griffin_lim import GriffinLimSettings, griffin_lim

    cfg = MelConfig(n_mels=20)
    mel = np.random.default_rng(0).standard_normal((40, 20)).astype(np.float32) - 4.0
    a, b = griffin_lim(mel, cfg), griffin_lim(mel, cfg)
    assert a.shape == (39 * cfg.hop_length,) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    s1, s2 = griffin_lim(mel, cfg, GriffinLimSettings(init=7)), griffin_lim(mel, cfg, GriffinLimSettings(init=7))
    np.testing.assert_array_equal(s1, s2)
    assert not np.allclose(s1, a)
    assert griffin_lim(mel[:2], cfg).shape == (cfg.hop_length,)  # shorter than half an FFT: padded, then trimmed
    with pytest.raises(SpeechoptError, match="shape"):
        griffin_lim(mel[:, :10], cfg)


def test_mcd_formula_and_dtw():
    from speechopt.tasks.tts.metrics import MCD_CONSTANT, mcd, mel_l1

    rng = np.random.default_rng(0)
    a = rng.standard_normal((30, 20))
    assert mcd(a, a)["mcd_db"] == 0.0
    # a level shift (c0) alone changes nothing: c0 is excluded
    assert mcd(a, a + 3.0)["mcd_db"] == pytest.approx(0.0, abs=1e-9)
    # ln M(w) = c0 + 2 sum c_m cos(m w): raising c1 by 0.5 gives 10*sqrt(2)/ln(10) * 0.5 dB on every frame
    w = np.pi * (np.arange(20) + 0.5) / 20
    assert mcd(a, a + 2 * 0.5 * np.cos(w))["mcd_db"] == pytest.approx(MCD_CONSTANT * 0.5)
    assert MCD_CONSTANT == pytest.approx(6.1418, abs=1e-4)
    # a repeated frame: DTW pairs it with its copy, so the distortion stays zero
    stretched = np.concatenate([a[:10], a[9:10], a[10:]])
    r = mcd(a, stretched)
    assert r["dtw"] and r["mcd_db"] == pytest.approx(0.0, abs=1e-9) and r["frames"] == 31
    assert mel_l1(a, a[:20] + 1.0) == pytest.approx(1.0)


def _cli(*args):
    from speechopt.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_synth_cli_writes_a_readable_wav(tts, tmp_path):
    import soundfile as sf

    out = tmp_path / "hello.wav"
    r = _cli("synth", tts["onnx"].path, "--text", "Hello world", "-o", out, "--max-steps", "12", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    info = sf.info(str(out))
    assert info.samplerate == 16000 and info.subtype == "PCM_16" and info.channels == 1
    assert info.frames == (24 - 1) * 200  # 12 steps x 2 frames, (frames - 1) * hop samples
    row = result["results"][0]
    assert row["gate_fired"] is False and result["capped"] == 1 and row["rtf"] > 0
    assert "audio seconds / wall seconds" in result["rtf_definition"]
    assert "never fired the stop gate" in r.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left

    folder = tmp_path / "many"
    r = _cli("synth", tts["fires"].path, "--texts", tts["texts"], "-o", folder)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in folder.iterdir()) == ["0001.wav", "0002.wav", "0003.wav"]
    assert "real-time factor" in r.stdout


def test_synth_bad_input_is_one_line(tts, tiny_models, tmp_path):
    from conftest import one_error_line

    out = tmp_path / "x.wav"
    assert "synth needs a tts artifact, this one is asr" in one_error_line(
        _cli("synth", tiny_models["crnn-ctc"], "--text", "hello", "-o", out))
    assert "empty" in one_error_line(_cli("synth", tts["fires"].path, "--text", "  ", "-o", out))
    line = one_error_line(_cli("synth", tts["fires"].path, "--text", "I have 3 cats", "-o", out))
    assert "cannot spell: '3'" in line and "nothing was dropped" in line
    assert "the limit is 300" in one_error_line(_cli("synth", tts["fires"].path, "--text", "word " * 80, "-o", out))
    assert "need an output folder" in one_error_line(_cli("synth", tts["fires"].path, "--texts", tts["texts"],
                                                          "-o", out))
    assert not out.exists()
    assert "transcribe needs an asr artifact, this one is tts" in one_error_line(
        _cli("transcribe", tts["fires"].path, tts["texts"]))


def test_validation_refuses_a_different_model(tts, tmp_path, one_thread):
    from speechopt.tasks import get_task

    task = get_task("tts")
    other = _tiny_tts(tmp_path / "other", gate_bias=-20.0, seed=1)
    data = task.load_data(tts["capped"], SENTENCES[:1])
    with pytest.raises(SpeechoptError, match="validation failed: the first decoder step"):
        task.validate_export(tts["capped"], other, data, atol=1e-3)


def test_artifact_from_a_training_run(tts, tmp_path):
    from safetensors.torch import save_file

    from speechopt.artifact import load_artifact
    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.models.tts.artifact import artifact_from_run

    src = load_pytorch_model(tts["capped"])
    run = tmp_path / "run"
    run.mkdir()
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(run / "model.safetensors"))
    m = tts["capped"].manifest
    (run / "config.json").write_text(json.dumps({"architecture": m["architecture"], "tokenizer": m["tokenizer"],
                                                 "mel": m["mel"], "inference": {"gate_threshold": 0.5}}))
    art = load_artifact(artifact_from_run(run, tmp_path / "art").path)
    assert art.task == "tts" and art.manifest["mel"] == m["mel"] and art.manifest["tokenizer"] == m["tokenizer"]
    assert list(art.graphs) == ["encoder", "decoder_step", "postnet"]
    assert art.manifest["lineage"]["step"] == "import-tts-run"
    for (k, a), b in zip(src.state_dict().items(), load_pytorch_model(art).state_dict().values()):
        assert (a == b).all(), k
    (run / "model.safetensors").unlink()
    with pytest.raises(SpeechoptError, match="model.safetensors is missing"):
        artifact_from_run(run, tmp_path / "art2")


def test_eval_scores_alignment_and_roundtrip(tts, tmp_path, one_thread):
    from speechopt.evaluate import evaluate_artifact

    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"text": t}) + "\n" for t in SENTENCES[:2]))
    r = evaluate_artifact(tts["fires"].path, manifest, threads=1)
    assert r["gate_fired"] == 1.0 and 0.0 <= r["monotonic"] <= 1.0
    assert r["utterances"] == 2 and r["wer"] >= 0.9 and r["vocoder"]["name"] == "griffin-lim"  # random weights


def test_eval_against_the_own_audio_and_its_floor(tts, tiny_corpus, one_thread):
    """A manifest with audio: mel L1 and MCD (DTW) against it, and the ASR's floor on it."""
    from speechopt.evaluate import evaluate_artifact

    r = evaluate_artifact(tts["fires"].path, tiny_corpus, max_items=2, threads=1)
    own = r["own_audio"]
    assert own["sentences"] == 2 and own["mcd_db"] > 0 and own["mel_l1"] > 0 and own["same_length"] == 0.0
    assert "c0 excluded" in own["mcd_formula"]
    assert r["floor"]["utterances"] == 2 and 0.0 <= r["floor"]["wer"] <= 1.5
    assert r["vocoder_only"]["utterances"] == 2  # Griffin-Lim of the true mel: the vocoder's share


def test_bench_reports_mel_drift_and_mcd_budgets(tts, tiny_models, tiny_corpus):
    from speechopt.bench.budgets import Budgets
    from speechopt.bench.harness import BenchSettings, bench, summary_rows

    fast = dict(batch_sizes=[1], threads=1, warmup=1, min_iters=2, min_passes=1, min_seconds=0.0)
    report = bench([str(tts["onnx"].path)], str(tts["capped"].path), BenchSettings(data=str(tts["texts"]), **fast),
                   budgets=Budgets.from_options(["mcd=0.5", "mel_l1=0.01", "roundtrip_wer=100"]), log=lambda *_: None)
    rows = {r["format"]: r for r in summary_rows(report)}
    assert set(rows) == {"pytorch", "onnx"} and report["task"] == "tts"
    onnx = rows["onnx"]
    assert onnx["drift"]["mcd"] < 0.01 and onnx["drift"]["mel_l1"] < 1e-4
    assert onnx["same_length"] == 1.0 and onnx["gate_fired"] == 0.0 and onnx["rtfx"] > 0
    assert onnx["roundtrip_wer"] is not None and onnx["drift"]["roundtrip_wer"] is not None  # bundled ASR on Griffin-Lim
    assert isinstance(onnx["si_sdr_db"], float)  # same length: sample-aligned, so SI-SDR is defined
    assert report["breaches"] == []
    assert onnx["first_audio_ms"] > 0 and rows["pytorch"]["first_audio_ms"] > 0  # time to first audio
    # the HTML report's media: the first sentences of each variant, as the round trip hears them
    for r in report["results"]:
        media = r["media"]
        assert 1 <= len(media) <= 3 and media[0]["text"] == tts_texts(tts)[0]
        assert media[0]["wav"][:4] == b"RIFF" and media[0]["png"][:4] == b"\x89PNG"
    with pytest.raises(SpeechoptError, match="no metric named 'mcd'"):
        bench([str(tiny_models["crnn-ctc"])], str(tiny_models["crnn-ctc"]), BenchSettings(data=str(tiny_corpus), **fast),
              budgets=Budgets.from_options(["mcd=0.5"]))


def tts_texts(tts):
    return [line for line in tts["texts"].read_text().splitlines() if line.strip()]


def test_quantize_one_graph_keeps_the_others_float(tts, tmp_path):
    """A per-graph trial: --graph decoder_step quantizes the step graph only; the encoder and postnet files
    are the float ones, byte for byte, and the manifest says why; an unknown graph is one line."""
    from speechopt.artifact import load_artifact
    from speechopt.steps.quantize import QuantizeSettings, quantize

    src = tts["onnx"]
    out = quantize(src.path, tmp_path / "q", QuantizeSettings(method="dynamic", graphs=["decoder_step"]),
                   validation_data=str(tts["texts"]))
    q = load_artifact(out.path)
    graphs = q.manifest["quantization"]["graphs"]
    assert "skipped" in graphs["encoder"] and "skipped" in graphs["postnet"] and "op_types" in graphs["decoder_step"]
    for g in ("encoder", "postnet"):
        assert q.file(q.graphs[g]["file"]).read_bytes() == src.file(src.graphs[g]["file"]).read_bytes()
    assert q.file(q.graphs["decoder_step"]["file"]).read_bytes() != src.file(src.graphs["decoder_step"]["file"]).read_bytes()
    with pytest.raises(SpeechoptError, match="has no graph 'decoder'"):
        quantize(src.path, tmp_path / "q2", QuantizeSettings(graphs=["decoder"]), validation_data=str(tts["texts"]))
    assert not (tmp_path / "q2").exists()


def test_in_graph_loop_export_matches_the_step_loop(tts, tmp_path):
    """export --loop graph: Tacotron 2's whole decoder loop as one ONNX graph (a Loop); the driver feeds it the
    same prenet masks as the step mode draws, so both modes give the same steps and (to float rounding) mels,
    also when the gate never fires (the cap)."""
    from speechopt.artifact import load_artifact
    from speechopt.steps.export import export_model
    from speechopt.tasks import get_task

    texts = str(tts["texts"])
    for name in ("fires", "capped"):
        src = tts[name]
        loop = load_artifact(export_model(src.path, "onnx", tmp_path / name, validation_data=texts,
                                          max_validation_utts=2, threads=1, loop="graph").path)
        assert list(loop.graphs) == ["encoder", "decoder_loop", "postnet"] and loop.manifest["export_loop"] == "graph"
        assert loop.manifest["validation"]["same_gate_step"] is True
        task = get_task("tts")
        data = task.load_data(src, tts["texts"])
        with task.driver(src, threads=1) as a, task.driver(loop, threads=1) as b:
            assert b.in_graph and not a.in_graph
            ref, out = task.run(a, data, progress=False), task.run(b, data, progress=False)
        for x, y in zip(ref, out):
            assert x["steps"] == y["steps"] and x["gate_fired"] == y["gate_fired"]
            assert x["mel"].shape == y["mel"].shape and np.abs(x["mel"] - y["mel"]).max() < 1e-3
            assert np.abs(x["alignment"] - y["alignment"]).max() < 1e-3
    with pytest.raises(SpeechoptError, match="--loop graph exports to onnx"):
        export_model(tts["fires"].path, "torchscript", tmp_path / "ts", validation_data=texts, loop="graph")
    with pytest.raises(SpeechoptError, match="unknown --loop"):
        export_model(tts["fires"].path, "onnx", tmp_path / "x", validation_data=texts, loop="python")


def test_engine_profiles_come_from_the_sentences():
    """TensorRT profile ranges for Tacotron 2 from zoo:tts-eval: text from the token counts, frames from one
    decoder step to the loop's cap, opt at the own audio's median; the in-graph loop's cap likewise."""
    from speechopt.artifact import load_artifact
    from speechopt.tasks import get_task
    from speechopt.zoo import resolve

    task = get_task("tts")
    art = load_artifact(resolve("zoo:tacotron2"))
    ranges, source = task.profile_dims(art, resolve("zoo:tts-eval"))
    data = task.load_data(art, resolve("zoo:tts-eval"))
    lengths = data.lengths
    assert ranges["batch"] == (1, 1, 1)
    assert ranges["text"][0] == min(lengths) and ranges["text"][2] >= max(lengths) and ranges["text"][2] % 50 == 0
    r = art.architecture["config"]["reduction"]
    assert ranges["frames"][0] == r and ranges["frames"][2] == r * task.settings.cap(ranges["text"][2], r)
    frames = sorted(int(d * 16000) // 200 + 1 for d in data.durations)
    assert ranges["frames"][1] == int(np.median(frames)) and source["frames_opt_from"] == "the own audio's median"
    assert ranges["cap"] == tuple(task.settings.cap(t, r) for t in ranges["text"])
    ranges8, _ = task.profile_dims(art, resolve("zoo:tts-eval"), batch=(1, 4, 8))
    assert ranges8["batch"] == (1, 4, 8)


def test_build_engines_for_the_three_tts_graphs(tts, tmp_path, monkeypatch):
    """build_engine on a Tacotron 2 ONNX export around a FAKE native build (no TensorRT here): one engine per
    graph, each with its profile from the sentences; the TTS fields travel to the engine's manifest; ASR
    shapes are refused in one line."""
    import sys
    import types
    from pathlib import Path

    import speechopt.backends.tensorrt.builder as builder
    import speechopt.steps.build as build
    from speechopt.artifact import load_artifact

    built = {}

    def fake_build_native(onnx_path, shapes, plan, precision, *args):
        built[Path(onnx_path).stem] = shapes
        return b"PLAN", {"build_seconds": 0.5, "timing_cache_note": None}

    monkeypatch.setattr(build, "_require", lambda via: None)
    monkeypatch.setattr(build, "current_gpu", lambda: ("NVIDIA L4", "8.9"))
    monkeypatch.setattr(builder, "build_native", fake_build_native)
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.13.0.35"))
    with pytest.raises(SpeechoptError, match="ASR model's BATCHxFRAMES"):
        build.build_engine(tts["onnx"].path, tmp_path / "bad", min_shape=(1, 8), opt_shape=(1, 8), max_shape=(1, 8))
    with pytest.raises(SpeechoptError, match="--profile-from-data MANIFEST"):
        build.build_engine(tts["onnx"].path, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    art = load_artifact(build.build_engine(tts["onnx"].path, tmp_path / "eng", profile_from_data=str(tts["texts"])).path)
    assert sorted(built) == ["decoder_step", "encoder", "postnet"] and list(art.graphs) == list(tts["onnx"].graphs)
    dims = art.manifest["tensorrt"]["dims"]
    from speechopt.tasks import get_task

    lengths = get_task("tts").load_data(tts["onnx"], tts["texts"]).lengths
    assert dims["text"][0] == min(lengths) and dims["batch"] == [1, 1, 1]
    assert built["encoder"]["tokens"] == {"min": [1, min(lengths)], "opt": [1, dims["text"][1]], "max": [1, dims["text"][2]]}
    assert built["decoder_step"]["memory"]["max"] == [1, dims["text"][2], 16]
    assert built["postnet"]["decoder_mel"]["max"] == [1, dims["frames"][2], 20]
    assert art.manifest["tensorrt"]["profile_source"]["frames_opt_from"] == "the median text's step cap"
    for key in ("tokenizer", "mel"):
        assert art.manifest[key] == tts["onnx"].manifest[key]
    with pytest.raises(SpeechoptError, match="torch-tensorrt compiles one-graph ASR"):
        build.build_engine(tts["onnx"].path, tmp_path / "tt", via="torch-tensorrt", profile_from_data=str(tts["texts"]))


def test_bench_without_data_uses_the_tasks_bundled_set(tmp_path):
    """`speechopt bench zoo:fastspeech` with no --data measures zoo:tts-eval (the TTS task's set), not zoo:eval."""
    from typer.testing import CliRunner

    from speechopt.cli import app

    r = CliRunner().invoke(app, ["bench", "zoo:fastspeech", "--max-utterances", "1", "--min-iters", "1",
                                 "--min-seconds", "0", "--batch-sizes", "1", "--threads", "1",
                                 "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "r.json").read_text())["settings"]["data"]
    assert data.endswith("tts-eval") or "tts-eval" in data
