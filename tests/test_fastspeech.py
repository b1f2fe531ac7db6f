"""FastSpeech (tiny configs): shapes and masks, the tensor-op length regulator against repeat_interleave,
predicted-duration rules, token durations from a synthesized corpus, a few training steps, the one-graph
ONNX export with dynamic text and frame lengths, deterministic inference."""

import warnings

import numpy as np
import pytest
import torch

from speechopt.models.tts.fastspeech import FastSpeech, fastspeech_losses, length_regulate
from speechopt.models.tts.fastspeech_export import FastSpeechExportConfig

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(n_mels=12, d_model=16, heads=2, ffn_dim=24, encoder_layers=1, decoder_layers=1, predictor_channels=16)
POSTNET = dict(postnet_layers=3, postnet_channels=8, postnet_kernel=5)


def _model(seed=0, bias=1.0, **kw):
    torch.manual_seed(seed)
    m = FastSpeech(**{**TINY, **kw}).eval()
    with torch.no_grad():  # untrained: predicted durations around exp(1) - 1 = 1.7 frames, varied by the input
        m.duration_predictor.proj.bias.fill_(bias)
    return m


def _batch():
    tokens = torch.tensor([[5, 6, 7, 2, 8, 9, 1], [10, 11, 2, 12, 1, 0, 0], [13, 14, 1, 0, 0, 0, 0]])
    lengths = torch.tensor([7, 5, 3])
    durations = torch.tensor([[2, 0, 3, 1, 1, 4, 1], [1, 2, 0, 5, 1, 0, 0], [3, 0, 2, 0, 0, 0, 0]])
    return tokens, lengths, durations


def _naive_regulate(x, durations, lengths):
    rows = [torch.repeat_interleave(x[b, : lengths[b]], durations[b, : lengths[b]], dim=0) for b in range(len(x))]
    return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)


def test_length_regulator_equals_repeat_interleave():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 9, 5, generator=g)
    lengths = torch.tensor([9, 4, 1, 6])
    durations = torch.randint(0, 5, (4, 9), generator=g) * (torch.arange(9)[None] < lengths[:, None])
    durations[2, 0] = 3
    out, totals = length_regulate(x, durations)
    ref = _naive_regulate(x, durations, lengths)
    assert torch.equal(totals, durations.sum(1))
    assert out.shape == ref.shape and torch.equal(out, ref)  # 0/1 matmul copies exactly


@pytest.mark.parametrize("extra", [{}, POSTNET], ids=["plain", "postnet"])
def test_forward_shapes_and_masks(extra):
    m = _model(**extra)
    tokens, lengths, durations = _batch()
    with torch.no_grad():
        mel, mel_lengths, used, log_d = m(tokens, lengths, durations)
    assert mel.shape == (3, 12, 12) and mel_lengths.tolist() == [12, 9, 5]
    assert torch.equal(used, durations) and log_d.shape == (3, 7)
    assert float(log_d[1, 5:].abs().max()) == 0.0 and float(log_d[2, 3:].abs().max()) == 0.0
    assert float(mel[1, 9:].abs().max()) == 0.0 and float(mel[2, 5:].abs().max()) == 0.0
    # padding does not leak: each sentence alone gives what it gives in the padded batch
    for b in range(3):
        n, f = int(lengths[b]), int(mel_lengths[b])
        with torch.no_grad():
            alone, _, _, log_alone = m(tokens[b : b + 1, :n], lengths[b : b + 1], durations[b : b + 1, :n])
        assert torch.allclose(alone[0], mel[b, :f], atol=1e-5)
        assert torch.allclose(log_alone[0], log_d[b, :n], atol=1e-5)


def test_predicted_durations_rules():
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    log_d = torch.log1p(torch.tensor([[1.4, -0.9, 2.6, 7.0], [0.2, 0.3, 5.0, 5.0]]))
    d = FastSpeech.predicted_durations(log_d, mask)
    assert d.dtype == torch.int64 and d.tolist() == [[1, 0, 3, 0], [1, 0, 0, 0]]  # clamp >= 0, padding 0, >= 1 frame
    d2 = FastSpeech.predicted_durations(log_d, mask, torch.tensor([2.0, 1.0]))
    assert d2[0].tolist() == [3, 0, 5, 0]
    m = _model()
    tokens, lengths, _ = _batch()
    out = m.infer(tokens, lengths)
    assert torch.equal(out["mel_lengths"], out["durations"].sum(1)) and bool((out["mel_lengths"] >= 1).all())
    slow = m.infer(tokens, lengths, duration_scale=3.0)
    assert bool((slow["mel_lengths"] > out["mel_lengths"]).all())


def test_inference_is_deterministic():
    m = _model()
    m.train()  # infer switches dropout off and restores the mode
    tokens, lengths, _ = _batch()
    a, b = m.infer(tokens, lengths), m.infer(tokens, lengths)
    assert m.training
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_parameter_count_of_the_default_config():
    n = sum(p.numel() for p in FastSpeech().parameters())
    assert 1_000_000 < n < 2_000_000, n


@pytest.fixture(scope="module")
def tts_corpus(tmp_path_factory):
    from speechopt.data.tts_corpus import TtsSynthSettings, synth_tts_corpus

    out = tmp_path_factory.mktemp("fs") / "c"
    synth_tts_corpus(out, TtsSynthSettings(num=4, seed=0))
    return out


def test_token_durations_sum_to_frames(tts_corpus):
    from speechopt.audio.io import load_audio
    from speechopt.audio.mel import MelConfig
    from speechopt.data.tts_corpus import read_tts_manifest
    from speechopt.models.tts.durations import token_durations, token_durations_ms

    c = MelConfig()
    rows = read_tts_manifest(tts_corpus / "manifest.jsonl")
    assert any("," in r["text"] for r in rows)
    for row in rows:
        text = row["text"]
        frames = c.num_frames(len(load_audio(row["audio_filepath"], c.sample_rate)))
        ms = token_durations_ms(text, row["words"], row["phonemes"], row["phoneme_ms"])
        assert ms.sum() == pytest.approx(sum(row["phoneme_ms"]), abs=1e-6)  # time is conserved
        d = token_durations(row, frames, c.hop_length, c.sample_rate)
        assert len(d) == len(text) + 1 and sum(d) == frames and min(d) >= 0
        letters = [d[i] for i, ch in enumerate(text) if ch.isalpha()]
        assert np.mean([x > 0 for x in letters]) > 0.9  # ~5 frames a character: nearly all get some
        for i, ch in enumerate(text):
            if ch == ",":  # espeak pauses ~150-200 ms at a comma: the comma token takes it
                assert d[i] >= 8, (text, d)
            if ch == " " and text[i - 1].isalpha():
                assert d[i] == 0  # no pause between words in a clause


@pytest.mark.parametrize("extra", [{}, POSTNET], ids=["plain", "postnet"])
def test_training_steps_lower_the_loss(tts_corpus, extra):
    from speechopt.audio.mel import MelConfig
    from speechopt.train_fastspeech import FastSpeechDataset, fastspeech_train_losses, validate_fastspeech
    from speechopt.tts_text import TtsTokenizer

    data = FastSpeechDataset(tts_corpus, MelConfig(), TtsTokenizer(), log=lambda m: None)
    assert data.uniform == 0 and all(int(d.sum()) == f for d, f in zip(data.durations, data.frames))
    torch.manual_seed(0)
    m = FastSpeech(**{**TINY, "n_mels": 80, **extra})
    m.train()
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    batch = data.batch([0, 1, 2, 3])
    losses = []
    for _ in range(25):
        loss, parts = fastspeech_train_losses(m, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < 0.8 * losses[0], losses
    # with a post-net both mels are trained (Tacotron 2's two L1 terms); `l1` is the output's
    assert ("l1_decoder" in parts) == bool(extra)
    assert parts["loss"] == pytest.approx(parts["l1"] + parts["duration"] + parts.get("l1_decoder", 0.0), rel=1e-5)
    v = validate_fastspeech(m, data)
    assert {"val_l1", "val_duration", "length_ratio", "duration_mae"} <= set(v) and v["length_ratio"] > 0
    with pytest.raises(ValueError):  # durations that do not sum to the frames are refused
        tokens, tl, mels, fl, durations = batch
        fastspeech_losses(m, tokens, tl, mels, fl + 1, durations)


def _export(model, config, path):
    from speechopt.artifact import dynamic_axes

    inputs, outputs = config.graphs()["model"]
    module = config.modules(model)["model"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, config.example_inputs("model"), str(path), dynamo=False, opset_version=17,
                          input_names=[t["name"] for t in inputs], output_names=[t["name"] for t in outputs],
                          dynamic_axes=dynamic_axes(inputs + outputs))
    return module, [t["name"] for t in outputs]


@pytest.mark.parametrize("extra", [{}, POSTNET], ids=["plain", "postnet"])
def test_onnx_export_keeps_text_and_frames_dynamic(tmp_path, extra):
    ort = pytest.importorskip("onnxruntime")
    m = _model(**extra)
    config = FastSpeechExportConfig({"architecture": {"name": "fastspeech", "config": {**TINY, **extra}}})
    assert config.onnx_exporters(m)[0] == ["legacy"] and list(config.graphs()) == ["model"]
    module, names = _export(m, config, tmp_path / "model.onnx")
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])

    def both(feed):
        with torch.no_grad():
            ref = dict(zip(names, (t.numpy() for t in module(*(torch.from_numpy(v) for v in feed.values())))))
        return ref, dict(zip(names, sess.run(names, feed)))

    example = {k: v.numpy() for k, v in zip(("tokens", "lengths", "duration_scale"), config.example_inputs("model"))}
    seen_frames = {both(example)[0]["mel"].shape[1]}
    shapes = []
    for feed in config.check_inputs("model"):
        ref, out = both(feed)
        assert config.compare("model", feed, ref, out) < 1e-4  # shapes equal, ints exact, floats within 1e-4
        assert np.array_equal(ref["mel_lengths"], ref["durations"].sum(1))
        shapes.append((feed["tokens"].shape, out["mel"].shape[1]))
        seen_frames.add(out["mel"].shape[1])
    assert len({s[0] for s in shapes}) == len(shapes) and len(seen_frames) == len(shapes) + 1, shapes
    # the same sentence with other durations: another frame count from the same graph
    feed = config.check_inputs("model")[0]
    lengths = [sess.run(["mel_lengths"], {**feed, "duration_scale": np.full_like(feed["duration_scale"], s)})[0][0]
               for s in (1.0, 2.0, 4.0)]
    assert lengths[0] < lengths[1] < lengths[2], lengths


def test_registry_entry_matches_the_constructor():
    from speechopt.errors import SpeechoptError
    from speechopt.models.registry import get_architecture
    from speechopt.models.tts.fastspeech_export import default_config

    try:
        arch = get_architecture("fastspeech")
    except SpeechoptError:
        pytest.skip("fastspeech is not registered yet")
    assert arch.task == "tts" and arch.defaults == default_config()
    assert isinstance(arch.export_config({"architecture": {"name": "fastspeech", "config": {}}}), FastSpeechExportConfig)


def test_fastspeech_through_the_tts_task_and_synth(tmp_path, one_thread):
    """Registered, it exports through the export step (validated by the TTS task), runs the same on pytorch and
    ONNX Runtime through the task's one-graph driver, and `synth` speaks with it."""
    import numpy as np
    from typer.testing import CliRunner

    from speechopt.audio.mel import MelConfig
    from speechopt.cli import app
    from speechopt.models.pytorch import save_pytorch_artifact
    from speechopt.models.registry import build_model
    from speechopt.models.tts.artifact import tts_fields
    from speechopt.steps.export import export_model
    from speechopt.tasks import get_task
    from speechopt.tts_text import TtsTokenizer

    tok = TtsTokenizer()
    config = {"vocab_size": len(tok), "n_mels": 20, "d_model": 16, "heads": 2, "ffn_dim": 32, "encoder_layers": 1,
              "decoder_layers": 1, "predictor_channels": 16}
    torch.manual_seed(0)
    model = build_model("fastspeech", config).eval()
    with torch.no_grad():  # a few frames per token, so sentences have a length to compare
        model.duration_predictor.proj.bias.fill_(1.5)
    art = save_pytorch_artifact(tmp_path / "fs", model, "fastspeech", config, tts_fields(tok, MelConfig(n_mels=20)))
    texts = tmp_path / "texts.txt"
    texts.write_text("hello world.\nthe cat sat on the mat.\n")
    onnx = export_model(art.path, "onnx", tmp_path / "fs.onnx", validation_data=str(texts), threads=1)
    assert list(onnx.graphs) == ["model"] and onnx.manifest["validation"]["passed"]
    task = get_task("tts")
    data = task.load_data(art, texts)
    with task.driver(art) as eager, task.driver(onnx) as ort:
        a, b = task.run(eager, data, progress=False), task.run(ort, data, progress=False)
    for x, y in zip(a, b):
        assert x["mel"].shape == y["mel"].shape and x["gate_fired"] and y["gate_fired"]
        np.testing.assert_allclose(x["mel"], y["mel"], atol=1e-4)
    r = CliRunner().invoke(app, ["synth", str(onnx.path), "--text", "a cat.", "-o", str(tmp_path / "a.wav")])
    assert r.exit_code == 0, r.output


def test_postnet_is_a_residual_on_the_decoder_mel():
    tokens, lengths, durations = _batch()
    plain, post = _model(), _model(**POSTNET)
    with torch.no_grad():
        d0, m0, *_ = plain.synthesize(tokens, lengths, durations)
        d1, m1, l1, *_ = post.synthesize(tokens, lengths, durations)
        residual = post.postnet(d1, torch.arange(m1.shape[1])[None] < l1[:, None])
    assert m0 is d0 and plain.postnet is None  # the bundled configs (no post-net) are unchanged
    assert torch.allclose(m1, d1 + residual) and float(residual.abs().max()) > 0
    assert float(m1[2, int(l1[2]):].abs().max()) == 0.0  # still zero past each sentence
