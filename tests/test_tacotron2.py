"""Tacotron 2 (tiny configs): shapes, the three export graphs against the training path, inference
determinism and the step cap, and the training loop (loss goes down, resume continues)."""

import json

import pytest
import torch
from conftest import assert_scheduled_sampling

from speechopt.models.tts.alignment import alignment_health
from speechopt.models.tts.layers import lengths_to_mask
from speechopt.models.tts.tacotron2 import Tacotron2

TINY = dict(n_mels=12, reduction=2, embedding_dim=16, encoder_conv_channels=16, encoder_dim=16, attention_rnn_dim=24,
            decoder_rnn_dim=24, prenet_dims=[16, 16], attention_dim=8, location_filters=4, location_kernel=5,
            postnet_channels=16, postnet_layers=3)


def _model(**kw):
    torch.manual_seed(0)
    return Tacotron2(**{**TINY, **kw}).eval()


def _batch(r=2, steps=5, n_mels=12):
    tokens = torch.tensor([[5, 6, 7, 2, 8, 9, 1], [10, 11, 2, 12, 1, 0, 0], [13, 14, 1, 0, 0, 0, 0]])
    lengths = torch.tensor([7, 5, 3])
    torch.manual_seed(1)
    return tokens, lengths, torch.randn(3, steps * r, n_mels)


@pytest.mark.parametrize("r", [1, 3])
def test_forward_shapes(r):
    m = _model(reduction=r)
    tokens, lengths, mels = _batch(r)
    mel, post, gate, align = m(tokens, lengths, mels)
    assert mel.shape == post.shape == mels.shape
    assert gate.shape == (3, 5) and align.shape == (3, 5, 7)
    assert torch.allclose(align.sum(-1), torch.ones(3, 5), atol=1e-5)
    assert float(align[1, :, 5:].max().detach()) < 1e-3 and float(align[2, :, 3:].max().detach()) < 1e-3  # padding gets no attention
    if r > 1:
        with pytest.raises(ValueError):
            m(tokens, lengths, mels[:, :-1])


def test_scheduled_sampling_feeds_the_models_own_frames():
    """conftest.assert_scheduled_sampling: own frames, teacher forcing, gradients."""
    m = _model()
    assert_scheduled_sampling(m, *_batch())


def test_attention_only_settings_are_checked():
    """FastSpeech has no free-running decoder: the settings of one are refused, not silently ignored."""
    from speechopt.errors import SpeechoptError
    from speechopt.train_tts import TtsTrainSettings, train_tts

    for kw, msg in ((dict(arch="fastspeech", feedback=0.5), "^--feedback: for the attention models"),
                    (dict(arch="fastspeech", val_infer=100), "^--val-sentences: for the attention models"),
                    (dict(arch="fastspeech", select_on="roundtrip", val_infer=8),
                     "^--select-on roundtrip, --val-sentences: for the attention"),
                    (dict(arch="tacotron2", feedback=1.5), "probability")):
        with pytest.raises(SpeechoptError, match=msg):
            train_tts(TtsTrainSettings(max_steps=1, **kw), "x", "y", "/nonexistent/out")


def test_step_graph_equals_teacher_forced_path():
    m = _model(reduction=2)
    tokens, lengths, mels = _batch(2)
    mel, post, gate, align = m(tokens, lengths, mels)
    g = m.export_modules()
    assert not any(mod.training for mod in g.values())  # an exporter restoring their mode keeps the model in eval
    memory, processed = g["encoder"](tokens, lengths)
    mask = lengths_to_mask(lengths, tokens.shape[1])
    states = m.initial_states(memory)
    prev = torch.zeros(3, 12)
    ones = [torch.ones(3, 16), torch.ones(3, 16)]  # prenet masks of ones: dropout off
    frames, gates, aligns = [], [], []
    for s in range(5):
        frame, gt, *states = g["decoder_step"](prev, *states, memory, processed, mask, *ones)
        frames.append(frame)
        gates.append(gt)
        aligns.append(states[4])
        prev = mels[:, 2 * s + 1]  # teacher forcing: the last true frame of this step's group
    step_mel = torch.stack(frames, 1).reshape(3, 10, 12)
    assert torch.allclose(step_mel, mel, atol=1e-5)
    assert torch.allclose(torch.stack(gates, 1), gate, atol=1e-5)
    assert torch.allclose(torch.stack(aligns, 1), align, atol=1e-6)
    assert torch.allclose(g["postnet"](step_mel), post, atol=1e-5)


def test_encoder_is_batch_invariant():
    m = _model()
    tokens, lengths, _ = _batch()
    memory, processed = m.encode(tokens, lengths)
    alone, alone_p = m.encode(tokens[1:2, :5], lengths[1:2])
    assert torch.allclose(alone, memory[1:2, :5], atol=1e-5) and torch.allclose(alone_p, processed[1:2, :5], atol=1e-5)


def test_inference_is_deterministic_and_the_cap_holds():
    m = _model()
    with torch.no_grad():
        m.gate.bias.fill_(-50.0)  # a gate that never fires
    tokens, lengths, _ = _batch()
    a = m.infer(tokens, lengths, max_steps=9, prenet_seed=None)
    b = m.infer(tokens, lengths, max_steps=9, prenet_seed=None)
    assert torch.equal(a["mel"], b["mel"])
    c = m.infer(tokens, lengths, max_steps=9, prenet_seed=7)
    d = m.infer(tokens, lengths, max_steps=9, prenet_seed=7)
    e = m.infer(tokens, lengths, max_steps=9, prenet_seed=8)
    assert torch.equal(c["mel"], d["mel"]) and not torch.equal(c["mel"], e["mel"])
    assert a["steps"].tolist() == [9, 9, 9] and not a["gate_fired"].any()
    assert a["mel"].shape == (3, 18, 12) and a["mel_lengths"].tolist() == [18, 18, 18]
    assert a["alignments"].shape == (3, 9, 7)


def test_inference_stops_on_the_gate():
    m = _model()
    with torch.no_grad():
        m.gate.bias.fill_(50.0)  # fires at once
    tokens, lengths, _ = _batch()
    out = m.infer(tokens, lengths, max_steps=9, prenet_seed=None, min_steps=3)
    assert out["steps"].tolist() == [3, 3, 3] and out["gate_fired"].all() and out["mel"].shape[1] == 6


def test_alignment_health():
    import numpy as np

    diag = np.eye(6)[np.repeat(np.arange(6), 2)]  # 12 steps reading 6 tokens in order
    h = alignment_health(diag, 6)
    assert h["monotonic"] and h["diagonality"] > 0.9 and h["focus"] == 1.0
    assert not alignment_health(diag[::-1], 6)["monotonic"]  # reads backwards
    assert not alignment_health(diag[:6], 6)["monotonic"]  # stops half way


@pytest.fixture(scope="module")
def tiny_tts_corpus(tmp_path_factory):
    from speechopt.data.tts_corpus import TtsSynthSettings, synth_tts_corpus

    out = tmp_path_factory.mktemp("tts") / "c"
    synth_tts_corpus(out, TtsSynthSettings(num=6, seed=5, max_clauses=1, max_clause_words=3))
    return out


def _settings(**kw):
    from speechopt.train_tts import TtsTrainSettings

    cfg = {**TINY, "n_mels": 80}
    cfg.pop("n_mels")
    return TtsTrainSettings(**{"config": cfg, "batch_size": 3, "val_infer": 2, "lr": 3e-3, "warmup": 0.0, **kw})


def test_training_steps_lower_the_loss(tiny_tts_corpus):
    from speechopt.audio.mel import MelConfig
    from speechopt.data.tts_dataset import TtsDataset
    from speechopt.train_attention import tts_losses
    from speechopt.tts_text import TtsTokenizer

    data = TtsDataset(tiny_tts_corpus, MelConfig(), TtsTokenizer(), 2, log=lambda m: None)
    assert data.centers[0].shape[0] == (data.frames[0] + 1) // 2
    torch.manual_seed(0)
    m = Tacotron2(**{**TINY, "n_mels": 80})
    m.train()
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    batch = data.batch([0, 1, 2])
    losses = []
    for _ in range(20):
        loss, _ = tts_losses(m, batch, _settings())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < 0.9 * losses[0], losses


def test_train_writes_a_model_and_resumes(tiny_tts_corpus, tmp_path):
    from speechopt.errors import SpeechoptError
    from speechopt.train_tts import load_tts_model, train_tts
    from speechopt.tts_text import TtsTokenizer

    run = tmp_path / "run"
    train_tts(_settings(max_steps=2), tiny_tts_corpus, tiny_tts_corpus, run, log=lambda m: None)
    progress = json.loads((run / "train-state" / "progress.json").read_text())
    assert progress["step"] == 2 and progress["history"]
    model, cfg = load_tts_model(run)
    assert cfg["architecture"]["name"] == "tacotron2" and cfg["mel"]["hop_length"] == 200
    assert TtsTokenizer.from_dict(cfg["tokenizer"]).encode("a b.") == TtsTokenizer().encode("a b.")
    with pytest.raises(SpeechoptError):  # an existing run is not overwritten without --resume
        train_tts(_settings(max_steps=2), tiny_tts_corpus, tiny_tts_corpus, run, log=lambda m: None)
    state = torch.load(run / "train-state" / "state.pt", weights_only=True)
    train_tts(_settings(max_steps=4), tiny_tts_corpus, tiny_tts_corpus, run, resume=True, log=lambda m: None)
    progress2 = json.loads((run / "train-state" / "progress.json").read_text())
    assert progress2["step"] == 4 and len(progress2["history"]) > len(progress["history"])
    assert progress2["history"][: len(progress["history"])] == progress["history"]
    state2 = torch.load(run / "train-state" / "state.pt", weights_only=True)
    assert any(not torch.equal(state["model"][k], state2["model"][k]) for k in state["model"])


def test_resume_with_roundtrip_selection_starts_a_new_best(tiny_tts_corpus, tmp_path):
    """select_on="roundtrip" scores the free-running validation sentences through Griffin-Lim and the bundled
    ASR; a run resumed with it (after l1 selection) starts its best anew instead of comparing unlike scores."""
    from speechopt.train_tts import train_tts

    run = tmp_path / "run"
    train_tts(_settings(max_steps=1), tiny_tts_corpus, tiny_tts_corpus, run, log=lambda m: None)
    first = json.loads((run / "train-state" / "progress.json").read_text())["best"]
    assert first["select_on"] == "l1" and "roundtrip_cer" not in first["metrics"]
    logs = []
    train_tts(_settings(max_steps=2, feedback=0.5, select_on="roundtrip"), tiny_tts_corpus, tiny_tts_corpus, run,
              resume=True, log=logs.append)
    best = json.loads((run / "train-state" / "progress.json").read_text())["best"]
    assert best["select_on"] == "roundtrip" and best["step"] == 2
    assert 0.0 <= best["metrics"]["roundtrip_cer"] and best["score"] == [-best["metrics"]["roundtrip_cer"]]
    assert any("round-trip WER" in line and "(best so far, saved)" in line for line in logs)


def test_init_from_an_artifact_starts_from_its_weights(tiny_tts_corpus, tmp_path):
    """--init-from takes an artifact's weights, tokenizer and config, with a fresh optimizer; another
    architecture or front end is refused in one line."""
    from safetensors.torch import load_file

    from speechopt.errors import SpeechoptError
    from speechopt.models.tts.artifact import artifact_from_run
    from speechopt.train_tts import train_tts

    run = tmp_path / "run"
    train_tts(_settings(max_steps=1), tiny_tts_corpus, tiny_tts_corpus, run, log=lambda m: None)
    art = artifact_from_run(run, tmp_path / "art")
    logs = []
    run2 = tmp_path / "run2"
    # lr 0: the step changes nothing, so the model written at validation is the artifact's own
    settings = _settings(max_steps=1, init_from=str(art.path))
    settings.lr = 0.0
    train_tts(settings, tiny_tts_corpus, tiny_tts_corpus, run2, log=logs.append)
    start, got = load_file(str(run / "model.safetensors")), load_file(str(run2 / "model.safetensors"))
    weights = [k for k in start if not any(b in k for b in ("running_", "num_batches"))]  # BatchNorm stats move
    assert start.keys() == got.keys() and all(torch.equal(start[k], got[k]) for k in weights)
    assert any("weights from" in line for line in logs)
    progress = json.loads((run2 / "train-state" / "progress.json").read_text())
    assert progress["step"] == 1 and progress["history"][0]["step"] == 1
    with pytest.raises(SpeechoptError, match="pytorch fastspeech artifact"):
        train_tts(_settings(max_steps=1, init_from=str(art.path), arch="fastspeech", val_infer=None), tiny_tts_corpus,
                  tiny_tts_corpus, tmp_path / "run3", log=lambda m: None)
    with pytest.raises(SpeechoptError, match="text front end"):
        train_tts(_settings(max_steps=1, init_from=str(art.path), frontend="phonemes"), tiny_tts_corpus,
                  tiny_tts_corpus, tmp_path / "run4", log=lambda m: None)


def test_roundtrip_selection_is_the_cer_alone():
    """Under select_on="roundtrip" a checkpoint with a lower round-trip CER wins even if one more of the 32
    validation sentences lost its alignment (the round trip pays for that already); under "l1" alignment
    health comes first."""
    from speechopt.train_attention import validation_score

    earlier = {"gate_fired": 1.0, "monotonic": 0.88, "roundtrip_cer": 0.593, "val_l1_post": 0.70}
    later = {"gate_fired": 1.0, "monotonic": 0.84, "roundtrip_cer": 0.476, "val_l1_post": 0.66}
    assert validation_score(later, "roundtrip") > validation_score(earlier, "roundtrip")
    assert validation_score(later, "l1") < validation_score(earlier, "l1")
