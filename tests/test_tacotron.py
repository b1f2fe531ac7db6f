"""Tacotron (Wang et al. 2017; tiny configs): shapes, padding invariance of the CBHGs, inference stop and
zeroing, the prenet seed, the three export graphs (against the teacher-forced path, and the export config's
declared shapes), the log linear magnitude through the dataset, the losses and Griffin-Lim, and the whole path
train -> artifact -> ONNX -> the TTS driver on both backends -> `speechopt synth`."""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import pytest
import torch
from conftest import assert_scheduled_sampling
from torch import nn

from speechopt.errors import SpeechoptError
from speechopt.models.tts.layers import lengths_to_mask
from speechopt.models.tts.tacotron import Tacotron

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(embedding_dim=16, encoder_prenet_dims=(16, 8), encoder_bank=3, cbhg_channels=8, highway_layers=1,
            encoder_gru=8, prenet_dims=(16, 8), attention_rnn_dim=16, attention_dim=8, decoder_rnn_dim=16, post_bank=3,
            post_gru=8, reduction=2)
TINY_JSON = {k: list(v) if isinstance(v, tuple) else v for k, v in TINY.items()}  # as a run config stores it
N_MELS, N_FREQ = 80, 513
SENTENCES = ["hello world.", "a b c!"]


def _model(**kw):
    torch.manual_seed(0)
    return Tacotron(**{**TINY, **kw}).eval()


def _batch(r=2, steps=5):
    tokens = torch.tensor([[5, 6, 7, 2, 8, 9, 1], [10, 11, 2, 12, 1, 0, 0], [13, 14, 1, 0, 0, 0, 0]])
    lengths = torch.tensor([7, 5, 3])
    torch.manual_seed(1)
    return tokens, lengths, torch.randn(3, steps * r, N_MELS)


def _randomize_batchnorm(model):
    """Non-trivial eval statistics: fresh BatchNorms (mean 0, var 1, bias 0) would map zero padding to zero
    whether or not it is masked, and hide a missing mask."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm1d):
                n = mod.num_features
                mod.running_mean.copy_(torch.randn(n, generator=g))
                mod.running_var.copy_(0.5 + torch.rand(n, generator=g))
                mod.weight.copy_(1.0 + 0.3 * torch.randn(n, generator=g))
                mod.bias.copy_(torch.randn(n, generator=g))
    return model


class _ScriptedGate(nn.Module):
    """A stop gate that fires at a given decoder step per sentence (1-based): +50 from then on, -50 before."""

    def __init__(self, stops):
        super().__init__()
        self.stops = torch.tensor(stops)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return torch.where(self.calls >= self.stops, 50.0, -50.0).to(x.dtype)[: x.shape[0], None]


# -- the model ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("r", [1, 3])
def test_forward_shapes(r):
    m = _model(reduction=r)
    tokens, lengths, mels = _batch(r)
    mel, linear, gate, align = m(tokens, lengths, mels)
    assert mel.shape == mels.shape == (3, 5 * r, N_MELS)
    assert linear.shape == (3, 5 * r, N_FREQ) and m.n_freq == N_FREQ
    assert gate.shape == (3, 5) and align.shape == (3, 5, 7)
    assert torch.isfinite(linear).all() and torch.isfinite(mel).all()
    assert torch.allclose(align.sum(-1), torch.ones(3, 5), atol=1e-5)
    assert float(align[1, :, 5:].max().detach()) < 1e-3 and float(align[2, :, 3:].max().detach()) < 1e-3  # padding
    if r > 1:
        with pytest.raises(ValueError, match="multiple of the reduction factor"):
            m(tokens, lengths, mels[:, :-1])


@pytest.mark.parametrize("name", ["tacotron", "tacotron2", "fastspeech", "wavenet", "griffin-lim"])
def test_registry_defaults_are_the_constructor_defaults(name):
    """The registry completes every config the trainers write, so its defaults must be the constructors'."""
    from speechopt.models.registry import _load, get_architecture

    arch = get_architecture(name)
    params = inspect.signature(_load(arch.target).__init__).parameters
    as_json = {k: list(p.default) if isinstance(p.default, tuple) else p.default
               for k, p in params.items() if k != "self"}
    assert arch.defaults == as_json


def test_the_tacotron_registry_entry_builds_and_checks_keys():
    from speechopt.models.registry import get_architecture

    arch = get_architecture("tacotron")
    assert arch.task == "tts" and arch.target.endswith(":Tacotron")
    m = arch.build(TINY_JSON)
    assert isinstance(m, Tacotron) and m.reduction == 2 and m.encoder_dim == 16 and m.n_mels == N_MELS
    with pytest.raises(SpeechoptError, match="unknown config keys"):
        arch.build({"location_kernel": 5})  # a Tacotron 2 key


def test_step_graph_equals_teacher_forced_path():
    m = _randomize_batchnorm(_model())
    tokens, lengths, mels = _batch()
    mel, linear, gate, align = m(tokens, lengths, mels)
    g = m.export_modules()
    assert sorted(g) == ["decoder_step", "encoder", "postnet"]
    assert not any(mod.training for mod in g.values())
    memory, processed = g["encoder"](tokens, lengths)
    assert memory.shape == (3, 7, 16) and processed.shape == (3, 7, 8)
    mask = lengths_to_mask(lengths, tokens.shape[1])
    states = m.initial_states(memory)
    assert [tuple(s.shape) for s in states] == [(3, 16), (3, 16), (3, 16), (3, 16)]  # att_h, dec_h1, dec_h2, context
    prev = torch.zeros(3, N_MELS)
    ones = [torch.ones(3, 16), torch.ones(3, 8)]  # prenet masks of ones: dropout off (as the eval forward)
    frames, gates, aligns = [], [], []
    for s in range(5):
        frame, gt, att_h, d1, d2, att_w, context = g["decoder_step"](prev, *states, memory, processed, mask, *ones)
        states = (att_h, d1, d2, context)
        frames.append(frame)
        gates.append(gt)
        aligns.append(att_w)
        prev = mels[:, 2 * s + 1]  # teacher forcing: the last true frame of this step's group
    step_mel = torch.stack(frames, 1).reshape(3, 10, N_MELS)
    assert torch.allclose(step_mel, mel, atol=1e-5)
    assert torch.allclose(torch.stack(gates, 1), gate, atol=1e-5)
    assert torch.allclose(torch.stack(aligns, 1), align, atol=1e-6)
    assert torch.allclose(g["postnet"](step_mel), linear, atol=1e-5)


def test_padding_invariance_of_the_cbhgs():
    """Eval mode: each sentence of a padded batch encodes as it does alone (convs masked, GRU packed); the
    padding's memory is zero; the post-CBHG with frame lengths gives each mel's own linear magnitude."""
    m = _randomize_batchnorm(_model())
    tokens, lengths, mels = _batch()
    with torch.no_grad():
        memory, processed = m.encode(tokens, lengths)
        for i, n in enumerate(lengths.tolist()):
            alone, alone_p = m.encode(tokens[i : i + 1, :n], lengths[i : i + 1])
            assert torch.allclose(alone, memory[i : i + 1, :n], atol=1e-5), i
            assert torch.allclose(alone_p, processed[i : i + 1, :n], atol=1e-5), i
            assert float(memory[i, n:].abs().sum()) == 0.0 and float(processed[i, n:].abs().sum()) == 0.0
        frames = torch.tensor([10, 6, 3])
        padded = mels * lengths_to_mask(frames, 10).unsqueeze(-1)
        post = m.postnet_forward(padded, frames)
        for i, n in enumerate(frames.tolist()):
            assert torch.allclose(post[i : i + 1, :n], m.postnet_forward(mels[i : i + 1, :n]), atol=1e-5), i
        # without the lengths the padding is read as frames: the short mels' linear changes
        assert not torch.allclose(m.postnet_forward(padded)[2, :3], post[2, :3], atol=1e-4)


def test_infer_stops_per_sentence_and_zeroes_past_each_end():
    m = _randomize_batchnorm(_model())
    tokens, lengths, _ = _batch()
    m.gate = _ScriptedGate([2, 4, 3])
    out = m.infer(tokens, lengths, max_steps=9, prenet_seed=None)
    assert out["steps"].tolist() == [2, 4, 3] and out["gate_fired"].all()
    assert out["mel"].shape == (3, 8, N_MELS) and out["linear"].shape == (3, 8, N_FREQ)
    assert out["mel_lengths"].tolist() == [4, 8, 6] and out["alignments"].shape == (3, 4, 7)
    assert torch.equal(out["mel_before_postnet"], out["mel"])  # Tacotron's "mel" is the decoder's
    for i, n in enumerate(out["mel_lengths"].tolist()):
        assert float(out["mel"][i, n:].abs().sum()) == 0.0 and float(out["linear"][i, n:].abs().sum()) == 0.0
        assert (out["mel"][i, :n].abs().sum(-1) > 0).all() and (out["linear"][i, :n].abs().sum(-1) > 0).all()
        # the linear magnitude of the real frames only: what the post-net gives the sentence's own mel
        assert torch.allclose(out["linear"][i, :n], m.postnet_forward(out["mel"][i : i + 1, :n])[0], atol=1e-5)
        # and the whole sentence synthesizes alone as in the batch
        m.gate = _ScriptedGate([out["steps"][i].item()])
        alone = m.infer(tokens[i : i + 1, : lengths[i]], lengths[i : i + 1], max_steps=9, prenet_seed=None)
        assert torch.allclose(alone["mel"][0], out["mel"][i, :n], atol=1e-5), i
        assert torch.allclose(alone["linear"][0], out["linear"][i, :n], atol=1e-5), i
    assert not m.training  # infer restores the mode


def test_scheduled_sampling_feeds_the_models_own_frames():
    """As for Tacotron 2 (conftest.assert_scheduled_sampling)."""
    m = _randomize_batchnorm(_model())
    assert_scheduled_sampling(m, *_batch())


def test_infer_cap_and_min_steps():
    m = _model()
    tokens, lengths, _ = _batch()
    with torch.no_grad():
        m.gate.bias.fill_(-50.0)  # never fires
    out = m.infer(tokens, lengths, max_steps=7, prenet_seed=None)
    assert out["steps"].tolist() == [7, 7, 7] and not out["gate_fired"].any()
    assert out["mel"].shape == (3, 14, N_MELS) and out["linear"].shape == (3, 14, N_FREQ)
    with torch.no_grad():
        m.gate.bias.fill_(50.0)  # fires at once
    out = m.infer(tokens, lengths, max_steps=7, prenet_seed=None, min_steps=3)
    assert out["steps"].tolist() == [3, 3, 3] and out["gate_fired"].all() and out["mel"].shape[1] == 6
    m.train()
    m.infer(tokens, lengths, max_steps=2)
    assert m.training


def test_prenet_seed():
    m = _model()
    with torch.no_grad():
        m.gate.bias.fill_(-50.0)
    tokens, lengths, _ = _batch()

    def run(seed):
        return m.infer(tokens, lengths, max_steps=6, prenet_seed=seed)

    a, b = run(7), run(7)
    assert torch.equal(a["mel"], b["mel"]) and torch.equal(a["linear"], b["linear"])
    c = run(8)
    assert not torch.allclose(a["mel"], c["mel"], atol=1e-4)
    off, off2 = run(None), run(None)
    assert torch.equal(off["mel"], off2["mel"]) and torch.equal(off["linear"], off2["linear"])
    assert not torch.allclose(off["mel"], a["mel"], atol=1e-4)
    # None is "no dropout": the same as seeded masks of a dropout of 0 (all ones)
    m.prenet.dropout = 0.0
    assert torch.allclose(run(7)["mel"], off["mel"], atol=1e-6)


# -- the export config -------------------------------------------------------------------------------------

def _export_config(config=TINY_JSON):
    from speechopt.models.registry import get_architecture

    return get_architecture("tacotron").export_config({"architecture": {"name": "tacotron", "config": config}})


def test_export_config_graphs():
    from speechopt.models.tts.export import TacotronExportConfig

    cfg = _export_config()
    assert isinstance(cfg, TacotronExportConfig) and cfg.encoder_dim == 16
    graphs = cfg.graphs()
    assert list(graphs) == ["encoder", "decoder_step", "postnet"]
    enc_in, enc_out = graphs["encoder"]
    assert [(t["name"], t["dtype"], t["shape"]) for t in enc_in] == [("tokens", "int64", ["batch", "text"]),
                                                                      ("lengths", "int64", ["batch"])]
    assert [(t["name"], t["shape"]) for t in enc_out] == [("memory", ["batch", "text", 16]),
                                                           ("processed_memory", ["batch", "text", 8])]
    step_in, step_out = graphs["decoder_step"]
    assert [t["name"] for t in step_in] == ["prev_frame", "att_h", "dec_h1", "dec_h2", "context", "memory",
                                            "processed_memory", "mask", "prenet_mask_0", "prenet_mask_1"]
    assert [t["name"] for t in step_out] == ["frames", "gate", "new_att_h", "new_dec_h1", "new_dec_h2", "new_att_w",
                                             "new_context"]
    shapes = {t["name"]: t["shape"] for t in step_in + step_out}
    assert {t["name"]: t["dtype"] for t in step_in}["mask"] == "bool"
    assert shapes["prev_frame"] == ["batch", N_MELS] and shapes["frames"] == ["batch", 2 * N_MELS]
    assert shapes["gate"] == ["batch"] and shapes["new_att_w"] == ["batch", "text"]
    assert shapes["prenet_mask_0"] == ["batch", 16] and shapes["prenet_mask_1"] == ["batch", 8]
    assert shapes["att_h"] == shapes["dec_h1"] == ["batch", 16] and shapes["context"] == ["batch", 16]
    post_in, post_out = graphs["postnet"]
    assert [(t["name"], t["shape"]) for t in post_in] == [("decoder_mel", ["batch", "frames", N_MELS])]
    assert [(t["name"], t["dtype"], t["shape"]) for t in post_out] == [("linear", "float32",
                                                                        ["batch", "frames", N_FREQ])]
    assert cfg.onnx_exporters(None)[0] == ["legacy"] and "GRU" in cfg.onnx_exporters(None)[1]


def test_example_and_check_inputs_run_with_the_declared_shapes():
    from speechopt.models.registry import get_architecture

    cfg = _export_config()
    model = get_architecture("tacotron").build(TINY_JSON).eval()
    mods = cfg.modules(model)
    graphs = cfg.graphs()
    for graph, (inputs, outputs) in graphs.items():
        names = [t["name"] for t in inputs]
        feeds = [dict(zip(names, (t.numpy() for t in cfg.example_inputs(graph))))] + cfg.check_inputs(graph)
        for feed in feeds:
            assert list(feed) == names, graph
            for t in inputs:  # the inputs are what the graph declares
                assert str(feed[t["name"]].dtype) == t["dtype"], (graph, t["name"])
                assert len(feed[t["name"]].shape) == len(t["shape"]), (graph, t["name"])
            batch, _, length = cfg._shape(graph, feed)
            dims = {"batch": batch, "text": length, "frames": length}
            with torch.no_grad():
                out = mods[graph](*(torch.from_numpy(np.ascontiguousarray(feed[n])) for n in names))
            out = out if isinstance(out, tuple) else (out,)
            assert len(out) == len(outputs), graph
            for t, o in zip(outputs, out):
                want = tuple(dims[d] if isinstance(d, str) else d for d in t["shape"])
                assert tuple(o.shape) == want, (graph, t["name"], tuple(o.shape), want)
                assert torch.isfinite(o).all(), (graph, t["name"])
        if graph == "decoder_step":  # the check feeds have shorter sentences: the weights stay on real tokens
            feed = cfg.check_inputs(graph)[1]
            with torch.no_grad():
                att_w = mods[graph](*(torch.from_numpy(np.ascontiguousarray(feed[n])) for n in names))[5].numpy()
            assert (~feed["mask"]).any() and att_w[~feed["mask"]].max() < 1e-6
            np.testing.assert_allclose(att_w.sum(1), 1.0, atol=1e-5)


# -- Griffin-Lim on the linear magnitude -------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_tts_corpus(tmp_path_factory):
    from speechopt.data.tts_corpus import TtsSynthSettings, synth_tts_corpus

    out = tmp_path_factory.mktemp("tts") / "c"
    synth_tts_corpus(out, TtsSynthSettings(num=6, seed=5, max_clauses=1, max_clause_words=3))
    return out


def _utterances(corpus, k):
    from speechopt.audio.io import load_audio
    from speechopt.audio.mel import MelConfig
    from speechopt.data.tts_corpus import read_tts_manifest

    sr = MelConfig().sample_rate
    return [load_audio(row["audio_filepath"], sr) for row in read_tts_manifest(corpus)[:k]]


def test_griffin_lim_inverts_the_linear_magnitude(tiny_tts_corpus):
    from speechopt.audio.mel import MelConfig, MelExtractor
    from speechopt.data.tts_dataset import log_magnitude
    from speechopt.models.tts.griffin_lim import GriffinLimSettings, griffin_lim
    from speechopt.models.tts.vocoder import griffin_lim_vocoder

    cfg = MelConfig()
    ex = MelExtractor(cfg)
    audio = _utterances(tiny_tts_corpus, 1)[0]
    mel = ex(audio).numpy()
    lin = log_magnitude(ex, audio, cfg).numpy()
    assert lin.shape == (mel.shape[0], N_FREQ)
    settings = GriffinLimSettings()
    from_lin, from_mel = griffin_lim(mel, cfg, settings, linear=lin), griffin_lim(mel, cfg, settings)
    assert from_lin.shape == from_mel.shape == ((mel.shape[0] - 1) * cfg.hop_length,) and from_lin.dtype == np.float32
    np.testing.assert_array_equal(from_lin, griffin_lim(mel, cfg, settings, linear=lin))  # deterministic
    true = np.exp(lin.astype(np.float64))

    def spectral_l1(x):
        return float(np.abs(ex.magnitude(torch.from_numpy(x)).numpy() - true).mean())

    lin_err, mel_err = spectral_l1(from_lin), spectral_l1(from_mel)
    # measured: ~0.026 against ~0.15 (the mel's pseudo-inverse loses the harmonics)
    assert lin_err < 0.5 * mel_err, (lin_err, mel_err)
    assert lin_err < 0.1 * float(true.mean())

    # the vocoder passes it through, one clip or many
    voc = griffin_lim_vocoder(cfg, settings)
    np.testing.assert_array_equal(voc(mel, linear=lin), from_lin)
    many = voc.many([mel, mel], linears=[lin, None])
    np.testing.assert_array_equal(many[0], from_lin)
    np.testing.assert_array_equal(many[1], from_mel)
    assert griffin_lim(mel[:2], cfg, linear=lin[:2]).shape == (cfg.hop_length,)  # short: padded, then trimmed

    for bad in (lin[:-1], lin[:, :-1], lin[None]):
        with pytest.raises(SpeechoptError, match="linear magnitude of shape") as exc:
            griffin_lim(mel, cfg, settings, linear=bad)
        assert "\n" not in str(exc.value) and str((mel.shape[0], N_FREQ)) in str(exc.value)


# -- dataset and losses ------------------------------------------------------------------------------------

def test_dataset_linear_target_and_tacotron_losses(tiny_tts_corpus):
    from speechopt.audio.mel import MelConfig, MelExtractor
    from speechopt.data.tts_dataset import TtsDataset, log_magnitude
    from speechopt.train_attention import tts_losses
    from speechopt.train_tts import TtsTrainSettings
    from speechopt.tts_text import TtsTokenizer

    cfg = MelConfig()
    tok = TtsTokenizer()
    data = TtsDataset(tiny_tts_corpus, cfg, tok, 2, log=lambda m: None, linear=True)
    plain = TtsDataset(tiny_tts_corpus, cfg, tok, 2, log=lambda m: None, max_utterances=3)
    assert len(plain.batch([0, 1, 2])) == 7 and plain.linear is None
    idx = [0, 1, 2]
    batch = data.batch(idx)
    assert len(batch) == 8
    tokens, tl, mels, fl, gate_t, sl, centers, lin = batch
    for a, b in zip(batch[:7], plain.batch(idx)):  # the first seven are the mel-only batch's
        assert torch.equal(a, b)
    assert lin.shape == (3, mels.shape[1], N_FREQ) and lin.dtype == torch.float32
    assert mels.shape[1] == int(sl.max()) * 2 and (fl < mels.shape[1]).any()  # some padding to check
    ex = MelExtractor(cfg)
    for j, audio in enumerate(_utterances(tiny_tts_corpus, 3)):
        n = int(fl[j])
        want = log_magnitude(ex, audio, cfg)
        assert want.shape == (n, N_FREQ) and data.frames[j] == n
        assert torch.equal(lin[j, :n], want.half().float())  # stored as float16
        assert torch.allclose(lin[j, :n], want, atol=1e-2)
        assert torch.all(lin[j, n:] == math.log(cfg.clamp)) and math.log(cfg.clamp) == pytest.approx(-11.5129, abs=1e-4)
        assert float(want.max()) > float(want.min()) + 5  # real audio, not silence

    settings = TtsTrainSettings(arch="tacotron", config=TINY_JSON)
    model = _model(vocab_size=len(tok))
    loss, parts = tts_losses(model, batch, settings)
    assert set(parts) == {"l1", "l1_post", "gate", "guided", "loss"}
    assert all(math.isfinite(v) for v in parts.values()) and parts["l1_post"] > 0 and parts["l1"] > 0
    # l1_post is the linear magnitude's L1 over real frames, the post-net run with the frame lengths
    with torch.no_grad():
        _, post, _, _ = model(tokens, tl, mels, mel_lengths=fl)
    real = lengths_to_mask(fl, mels.shape[1]).unsqueeze(-1)
    want_l1 = float((post - lin).abs().masked_select(real.expand_as(post)).mean())
    assert parts["l1_post"] == pytest.approx(want_l1, rel=1e-4)
    assert loss.item() == pytest.approx(parts["l1"] + parts["l1_post"] + parts["gate"] + parts["guided"], rel=1e-5)
    model.train()
    loss, parts = tts_losses(model, batch, settings)
    loss.backward()
    assert all(math.isfinite(v) for v in parts.values())
    for p in (model.post_linear.weight, model.encoder_cbhg.gru.weight_ih_l0, model.embedding.weight):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_training_steps_lower_the_loss(tiny_tts_corpus):
    from speechopt.audio.mel import MelConfig
    from speechopt.data.tts_dataset import TtsDataset
    from speechopt.train_attention import tts_losses
    from speechopt.train_tts import TtsTrainSettings
    from speechopt.tts_text import TtsTokenizer

    data = TtsDataset(tiny_tts_corpus, MelConfig(), TtsTokenizer(), 2, log=lambda m: None, linear=True,
                      max_utterances=3)
    settings = TtsTrainSettings(arch="tacotron", config=TINY_JSON)
    torch.manual_seed(0)
    m = Tacotron(**TINY)
    m.train()
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    batch = data.batch([0, 1, 2])
    losses = []
    for _ in range(15):
        loss, parts = tts_losses(m, batch, settings)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(parts)
    first, last = losses[0], losses[-1]
    assert last["loss"] < 0.9 * first["loss"] and last["l1_post"] < first["l1_post"], (first, last)


# -- end to end: train, artifact, ONNX, the driver on both backends, synth ---------------------------------

@pytest.fixture(scope="module")
def trained(tiny_tts_corpus, tmp_path_factory, one_thread):
    from speechopt.artifact import load_artifact
    from speechopt.models.tts.artifact import artifact_from_run
    from speechopt.steps.export import export_model
    from speechopt.train_tts import TtsTrainSettings, train_tts

    root = tmp_path_factory.mktemp("tacotron")
    texts = root / "texts.txt"
    texts.write_text("\n".join(SENTENCES) + "\n")
    settings = TtsTrainSettings(arch="tacotron", config=dict(TINY_JSON), max_steps=2, val_infer=2, batch_size=3,
                                lr=3e-3, warmup=0.0)
    logs = []
    train_tts(settings, tiny_tts_corpus, tiny_tts_corpus, root / "run", log=logs.append)
    art = artifact_from_run(root / "run", root / "art")
    onnx = export_model(art.path, "onnx", root / "onnx", validation_data=str(texts), max_validation_utts=2, threads=1)
    return {"root": root, "texts": texts, "run": root / "run", "logs": logs, "art": load_artifact(art.path),
            "onnx": load_artifact(onnx.path)}


def test_training_run_and_artifact(trained):
    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.train_tts import load_tts_model

    run = trained["run"]
    progress = json.loads((run / "train-state" / "progress.json").read_text())
    assert progress["step"] == 2 and progress["history"]
    entry = progress["history"][-1]
    assert all(math.isfinite(entry[k]) for k in ("l1", "l1_post", "gate", "val_l1", "val_l1_post"))
    assert entry["val_infer"] == 2
    model, cfg = load_tts_model(run)
    assert isinstance(model, Tacotron) and cfg["architecture"]["name"] == "tacotron"
    assert {k: cfg["architecture"]["config"][k] for k in TINY_JSON} == TINY_JSON
    assert cfg["architecture"]["config"]["n_freq"] == N_FREQ
    art = trained["art"]
    assert art.task == "tts" and art.format == "pytorch" and list(art.graphs) == ["encoder", "decoder_step", "postnet"]
    assert [t["name"] for t in art.graph("postnet")["outputs"]] == ["linear"]
    assert art.manifest["lineage"]["step"] == "import-tts-run"
    for (k, a), b in zip(model.state_dict().items(), load_pytorch_model(art).state_dict().values()):
        assert torch.equal(a, b), k


def test_onnx_export_of_the_three_graphs(trained):
    art = trained["onnx"]
    assert art.format == "onnx" and sorted(art.manifest["files"]) == ["decoder_step.onnx", "encoder.onnx",
                                                                      "postnet.onnx"]
    graphs = art.manifest["export"]["graphs"]
    for name in ("encoder", "decoder_step", "postnet"):
        assert graphs[name]["exporter"] == "legacy"
        checks = graphs[name]["dynamic_shape_check"]
        assert len(checks) == 2 and all(c["max_abs_diff"] < 1e-4 for c in checks)
    step = art.graph("decoder_step")
    assert [t["name"] for t in step["inputs"]] == ["prev_frame", "att_h", "dec_h1", "dec_h2", "context", "memory",
                                                   "processed_memory", "mask", "prenet_mask_0", "prenet_mask_1"]
    assert "new_att_w" in [t["name"] for t in step["outputs"]]
    assert art.graph("postnet")["outputs"][0]["shape"] == ["batch", "frames", N_FREQ]
    assert art.graph("postnet")["dynamic_axes"]["decoder_mel"] == {"0": "batch", "1": "frames"}
    v = art.manifest["validation"]
    assert v["passed"] and v["same_gate_step"] and v["max_abs_diff"] < 1e-4


def test_driver_same_mel_and_linear_on_pytorch_and_onnx(trained):
    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.tasks import get_task
    from speechopt.tasks.tts.driver import SynthesisSettings

    task = get_task("tts")
    data = task.load_data(trained["art"], trained["texts"])
    seeded = SynthesisSettings(max_steps=30, prenet_seed=3)
    with task.driver(trained["art"], settings=seeded) as eager, task.driver(trained["onnx"], settings=seeded) as ort:
        assert eager.linear and ort.linear and eager.state_names == ["att_h", "dec_h1", "dec_h2", "context"]
        assert {r.backend for r in ort.runners.values()} == {"onnxruntime"}
        a, b, again = task.run(eager, data), task.run(ort, data), task.run(eager, data)
    assert len(a) == len(SENTENCES) and max(x["steps"] for x in a) > 1
    for x, y, z in zip(a, b, again):
        assert x["steps"] == y["steps"] and x["gate_fired"] == y["gate_fired"]
        assert x["gate_fired"] or x["steps"] == 30
        frames = 2 * x["steps"]
        assert x["mel"].shape == y["mel"].shape == (frames, N_MELS)
        assert x["linear"].shape == y["linear"].shape == (frames, N_FREQ)
        np.testing.assert_allclose(x["mel"], y["mel"], atol=1e-4)
        np.testing.assert_allclose(x["linear"], y["linear"], atol=1e-4)
        np.testing.assert_array_equal(x["linear"], z["linear"])  # the same seed twice: the same output
        np.testing.assert_array_equal(x["first_step"], x["mel"][:2])  # Tacotron's mel is the decoder's

    # dropout off: the loop over the graphs equals the model's own infer(), mel and linear
    off = SynthesisSettings(max_steps=30, prenet_seed=None)
    with task.driver(trained["art"], settings=off) as eager:
        mine = task.run(eager, data)
    model = load_pytorch_model(trained["art"])
    for item, out in zip(data.items, mine):
        ref = model.infer(torch.from_numpy(item["tokens"]), torch.from_numpy(item["lengths"]), max_steps=30,
                          prenet_seed=None)
        assert out["steps"] == int(ref["steps"][0])
        np.testing.assert_allclose(out["mel"], ref["mel"][0].numpy(), atol=1e-5)
        np.testing.assert_allclose(out["linear"], ref["linear"][0].numpy(), atol=1e-5)


def _cli(*args):
    from typer.testing import CliRunner

    from speechopt.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("fmt", ["art", "onnx"])
def test_synth_cli_writes_a_wav_from_the_linear_magnitude(trained, tmp_path, fmt):
    import soundfile as sf

    from speechopt.audio.mel import MelConfig
    from speechopt.models.tts.griffin_lim import griffin_lim
    from speechopt.tasks import get_task
    from speechopt.tasks.tts.driver import SynthesisSettings

    out = tmp_path / "hello.wav"
    r = _cli("synth", trained[fmt].path, "--text", "Hello world", "-o", out, "--max-steps", "12", "--json")
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)["results"][0]
    info = sf.info(str(out))
    assert info.samplerate == 16000 and info.subtype == "PCM_16" and info.channels == 1
    assert row["frames"] == 2 * row["steps"] and info.frames == (row["frames"] - 1) * 200
    # the audio is Griffin-Lim of the post-net's linear magnitude (synth's defaults: prenet seed 0)
    task = get_task("tts")
    with task.driver(trained[fmt], settings=SynthesisSettings(max_steps=12, prenet_seed=0)) as d:
        o = task.run(d, task.load_data(trained[fmt], ["Hello world"]), progress=False)[0]
    assert o["steps"] == row["steps"]
    cfg = MelConfig(**trained[fmt].manifest["mel"])
    want = np.clip(griffin_lim(o["mel"], cfg, linear=o["linear"]), -1, 1)
    from_mel = np.clip(griffin_lim(o["mel"], cfg), -1, 1)
    got, _ = sf.read(str(out), dtype="float32")
    np.testing.assert_allclose(got, want, atol=2.0 / 32768)
    assert np.abs(got - from_mel).max() > 0.01


def test_export_validation_and_agreement_check_the_linear_magnitude(trained, tmp_path):
    """The post-net's linear magnitude is what Griffin-Lim inverts: a candidate whose post-net outputs silence
    (decoder mel untouched) must fail export validation, and quantization's agreement must see it."""
    from speechopt.errors import SpeechoptError
    from speechopt.models.pytorch import load_pytorch_model, save_pytorch_artifact, task_fields
    from speechopt.tasks import get_task

    art = trained["art"]
    model = load_pytorch_model(art)
    with torch.no_grad():
        model.post_linear.weight.zero_()
        model.post_linear.bias.fill_(-11.5)
    broken = save_pytorch_artifact(tmp_path / "broken", model, "tacotron", art.architecture["config"], task_fields(art))
    task = get_task("tts")
    data = task.load_data(art, trained["texts"])
    with pytest.raises(SpeechoptError, match="differ"):
        task.validate_export(art, broken, data, atol=1e-3)
    with task.driver(art) as a, task.driver(broken) as b:
        parent, child = task.run(a, data, progress=False), task.run(b, data, progress=False)
    agreement = task.agreement(art, parent, child)
    assert agreement["max_abs_diff"] == 0.0  # the decoder mel is the same ...
    assert agreement["linear_max_abs_diff"] > 1.0 and agreement["linear_l1"] > 1.0  # ... the vocoded part is not
