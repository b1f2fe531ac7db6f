"""The WaveNet vocoder on tiny models with random weights: mu-law, naive and cached generation (same samples,
the logits of teacher forcing, causality and the receptive field), the step graph (`WaveNetStep`: its shift
queues and in-graph `draw` reproduce cached generation), the training crops, a 2-step training run turned
into a vocoder artifact (`load_vocoder`, batching, `describe`, the mel-settings refusals), `speechopt train
tts --arch wavenet`, the export config (graphs `conditioning` and `step`), the ONNX export driven by the
vocoder task (same samples as the pytorch artifact), copy-synthesis evaluation and batch independence."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from speechopt.errors import SpeechoptError
from speechopt.models.tts.wavenet import WaveNet, mu_law_decode, mu_law_encode, training_segments

from conftest import one_error_line

# dilations 1, 2, 4, 1, 2, 4: receptive field 15 samples; hop 200 (the mel's)
TINY = dict(layers=6, dilation_cycle=3, residual_channels=8, gate_channels=8, skip_channels=8, cond_channels=4,
            n_mels=80, upsample_scales=[4, 5, 10])
TINY_KV = [f"{k}={json.dumps(v).replace(' ', '')}" for k, v in TINY.items()]


def _tiny(seed=0, double=True, **kw):
    torch.manual_seed(seed)
    model = WaveNet(**{**TINY, **kw}).eval()
    return model.double() if double else model


def _mels(batch, frames, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, frames, 80, generator=g) * 2 - 5).to(dtype)


def _step_logits(model, classes, mel, cached=True, chunk=1000):
    """The logits generation computes at every step when it is fed `classes` (B, T) as its draws."""
    B, T = classes.shape
    up = model.upsampled(mel)[:, :, :T]
    out = torch.empty(B, T, dtype=torch.long)
    with torch.inference_mode():
        step = model._cached_steps(B, up, chunk=chunk) if cached else model._naive_steps(out, up)
        prev = torch.full((B,), model.silence_class, dtype=torch.long)
        logits = []
        for t in range(T):
            logits.append(step(t, prev))
            prev = classes[:, t]
            out[:, t] = prev
    return torch.stack(logits, dim=2)


# -- mu-law ---------------------------------------------------------------------------------------------
def test_mu_law_round_trip_is_within_quantization():
    x = torch.linspace(-1, 1, 20001)
    c = mu_law_encode(x)
    assert c.dtype == torch.int64 and int(c.min()) == 0 and int(c.max()) == 255
    assert bool((c[1:] >= c[:-1]).all())  # monotonic
    assert set(c.tolist()) == set(range(256))  # every class is reached
    y = mu_law_decode(c)
    assert y.dtype == torch.float32 and float(y.abs().max()) <= 1.0
    err = (y - x).abs()
    # half a step in the compressed domain (levels 2 / 255 apart) at most ...
    compress = lambda v: torch.sign(v) * torch.log1p(255 * v.abs()) / np.log1p(255)  # noqa: E731
    assert float((compress(y.double()) - compress(x.double())).abs().max()) <= 1 / 255 + 1e-6
    # ... which in the waveform is (|x| + 1/255) (256 ** (1/255) - 1): 0.022 at +-1, 8.6e-5 at 0 (mu-law's point)
    assert bool((err <= (x.abs() + 1 / 255) * (256 ** (1 / 255) - 1) + 1e-6).all())
    assert float(err.max()) < 0.0221 and float(err[x.abs() < 1e-4].max()) < 1e-4
    # classes survive decode -> encode exactly (what turns generated audio back into the model's inputs)
    all_classes = torch.arange(256)
    assert torch.equal(mu_law_encode(mu_law_decode(all_classes)), all_classes)
    assert float(mu_law_decode(torch.tensor([0]))[0]) == -1.0 and float(mu_law_decode(torch.tensor([255]))[0]) == 1.0
    # out of range is clamped; silence is mu-law of 0, the model's first input
    assert mu_law_encode(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]
    model = _tiny(double=False)
    assert model.silence_class == int(mu_law_encode(torch.zeros(1))[0]) == 128
    assert abs(float(mu_law_decode(torch.tensor([128]))[0])) < 1e-4
    assert WaveNet(**{**TINY, "classes": 16}).silence_class == int(mu_law_encode(torch.zeros(1), 16)[0]) == 8
    # numpy input and other class counts
    assert mu_law_encode(np.array([-1.0, 0.0, 1.0], np.float32), 16).tolist() == [0, 8, 15]


# -- generation -----------------------------------------------------------------------------------------
def test_naive_and_cached_generation_give_the_same_samples():
    model = _tiny()
    mel = _mels(2, 3)  # 600 samples, 40 receptive fields
    assert model.receptive_field == 15
    cached = model.generate(mel, seed=7, cached=True)
    naive = model.generate(mel, seed=7, cached=False)
    assert cached.shape == (2, 600) and cached.dtype == torch.float32
    assert torch.equal(cached, naive)
    assert float(cached.abs().max()) <= 1.0 and len(torch.unique(cached)) > 50  # random weights: near uniform draws
    assert not torch.equal(cached[0], cached[1])  # each batch row is its own sequence
    # determinism; another seed or temperature draws other samples
    assert torch.equal(model.generate(mel, seed=7), cached)
    other = model.generate(mel, seed=8)
    assert (other != cached).float().mean() > 0.5
    colder = model.generate(mel, seed=7, temperature=0.5)
    assert not torch.equal(colder, cached)
    assert torch.equal(colder, model.generate(mel, seed=7, temperature=0.5, cached=False))
    # num_samples cuts the output; the first samples do not depend on how many follow
    short = model.generate(mel, num_samples=250, seed=7)
    assert short.shape == (2, 250) and torch.equal(short, cached[:, :250])


def test_generation_progress_and_conditioning_chunks():
    model = _tiny(double=False)
    mel = _mels(1, 6, dtype=torch.float32)
    calls = []
    audio = model.generate(mel, num_samples=1050, seed=1, progress=calls.append)
    assert calls == [1000] and audio.shape == (1, 1050)
    # the cached path projects the conditioning 1,000 samples at a time: crossing a chunk changes nothing
    classes = mu_law_encode(audio)
    with torch.no_grad():
        forward = model(classes, mel)
    steps = _step_logits(model, classes, mel, cached=True)
    torch.testing.assert_close(steps, forward, rtol=1e-4, atol=1e-5)


def test_teacher_forced_logits_are_the_generation_logits():
    model = _tiny()
    mel = _mels(2, 2, seed=1)
    T = 400
    audio = model.generate(mel, num_samples=T, seed=3, temperature=1.0)
    classes = mu_law_encode(audio)
    with torch.no_grad():
        forward = model(classes, mel)
    assert forward.shape == (2, 256, T)
    # the step logits of both generation paths (and of a small conditioning chunk) are forward's
    for kw in (dict(cached=True), dict(cached=True, chunk=7), dict(cached=False)):
        torch.testing.assert_close(_step_logits(model, classes, mel, **kw), forward, rtol=0, atol=1e-10)
    # and generation drew from them: the same uniform draws over forward's logits give the same classes
    gen = torch.Generator().manual_seed(3)
    redrawn = torch.stack([model._draw(forward[:, :, t], 1.0, gen) for t in range(T)], dim=1)
    assert torch.equal(redrawn, classes)
    # a near-zero temperature is greedy: each sample is forward's most likely class given the ones before it
    greedy = mu_law_encode(model.generate(mel, num_samples=T, seed=3, temperature=1e-5))
    with torch.no_grad():
        assert torch.equal(model(greedy, mel).argmax(1), greedy)


def test_forward_is_causal_with_the_stated_receptive_field():
    model = _tiny()
    mel = _mels(1, 2, seed=2)
    g = torch.Generator().manual_seed(0)
    classes = torch.randint(0, 256, (1, 400), generator=g)
    k, rf = 150, model.receptive_field
    changed = classes.clone()
    changed[0, k] = (classes[0, k] + 100) % 256
    with torch.no_grad():
        a, b = model(classes, mel), model(changed, mel)
    assert torch.equal(a[:, :, : k + 1], b[:, :, : k + 1])  # the sample at k and before never see class k
    moved = (a - b).abs().amax(1)[0]
    assert bool((moved[k + 1 : k + rf + 1] > 0).all())  # the next receptive field does
    assert torch.equal(a[:, :, k + rf + 1 :], b[:, :, k + rf + 1 :])  # and nothing past it
    # the first sample sees silence, whatever the classes are
    with torch.no_grad():
        first = model(torch.full((1, 1), 3), mel)[:, :, 0]
    torch.testing.assert_close(first, a[:, :, 0], rtol=0, atol=1e-12)


def test_gate_channels_must_be_even():
    with pytest.raises(ValueError, match="gate_channels must be even"):
        WaveNet(**{**TINY, "gate_channels": 7})


# -- the step graph and its sampler ---------------------------------------------------------------------
def _drive_step(model, mel, seed, temperature=1.0, num_samples=None, on_step=None):
    """`WaveNetStep` driven as `WaveNetDriver` drives the step graph: the conditioning once, then one step a
    sample with the queues fed back and a torch.Generator(seed) draw a sample, in the model's dtype.
    `on_step(t, queues)` sees the queues after each step. -> (classes (B, T), logits (B, classes, T))."""
    from speechopt.models.tts.wavenet import WaveNetStep, split_queues

    step = WaveNetStep(model)
    dtype = model.embed.weight.dtype
    B = mel.shape[0]
    T = mel.shape[1] * model.hop_length if num_samples is None else num_samples
    gen = torch.Generator().manual_seed(seed)
    queues = torch.zeros(B, sum(model.dilations), model.residual_channels, dtype=dtype)
    prev = torch.full((B,), model.silence_class, dtype=torch.long)
    temp = torch.full((B,), temperature, dtype=dtype)
    classes, logits = [], []
    with torch.inference_mode():
        cond = model.export_modules()["conditioning"](mel)[:, :, :T]
        for t in range(T):
            u = torch.rand(B, generator=gen, dtype=torch.float64).to(dtype)
            prev, lg, queues = step(prev, cond[:, :, t], u, temp, queues)
            classes.append(prev)
            logits.append(lg)
            if on_step is not None:
                on_step(t, [q.transpose(1, 2) for q in split_queues(queues, model.dilations)])  # (B, R, d_i)
    return torch.stack(classes, dim=1), torch.stack(logits, dim=2)


def _layer_inputs(model, classes, mel):
    """Each layer's input under teacher forcing, left padded with its dilation of zeros (B, R, d + T)."""
    seen = {}
    hooks = [conv.register_forward_pre_hook(lambda mod, args, i=i: seen.__setitem__(i, args[0].clone()))
             for i, conv in enumerate(model.dilated)]
    try:
        with torch.no_grad():
            model(classes, mel)
    finally:
        for h in hooks:
            h.remove()
    return [seen[i] for i in range(len(model.dilated))]


def test_step_graph_reproduces_cached_generation_in_float64():
    model = _tiny()
    mel = _mels(2, 3, seed=4)  # 600 samples
    T = 600
    snapshots = {}
    checkpoints = {0, 1, 2, 3, 4, 5, 10, 299, T - 1}
    classes, logits = _drive_step(model, mel, seed=7, on_step=lambda t, q: snapshots.__setitem__(t, q)
                                  if t in checkpoints else None)
    assert classes.shape == (2, T) and classes.dtype == torch.int64 and logits.shape == (2, 256, T)
    assert logits.dtype == torch.float64
    # the same samples as the eager cached (ring buffer) generation from the same seed, exactly
    generated = model.generate(mel, seed=7, cached=True)
    assert torch.equal(mu_law_decode(classes), generated)
    assert torch.equal(classes, mu_law_encode(generated))
    assert len(torch.unique(classes)) > 50
    # and the logits are the cached path's at every step (fed the same classes)
    torch.testing.assert_close(logits, _step_logits(model, classes, mel, cached=True), rtol=0, atol=1e-10)

    # shift queues: after n steps queue_i holds layer i's inputs of the last d_i samples, oldest first (zeros
    # before the first sample, as the causal padding of `forward`)
    padded = _layer_inputs(model, classes, mel)
    for i, d in enumerate(model.dilations):
        assert padded[i].shape == (2, 8, d + T)
        for t, queues in snapshots.items():
            n = t + 1  # steps done
            assert queues[i].shape == (2, 8, d)
            torch.testing.assert_close(queues[i], padded[i][:, :, n : n + d], rtol=0, atol=1e-12)
        # exactly d steps: the queue is full, its entries the inputs of samples 0 .. d - 1
        torch.testing.assert_close(snapshots[d - 1][i], padded[i][:, :, d : 2 * d], rtol=0, atol=1e-12)
        if d > 1:  # fewer steps than the dilation: zeros first, then the inputs so far
            assert bool((snapshots[0][i][:, :, : d - 1] == 0).all())
            assert not bool((snapshots[0][i][:, :, -1] == 0).all())
    # layer 0's input is the embedding of the sample before: silence for sample 0, then the drawn classes
    emb = model.embed.weight.detach()
    assert torch.equal(snapshots[T - 1][0][:, :, -1], emb[classes[:, T - 2]])
    assert torch.equal(snapshots[0][0][:, :, -1], emb[torch.full((2,), model.silence_class)])

    # another temperature: still generate's samples
    cold, _ = _drive_step(model, mel, seed=7, temperature=0.5, num_samples=200)
    assert torch.equal(mu_law_decode(cold), model.generate(mel, num_samples=200, seed=7, temperature=0.5))
    assert not torch.equal(cold, classes[:, :200])


def test_draw_is_the_inverse_cdf_of_the_tempered_softmax():
    from speechopt.models.tts.wavenet import draw

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 256, generator=g, dtype=torch.float64) * 3
    ones = torch.ones(64, dtype=torch.float64)
    # u = 0: the first class (every class has mass); u just below 1: the last
    assert draw(logits, torch.zeros(64, dtype=torch.float64), ones).tolist() == [0] * 64
    assert draw(logits, torch.full((64,), 1 - 1e-12, dtype=torch.float64), ones).tolist() == [255] * 64
    assert draw(logits, torch.ones(64, dtype=torch.float64), ones).tolist() == [255] * 64  # u = 1: clamped
    # leading classes without mass are skipped by any u > 0
    masked = logits.clone()
    masked[:, :10] = -float("inf")
    assert draw(masked, torch.full((64,), 1e-300, dtype=torch.float64), ones).tolist() == [10] * 64
    masked[:, 250:] = -float("inf")
    assert draw(masked, torch.full((64,), 1 - 1e-12, dtype=torch.float64), ones).tolist() == [249] * 64
    # random rows and draws: torch.searchsorted on the cumulative probabilities
    for temperature in (1.0, 0.7, 2.5):
        t = torch.full((64,), temperature, dtype=torch.float64)
        u = torch.rand(64, generator=g, dtype=torch.float64)
        cdf = torch.cumsum(torch.softmax(logits / temperature, dim=-1), dim=-1)
        expected = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None]).squeeze(1)
        k = draw(logits, u, t)
        assert k.dtype == torch.int64 and torch.equal(k, expected)
        # the drawn class's cumulative interval holds u
        lo = torch.where(k > 0, cdf.gather(1, (k - 1).clamp(min=0)[:, None]).squeeze(1), torch.zeros(64, dtype=torch.float64))
        assert bool(((lo < u) & (u <= cdf.gather(1, k[:, None]).squeeze(1))).all())
    # float32 (the exported graph's dtype) agrees on the same rows
    u = torch.rand(64, generator=g, dtype=torch.float64)
    assert (draw(logits.float(), u.float(), ones.float()) == draw(logits, u, ones)).float().mean() > 0.95
    # each row has its own temperature: near 0 is the argmax whatever u is, very high is near uniform
    u = torch.rand(64, generator=g, dtype=torch.float64)
    assert torch.equal(draw(logits, u, torch.full((64,), 1e-6, dtype=torch.float64)), logits.argmax(-1))
    flat = torch.arange(256, dtype=torch.float64)[None].expand(4, 256)
    centers = (torch.tensor([0, 17, 128, 255], dtype=torch.float64) + 0.5) / 256
    assert draw(flat, centers, torch.full((4,), 1e9, dtype=torch.float64)).tolist() == [0, 17, 128, 255]
    mixed = torch.tensor([1e-6, 1e9], dtype=torch.float64)
    assert draw(flat[:2], torch.tensor([0.3, 0.3], dtype=torch.float64), mixed).tolist() == [255, int(0.3 * 256)]
    # sharpening: a lower temperature puts more of the draws on the likelier classes
    row = logits[:1].expand(4000, 256)
    u = torch.rand(4000, generator=g, dtype=torch.float64)
    best = int(logits[0].argmax())
    share = {t: float((draw(row, u, torch.full((4000,), t, dtype=torch.float64)) == best).double().mean())
             for t in (2.0, 1.0, 0.5, 0.1)}
    p = torch.softmax(logits[0] / 0.5, -1)[best]
    assert share[2.0] < share[1.0] < share[0.5] < share[0.1] and abs(share[0.5] - float(p)) < 0.05
    entropy = {t: len(torch.unique(draw(row, u, torch.full((4000,), t, dtype=torch.float64)))) for t in (2.0, 0.1)}
    assert entropy[0.1] < entropy[2.0]


def test_draw_never_returns_a_class_without_mass():
    from speechopt.models.tts.wavenet import draw

    logits = torch.tensor([[0.0, 30.0, 0.0]], dtype=torch.float64)
    t = torch.full((1,), 1e-6, dtype=torch.float64)  # softmax: exactly [0, 1, 0]
    assert torch.softmax(logits / t[:, None], -1).tolist() == [[0.0, 1.0, 0.0]]
    assert draw(logits, torch.zeros(1, dtype=torch.float64), t).tolist() == [1]


# -- training crops -------------------------------------------------------------------------------------
def test_training_segments_are_frame_aligned_crops():
    model = _tiny(double=False)
    hop = model.hop_length
    g = torch.Generator().manual_seed(0)
    audio = torch.rand(10 * hop + 37, generator=g) * 1.6 - 0.8
    total = 10 * hop // hop + 1  # MelConfig.num_frames: 11 frames, the last one past the audio
    mel = torch.arange(total, dtype=torch.float32)[:, None].expand(total, 80).clone()  # row f holds f
    segs = training_segments(model, audio, mel, 4, random.Random(0), 200)
    assert len(segs) == 200
    starts = set()
    for classes, m in segs:
        assert classes.shape == (4 * hop,) and classes.dtype == torch.int64 and m.shape == (4, 80)
        f0 = int(m[0, 0])
        assert m[:, 0].tolist() == [f0, f0 + 1, f0 + 2, f0 + 3]
        a = audio[f0 * hop : (f0 + 4) * hop]
        assert torch.equal(classes[: len(a)], mu_law_encode(a))
        assert bool((classes[len(a):] == model.silence_class).all())  # past the end: silence
        starts.add(f0)
    assert starts == set(range(total - 4 + 1))  # every start, up to the last full crop
    # the crop ending at the last frame reaches past the audio: padded to its full length
    assert total - 4 in starts and (total - 1) * hop + hop > len(audio)

    # a short utterance: its mel padded with the last frame, its audio with silence
    short_audio, short_mel = audio[:250], mel[:2]
    (classes, m), = training_segments(model, short_audio, short_mel, 4, random.Random(1), 1)
    assert m.shape == (4, 80) and m[:, 0].tolist() == [0, 1, 1, 1]
    assert classes.shape == (4 * hop,)
    assert torch.equal(classes[:250], mu_law_encode(short_audio))
    assert bool((classes[250:] == model.silence_class).all())
    # the same rng, the same crops
    again = training_segments(model, audio, mel, 4, random.Random(0), 200)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(segs, again))


# -- a training run and its vocoder artifact ------------------------------------------------------------
def _tiny_acoustic(path, n_mels, hop_length=200):
    """A tiny Tacotron 2 artifact (random weights) whose mel settings are `n_mels`, `hop_length`."""
    from speechopt.audio.mel import MelConfig
    from speechopt.models.pytorch import save_pytorch_artifact
    from speechopt.models.registry import build_model
    from speechopt.models.tts.artifact import tts_fields
    from speechopt.tts_text import TtsTokenizer

    tok = TtsTokenizer()
    config = dict(vocab_size=len(tok), n_mels=n_mels, embedding_dim=16, encoder_conv_channels=16,
                  encoder_conv_layers=2, encoder_dim=16, attention_rnn_dim=24, decoder_rnn_dim=24,
                  prenet_dims=[16, 16], attention_dim=8, location_filters=4, location_kernel=7,
                  postnet_channels=16, postnet_layers=2)
    torch.manual_seed(0)
    model = build_model("tacotron2", config).eval()
    return save_pytorch_artifact(path, model, "tacotron2", config,
                                 tts_fields(tok, MelConfig(n_mels=n_mels, hop_length=hop_length)))


@pytest.fixture(scope="module")
def wavenet_run(tmp_path_factory, tiny_corpus, one_thread):
    """A 2-step run on 4 utterances of the tiny corpus and its vocoder artifact."""
    from speechopt.models.tts.vocoder import wavenet_from_run
    from speechopt.train_wavenet import WaveNetTrainSettings, train_wavenet

    root = tmp_path_factory.mktemp("wavenet")
    settings = WaveNetTrainSettings(config=dict(TINY), max_steps=2, batch_size=2, segment_frames=4, val_segments=4,
                                    threads=1, max_utterances=4)
    logs = []
    train_wavenet(settings, tiny_corpus, tiny_corpus, root / "run", log=logs.append)
    art = wavenet_from_run(root / "run", root / "wn")
    return {"root": root, "run": root / "run", "artifact": art, "settings": settings, "logs": logs}


def test_training_run_writes_a_model_and_its_state(wavenet_run, tiny_corpus):
    from speechopt.train_wavenet import train_wavenet

    run = wavenet_run["run"]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["architecture"]["name"] == "wavenet"
    config = cfg["architecture"]["config"]
    assert {k: config[k] for k in TINY} == TINY and config["classes"] == 256
    assert config["mel_mean"] != 0.0 and config["mel_std"] > 0  # the training set's normalisation
    assert cfg["mel"]["hop_length"] == 200 and cfg["mel"]["n_mels"] == 80
    assert cfg["training"]["steps"] == 2 and np.isfinite(cfg["training"]["validation"]["val_ce"])
    assert (run / "train-state" / "progress.json").is_file()
    assert any("receptive field 15 samples" in line for line in wavenet_run["logs"])
    assert any(line.startswith("train: 4 utterances") for line in wavenet_run["logs"])
    with pytest.raises(SpeechoptError, match="holds a run already"):
        train_wavenet(wavenet_run["settings"], tiny_corpus, tiny_corpus, run, log=lambda m: None)


def test_training_refuses_bad_settings(tmp_path, tiny_corpus):
    from speechopt.train_wavenet import WaveNetTrainSettings, train_wavenet

    with pytest.raises(SpeechoptError, match="give --time-budget or --max-steps"):
        train_wavenet(WaveNetTrainSettings(config=dict(TINY)), tiny_corpus, tiny_corpus, tmp_path / "a")
    bad = WaveNetTrainSettings(config={**TINY, "upsample_scales": [4, 5, 8]}, max_steps=1, max_utterances=2,
                               val_segments=2)
    with pytest.raises(SpeechoptError, match="upsample_scales multiply to 160, the mel hop is 200"):
        train_wavenet(bad, tiny_corpus, tiny_corpus, tmp_path / "b", log=lambda m: None)
    with pytest.raises(SpeechoptError, match="unknown config keys"):
        train_wavenet(WaveNetTrainSettings(config={"layer": 3}, max_steps=1, max_utterances=2), tiny_corpus,
                      tiny_corpus, tmp_path / "c", log=lambda m: None)


def test_vocoder_artifact_manifest_and_loading(wavenet_run):
    from speechopt.artifact import load_artifact
    from speechopt.models.tts.vocoder import WaveNetSettings, WaveNetVocoder, load_vocoder

    art = load_artifact(wavenet_run["artifact"].path)
    m = art.manifest
    assert (m["task"], m["format"], m["architecture"]["name"]) == ("vocoder", "pytorch", "wavenet")
    assert list(m["graphs"]) == ["conditioning", "step"]
    assert {g["file"] for g in m["graphs"].values()} == {"model.safetensors"}  # both graphs live in the weights
    cond, step = m["graphs"]["conditioning"], m["graphs"]["step"]
    assert [t["name"] for t in cond["inputs"]] == ["mel"] and [t["name"] for t in cond["outputs"]] == ["upsampled"]
    assert [t["name"] for t in step["inputs"]] == ["prev_class", "cond", "u", "temperature", "queues"]
    assert [t["name"] for t in step["outputs"]] == ["sample", "logits", "new_queues"]
    assert step["inputs"][4]["shape"] == ["batch", 1 + 2 + 4 + 1 + 2 + 4, 8]  # every layer's queue, one tensor
    assert m["mel"]["hop_length"] == 200 and m["mel"]["n_mels"] == 80
    run_cfg = json.loads((wavenet_run["run"] / "config.json").read_text())
    assert m["architecture"]["config"] == run_cfg["architecture"]["config"]

    voc = load_vocoder(art)
    assert isinstance(voc, WaveNetVocoder) and voc.name == "wavenet"
    assert voc.settings == WaveNetSettings() and voc.checksum == art.checksum
    assert voc.model.hop_length == 200 and not voc.model.training
    # the weights are the run's
    from safetensors.torch import load_file

    saved = load_file(str(wavenet_run["run"] / "model.safetensors"))
    assert all(torch.equal(saved[k], v) for k, v in voc.model.state_dict().items())
    d = voc.describe()
    assert d["name"] == "wavenet" and d["checksum"] == art.checksum and d["artifact"] == str(art.path)
    assert d["seed"] == 0 and d["cached"] is True and d["batch"] == 16 and "fast WaveNet" in d["generation"]
    assert load_vocoder(str(art.path)).checksum == art.checksum  # a folder works too


def test_vocoder_batches_keep_lengths_order_and_determinism(wavenet_run, one_thread):
    from speechopt.models.tts.vocoder import WaveNetSettings, load_vocoder

    art = wavenet_run["artifact"]
    rng = np.random.default_rng(0)
    long_mel = rng.normal(-5, 2, (4, 80)).astype(np.float32)
    short_mel = rng.normal(-5, 2, (2, 80)).astype(np.float32)
    one_frame = rng.normal(-5, 2, (1, 80)).astype(np.float32)

    voc = load_vocoder(art, WaveNetSettings(seed=5, batch=16))
    done = []
    out = voc.many([long_mel, short_mel, one_frame], progress=done.append)
    assert [len(a) for a in out] == [3 * 200, 1 * 200, 0]  # (frames - 1) * hop each, in the input order
    assert done == [1, 1, 1]
    for a in out:
        assert a.dtype == np.float32 and (np.abs(a) <= 1.0).all()
    assert len(np.unique(out[0])) > 20
    again = voc.many([long_mel, short_mel, one_frame])
    assert all(np.array_equal(a, b) for a, b in zip(out, again))  # the same seed, the same samples
    other_seed = load_vocoder(art, WaveNetSettings(seed=6, batch=16)).many([long_mel, short_mel])
    assert not np.array_equal(other_seed[0], out[0])

    # one mel at a time (batch 1): each is what the vocoder gives for it alone, in the input order
    alone = load_vocoder(art, WaveNetSettings(seed=5, batch=1))
    singles = alone.many([long_mel, short_mel])
    assert np.array_equal(singles[0], alone(long_mel)) and np.array_equal(singles[1], alone(short_mel))
    assert singles[0].shape == (600,) and singles[1].shape == (200,)
    # a linear magnitude is not what a WaveNet listens to: it changes nothing
    linear = rng.normal(-3, 1, (2, 513)).astype(np.float32)
    assert np.array_equal(alone(short_mel, linear=linear), singles[1])
    assert np.array_equal(alone.many([short_mel], linears=[linear])[0], singles[1])
    # a single mel is a batch of one whatever settings.batch is
    assert np.array_equal(voc(long_mel), alone(long_mel))
    # naive generation is accepted as a setting
    naive = load_vocoder(art, WaveNetSettings(seed=5, batch=1, cached=False))
    assert naive.describe()["cached"] is False and naive(short_mel).shape == (200,)


def test_vocoder_gives_empty_audio_for_an_empty_mel():
    from speechopt.audio.mel import MelConfig
    from speechopt.models.tts.vocoder import WaveNetSettings, WaveNetVocoder

    voc = WaveNetVocoder("wavenet", MelConfig(), WaveNetSettings(), None, None, _tiny(double=False))
    empty = np.zeros((0, 80), np.float32)
    assert voc(empty).shape == (0,)
    assert [len(a) for a in voc.many([empty, np.zeros((3, 80), np.float32)])] == [0, 400]


def test_wavenet_settings_are_checked():
    from speechopt.models.tts.vocoder import WaveNetSettings

    with pytest.raises(SpeechoptError, match="temperature must be > 0"):
        WaveNetSettings(temperature=0)
    with pytest.raises(SpeechoptError, match="batch must be >= 1"):
        WaveNetSettings(batch=0)


def test_mel_mismatches_are_refused_in_one_line(wavenet_run, tmp_path):
    from speechopt.audio.mel import MelConfig
    from speechopt.models.pytorch import save_pytorch_artifact
    from speechopt.models.tts.vocoder import check_mel_match, load_vocoder, vocoder_for, WaveNetVocoder

    art = wavenet_run["artifact"]
    voc = load_vocoder(art)
    matching = _tiny_acoustic(tmp_path / "t2-80", n_mels=80)
    check_mel_match(matching, voc)  # the same mel settings: accepted
    assert isinstance(vocoder_for(matching, str(art.path)), WaveNetVocoder)

    other = _tiny_acoustic(tmp_path / "t2-20", n_mels=20)
    with pytest.raises(SpeechoptError) as err:
        check_mel_match(other, voc)
    line = str(err.value)
    assert "\n" not in line and line.startswith("mel settings differ")
    assert str(other.path) in line and str(art.path) in line
    assert line.split(f"{art.path}: ")[1].split(" (")[0] == "n_mels 20 vs 80"
    with pytest.raises(SpeechoptError, match="n_mels 20 vs 80"):
        vocoder_for(other, str(art.path))

    # a WaveNet artifact whose mel settings are not what the network upsamples to is refused when loaded
    bad = save_pytorch_artifact(tmp_path / "wn-hop256", voc.model, "wavenet", art.architecture["config"],
                                {"mel": MelConfig(hop_length=256).to_dict()})
    with pytest.raises(SpeechoptError, match="upsamples by 200 with 80 mels, its mel settings say hop 256, 80 mels"):
        load_vocoder(bad.path)


def test_wavenet_from_run_refuses_what_is_not_a_run(wavenet_run, tmp_path):
    import shutil

    from speechopt.models.tts.vocoder import wavenet_from_run

    with pytest.raises(SpeechoptError, match="not a WaveNet training run folder \\(config.json is missing\\)"):
        wavenet_from_run(tmp_path, tmp_path / "out")
    run = tmp_path / "run"
    shutil.copytree(wavenet_run["run"], run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["architecture"]["name"] = "tacotron2"
    (run / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SpeechoptError, match="architecture tacotron2, not wavenet"):
        wavenet_from_run(run, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- the CLI --------------------------------------------------------------------------------------------
def _cli(*args):
    from speechopt.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_train_tts_arch_wavenet_writes_a_vocoder_artifact(tiny_corpus, tmp_path, one_thread):
    from speechopt.artifact import load_artifact
    from speechopt.models.tts.vocoder import WaveNetVocoder, load_vocoder

    config = [x for c in TINY_KV for x in ("--config", c)]
    out = tmp_path / "wn"
    r = _cli("train", "tts", "--arch", "wavenet", "--data", tiny_corpus, "--val-data", tiny_corpus, "-o", out,
             "--max-steps", "1", "--batch-size", "2", *config)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"wrote {out}: wavenet vocoder; run folder {tmp_path / 'wn.train-run'}"
    assert (tmp_path / "wn.train-run" / "train-state" / "progress.json").is_file()
    art = load_artifact(out)
    assert art.task == "vocoder" and art.architecture["name"] == "wavenet"
    assert art.architecture["config"]["layers"] == 6 and art.architecture["config"]["upsample_scales"] == [4, 5, 10]
    assert isinstance(load_vocoder(art), WaveNetVocoder)

    r = _cli("train", "tts", "--arch", "wavenet", "--data", tiny_corpus, "--val-data", tiny_corpus, "-o", out,
             "--max-steps", "1")
    assert "already exists" in one_error_line(r)


def test_train_tts_arch_wavenet_refuses_epochs(tiny_corpus, tmp_path):
    out = tmp_path / "wn"
    r = _cli("train", "tts", "--arch", "wavenet", "--data", tiny_corpus, "--val-data", tiny_corpus, "-o", out,
             "--epochs", "1")
    line = one_error_line(r)
    assert "wavenet trains for --time-budget or --max-steps" in line
    assert not out.exists() and not (tmp_path / "wn.train-run").exists()


# -- export config --------------------------------------------------------------------------------------
def test_export_config_names_the_conditioning_and_step_graphs():
    from speechopt.models.registry import get_architecture
    from speechopt.models.tts.wavenet import WaveNetConditioning, WaveNetStep
    from speechopt.models.tts.wavenet_export import WaveNetExportConfig, default_config

    arch = get_architecture("wavenet")
    assert arch.task == "vocoder" and default_config() == arch.defaults  # the registry's defaults are the model's
    manifest = {"architecture": {"name": "wavenet", "config": {**TINY, "n_mels": 20}}}
    ec = WaveNetExportConfig(manifest)
    assert isinstance(arch.export_config(manifest), WaveNetExportConfig)
    assert ec.hop == 200 and ec.config["classes"] == 256  # filled from the defaults
    assert ec.dilations == [1, 2, 4, 1, 2, 4]
    graphs = ec.graphs()
    assert list(graphs) == ["conditioning", "step"]  # the order a driver runs them
    inputs, outputs = graphs["conditioning"]
    assert inputs == [{"name": "mel", "dtype": "float32", "shape": ["batch", "frames", 20]}]
    assert outputs == [{"name": "upsampled", "dtype": "float32", "shape": ["batch", 4, "samples"]}]
    inputs, outputs = graphs["step"]
    queues = {"name": "queues", "dtype": "float32", "shape": ["batch", 14, 8]}
    assert inputs == [{"name": "prev_class", "dtype": "int64", "shape": ["batch"]},
                      {"name": "cond", "dtype": "float32", "shape": ["batch", 4]},
                      {"name": "u", "dtype": "float32", "shape": ["batch"]},
                      {"name": "temperature", "dtype": "float32", "shape": ["batch"]}, queues]
    assert outputs == [{"name": "sample", "dtype": "int64", "shape": ["batch"]},
                       {"name": "logits", "dtype": "float32", "shape": ["batch", 256]},
                       {**queues, "name": "new_queues"}]

    model = arch.build({**TINY, "n_mels": 20}).eval()
    modules = ec.modules(model)
    assert list(modules) == ["conditioning", "step"]
    assert isinstance(modules["conditioning"], WaveNetConditioning) and isinstance(modules["step"], WaveNetStep)
    assert all(mod.model is model and not mod.training for mod in modules.values())

    def run(graph, args):
        with torch.no_grad():
            out = modules[graph](*args)
        return (out,) if isinstance(out, torch.Tensor) else out

    def declared(graph, batch, samples=None):
        """The declared output shapes with the dynamic dimensions filled in."""
        sizes = {"batch": batch, "samples": samples}
        return [tuple(sizes[d] if isinstance(d, str) else d for d in t["shape"]) for t in graphs[graph][1]]

    def check_outputs(graph, args, out):
        dtypes = {"float32": torch.float32, "int64": torch.int64}
        batch = args[0].shape[0]
        samples = args[0].shape[1] * 200 if graph == "conditioning" else None
        assert [tuple(o.shape) for o in out] == declared(graph, batch, samples)
        assert [o.dtype for o in out] == [dtypes[t["dtype"]] for t in graphs[graph][1]]

    for graph in graphs:
        example = ec.example_inputs(graph)
        names = [t["name"] for t in graphs[graph][0]]
        assert len(example) == len(names)
        assert [a.dtype for a in example] == [torch.int64 if t["dtype"] == "int64" else torch.float32
                                              for t in graphs[graph][0]]
        assert example[0].shape[0] == 2  # batch 2 (frames 3): no axis 1 or equal to another by accident
        check_outputs(graph, example, run(graph, example))
        checks = ec.check_inputs(graph)
        assert [c[names[0]].shape[0] for c in checks] == [1, 3]  # batch sizes the export never saw
        for check in checks:
            assert list(check) == names
            for t in graphs[graph][0]:  # each input as declared
                shape = check[t["name"]].shape
                assert len(shape) == len(t["shape"]) and check[t["name"]].dtype == np.dtype(t["dtype"])
                assert all(n == d for n, d in zip(shape, t["shape"]) if not isinstance(d, str))
            args = [torch.from_numpy(check[n]) for n in names]
            check_outputs(graph, args, run(graph, args))
    assert ec.example_inputs("conditioning")[0].shape == (2, 3, 20)
    step_check = ec.check_inputs("step")[1]
    assert step_check["prev_class"].min() >= 0 and step_check["prev_class"].max() < 256
    assert ((step_check["u"] >= 0) & (step_check["u"] < 1)).all() and (step_check["temperature"] == 1).all()
    assert ec.describe("conditioning", ec.check_inputs("conditioning")[1]) == "conditioning batch 3 x frames 5"
    assert ec.check_record("step", step_check) == {"batch": 3}
    assert ec.onnx_exporters(model)[0] == ["legacy"]


def test_export_config_compare_tolerates_a_few_flipped_draws():
    from speechopt.models.tts.wavenet_export import WaveNetExportConfig

    ec = WaveNetExportConfig({"architecture": {"name": "wavenet", "config": dict(TINY)}})
    rng = np.random.default_rng(0)
    ref = {"sample": np.array([3, 200, 17], np.int64), "logits": rng.standard_normal((3, 256)).astype(np.float32),
           "new_queues": rng.standard_normal((3, 14, 8)).astype(np.float32)}
    out = {k: v.copy() for k, v in ref.items()}
    assert ec.compare("step", {}, ref, out) == 0.0
    out["logits"][1, 5] += 3e-5
    out["new_queues"][2, 0, 0] -= 1e-5
    assert abs(ec.compare("step", {}, ref, out) - 3e-5) < 1e-6  # the largest float difference
    # one row of three drew another class (a draw at a class boundary): tolerated, the floats decide
    out["sample"][1] = 4
    assert abs(ec.compare("step", {}, ref, out) - 3e-5) < 1e-6
    # two of three: not rounding any more
    out["sample"][0] = 4
    with pytest.raises(SpeechoptError, match="step: the drawn samples differ from the source's on 67% of the rows"):
        ec.compare("step", {}, ref, out)
    # a frozen dynamic axis: a shape mismatch, whichever output shows it
    frozen = {**ref, "logits": ref["logits"][:2]}
    with pytest.raises(SpeechoptError, match=r"output logits of step has shape \(2, 256\), the source gives "
                                             r"\(3, 256\): a dynamic axis was frozen"):
        ec.compare("step", {}, ref, frozen)
    with pytest.raises(SpeechoptError, match="a dynamic axis was frozen"):
        ec.compare("step", {}, ref, {**ref, "sample": ref["sample"][:1]})
    up = rng.standard_normal((1, 4, 400)).astype(np.float32)
    with pytest.raises(SpeechoptError, match="output upsampled of conditioning has shape"):
        ec.compare("conditioning", {}, {"upsampled": up}, {"upsampled": up[:, :, :200]})
    assert ec.compare("conditioning", {}, {"upsampled": up}, {"upsampled": up + 1e-3}) == pytest.approx(1e-3, rel=1e-3)


def test_pytorch_artifact_lists_the_conditioning_and_step_graphs(tmp_path):
    from speechopt.artifact import load_artifact
    from speechopt.audio.mel import MelConfig
    from speechopt.models.pytorch import graph_module, load_pytorch_model, save_pytorch_artifact

    model = _tiny(double=False)
    art = save_pytorch_artifact(tmp_path / "wn", model, "wavenet", dict(TINY), {"mel": MelConfig().to_dict()})
    m = load_artifact(art.path).manifest
    assert list(m["graphs"]) == ["conditioning", "step"]
    assert all(g["file"] == "model.safetensors" for g in m["graphs"].values()) and list(m["files"]) == ["model.safetensors"]
    assert m["architecture"]["config"]["mel_mean"] == 0.0  # the full config, defaults filled
    loaded_art = load_artifact(art.path)
    loaded = load_pytorch_model(loaded_art)
    mel = _mels(1, 2, dtype=torch.float32)
    with torch.no_grad():
        classes = torch.randint(0, 256, (1, 400), generator=torch.Generator().manual_seed(0))
        assert torch.equal(loaded(classes, mel), model(classes, mel))
        # each graph is the loaded model's module, computing what the original's does
        cond = graph_module(loaded_art, loaded, "conditioning")
        assert torch.equal(cond(mel), model.export_modules()["conditioning"](mel))
        step = graph_module(loaded_art, loaded, "step")
        args = (torch.tensor([128]), cond(mel)[:, :, 0], torch.tensor([0.5]), torch.tensor([1.0]),
                torch.zeros(1, sum(model.dilations), 8))
        for a, b in zip(step(*args), model.export_modules()["step"](*args)):
            assert torch.equal(a, b)
    with pytest.raises(SpeechoptError, match="has no graph 'model'"):
        graph_module(loaded_art, loaded, "model")


def test_driver_refuses_a_step_graph_with_a_queue_a_layer():
    """Exports before the one-tensor state had queue_0 .. queue_{L-1}: one line saying to export again."""
    from types import SimpleNamespace

    from speechopt.tasks.vocoder import WaveNetDriver

    step = {"inputs": [{"name": n} for n in ("prev_class", "cond", "u", "temperature", "queue_0", "queue_1")]}
    old = SimpleNamespace(path="old-wn", graphs={"conditioning": {"inputs": []}, "step": step}, manifest={})
    with pytest.raises(SpeechoptError, match=r"^old-wn: its step graph has no `queues` input .*export it again$"):
        WaveNetDriver(old)


# -- ONNX export, the vocoder task's driver, evaluation -------------------------------------------------
def _same_samples(a, b, min_prefix=200):
    """Two float32 generations from the same draws: identical, or (a draw that float rounding flipped at a
    class boundary, after which the histories differ) identical on a prefix of at least `min_prefix`."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    if not np.array_equal(a, b):
        first = int(np.argmax(a != b)) if a.ndim == 1 else int(np.argmax((a != b).any(axis=0)))
        assert first >= min_prefix, f"the samples differ from sample {first}"


@pytest.fixture(scope="module")
def wavenet_onnx(wavenet_run, tiny_corpus):
    """The 2-step run's vocoder exported to ONNX, validated on 2 sentences of the tiny corpus."""
    pytest.importorskip("onnxruntime")
    from speechopt.steps.export import export_model

    return export_model(wavenet_run["artifact"], "onnx", wavenet_run["root"] / "wn-onnx", validation_data=tiny_corpus,
                        max_validation_utts=2, threads=1)


def test_onnx_export_generates_the_pytorch_samples(wavenet_run, wavenet_onnx, one_thread):
    from speechopt.artifact import load_artifact
    from speechopt.models.tts.vocoder import WaveNetSettings, WaveNetVocoder, load_vocoder
    from speechopt.tasks import get_task
    from speechopt.tasks.vocoder import WaveNetDriver

    src = wavenet_run["artifact"]
    art = load_artifact(wavenet_onnx.path)
    m = art.manifest
    assert (art.task, art.format, art.architecture["name"]) == ("vocoder", "onnx", "wavenet")
    assert list(m["graphs"]) == ["conditioning", "step"]
    assert {g: e["file"] for g, e in m["graphs"].items()} == {"conditioning": "conditioning.onnx", "step": "step.onnx"}
    assert all(art.file(f).is_file() for f in ("conditioning.onnx", "step.onnx"))
    for g in ("conditioning", "step"):  # the same graph signatures as the pytorch artifact's
        assert [t["name"] for t in m["graphs"][g]["inputs"]] == [t["name"] for t in src.graphs[g]["inputs"]]
        assert m["export"]["graphs"][g]["exporter"] == "legacy"
        assert [c["batch"] for c in m["export"]["graphs"][g]["dynamic_shape_check"]] == [1, 3]
    assert m["mel"] == src.manifest["mel"] and m["architecture"] == src.manifest["architecture"]
    assert m["lineage"]["parent"]["checksum"] == src.checksum and m["lineage"]["step"] == "export"
    v = m["validation"]
    assert v["passed"] is True and v["sentences"] == 2 and v["samples_per_sentence"] == 2000
    assert v["first_logits_max_abs_diff"] <= 1e-4
    assert v["identical_samples"] == 1.0 or (0.5 < v["identical_samples"] < 1.0 and v["agreeing_prefix_min"] >= 200)

    # the task's driver on both artifacts: the same samples from the same seed
    rng = np.random.default_rng(1)
    mel = rng.normal(-3, 2, (1, 3, 80)).astype(np.float32)
    task = get_task("vocoder")
    with task.driver(art, threads=1) as onnx_driver, task.driver(src, threads=1) as torch_driver:
        assert isinstance(onnx_driver, WaveNetDriver) and onnx_driver.hop == 200 and onnx_driver.classes == 256
        assert onnx_driver.describe()["graphs"]["step"]["backend"] != torch_driver.describe()["graphs"]["step"]["backend"]
        a = onnx_driver({"mel": mel, "seed": 3})
        b = torch_driver({"mel": mel, "seed": 3})
        other = onnx_driver({"mel": mel, "seed": 4})
        zero = onnx_driver({"mel": mel, "samples": 400, "seed": 0})
    assert a["classes"].shape == (1, 600) and a["classes"].dtype == np.int64 and a["audio"].dtype == np.float32
    assert a["logits_first"].shape == (1, 256)
    _same_samples(a["classes"], b["classes"])
    np.testing.assert_allclose(a["logits_first"], b["logits_first"], rtol=0, atol=1e-4)
    assert np.array_equal(a["audio"], mu_law_decode(torch.from_numpy(a["classes"])).numpy())
    assert np.mean(other["classes"] != a["classes"]) > 0.5  # another seed, other samples
    # the pytorch driver's samples are WaveNet.generate's (the same draws, in float32)
    from speechopt.models.pytorch import load_pytorch_model

    model = load_pytorch_model(src)
    _same_samples(mu_law_encode(model.generate(torch.from_numpy(mel), seed=3)).numpy(), b["classes"])

    # load_vocoder on the ONNX artifact: generated through the driver, (frames - 1) * hop samples
    voc = load_vocoder(art)
    assert isinstance(voc, WaveNetVocoder) and voc.artifact is not None and voc.model is None
    assert voc.checksum == art.checksum and voc.describe()["artifact"] == str(art.path)
    out = voc.many([mel[0]])
    assert len(out) == 1 and out[0].shape == ((3 - 1) * 200,) and out[0].dtype == np.float32
    _same_samples(out[0], load_vocoder(src).many([mel[0]])[0])
    assert np.array_equal(out[0], zero["audio"][0])  # the driver's samples (seed 0), cut to (frames - 1) * hop
    assert np.array_equal(voc(mel[0]), out[0])  # deterministic
    # naive generation has no graph: refused in one line
    with pytest.raises(SpeechoptError) as err:
        load_vocoder(art, WaveNetSettings(cached=False))
    assert "\n" not in str(err.value) and str(art.path) in str(err.value)
    assert "naive generation needs the pytorch artifact" in str(err.value)


def test_eval_scores_copy_synthesis(wavenet_run, tiny_corpus, tmp_path, one_thread):
    from speechopt.audio.mel import MelConfig
    from speechopt.evaluate import evaluate_artifact
    from speechopt.models.tts.vocoder import save_griffin_lim
    from speechopt.tasks import get_task

    art = wavenet_run["artifact"]
    r = evaluate_artifact(art.path, tiny_corpus, max_items=2, threads=1)
    assert r["task"] == "vocoder" and r["format"] == "pytorch" and r["artifact"] == str(art.path)
    assert {"wer", "cer", "floor", "griffin_lim", "resynthesis_mcd_db", "speed"} <= set(r)
    assert r["sentences"] == r["utterances"] == 2 and r["data"] == str(tiny_corpus)
    assert r["vocoder"]["name"] == "wavenet" and r["vocoder"]["checksum"] == art.checksum
    assert r["wer"] >= 0 and r["cer"] >= 0 and r["floor"]["utterances"] == r["griffin_lim"]["utterances"] == 2
    assert 0 <= r["floor"]["wer"] <= r["wer"]  # a 2-step WaveNet is noise: no better than the real audio
    assert r["resynthesis_mcd_db"] > 0 and "c0 excluded" in r["mcd_formula"]
    speed = r["speed"]
    assert speed["audio_seconds"] > 0 and speed["seconds"] > 0 and speed["threads"] == 1
    assert speed["audio_seconds_per_second"] == pytest.approx(speed["audio_seconds"] / speed["seconds"])
    task = get_task("vocoder")
    line = task.describe_score(r)
    assert "\n" not in line and line.startswith("copy-synthesis WER") and "(2 sentences)" in line
    assert set(task.zoo_figures(r)) >= {"copy_wer", "floor_wer", "griffin_lim_copy_wer", "resynthesis_mcd_db"}

    data = task.load_data(art, tiny_corpus, max_items=1)
    assert len(data) == 1 and data.mels[0].shape[1] == 80 and data.durations[0] > 0
    # Griffin-Lim has no graphs to drive, an ASR artifact is not a vocoder
    gl = save_griffin_lim(tmp_path / "gl", MelConfig())
    with pytest.raises(SpeechoptError, match="has no graphs to run"):
        task.driver(gl)
    with pytest.raises(SpeechoptError, match="needs a vocoder artifact"):
        task.driver(_tiny_acoustic(tmp_path / "t2", n_mels=80))


def test_eval_of_an_onnx_vocoder_goes_through_its_graphs(wavenet_onnx, tiny_corpus, one_thread):
    """Copy synthesis of the exported vocoder (its step graph in ONNX Runtime), and the task's score of
    driver outputs gives the same figures as the evaluation of the same data."""
    from speechopt.evaluate import evaluate_artifact
    from speechopt.tasks import get_task

    result = evaluate_artifact(wavenet_onnx.path, tiny_corpus, max_items=1, threads=1)
    assert result["format"] == "onnx" and result["task"] == "vocoder" and result["sentences"] == 1
    task = get_task("vocoder")
    data = task.load_data(wavenet_onnx, tiny_corpus, max_items=1)
    with task.driver(wavenet_onnx, threads=1) as d:
        outputs = task.run(d, data, progress=False)
    scored = task.score(outputs, data, artifact=wavenet_onnx, threads=1)
    assert scored["wer"] == result["wer"] and scored["floor"] == result["floor"]


def test_driver_batch_rows_are_independent_given_their_draws(wavenet_run, wavenet_onnx, one_thread):
    """A batch shares one generator: each step draws `batch` uniforms, row b taking the b-th, so a row's
    samples in a batch differ from its samples alone; given the same conditioning, queues and draws, each row
    is computed as if alone."""
    from speechopt.tasks import get_task

    rng = np.random.default_rng(2)
    a, b = (rng.normal(-3, 2, (8, 80)).astype(np.float32) for _ in range(2))
    both = np.stack([a, b])
    T, seed = 300, 5
    task = get_task("vocoder")
    for art in (wavenet_onnx, wavenet_run["artifact"]):
        with task.driver(art, threads=1) as driver:
            cond = driver.runners["conditioning"]
            step = driver.runners["step"]
            # the conditioning graph: each row of the batch is the mel's conditioning alone
            up = cond.infer({"mel": both})["upsampled"]
            assert up.shape == (2, 4, 8 * 200)
            for i, mel in enumerate((a, b)):
                np.testing.assert_allclose(up[i], cond.infer({"mel": mel[None]})["upsampled"][0], rtol=0, atol=1e-6)
            # a shorter mel padded with its last frame (as WaveNetVocoder batches): the same conditioning up to
            # 3 frames before its end (the frame conv and the upsampling smoothing reach 3 frames ahead)
            short = a[:5]
            padded = np.concatenate([short, np.repeat(short[-1:], 3, axis=0)])[None]
            alone = cond.infer({"mel": short[None]})["upsampled"][0]
            in_batch = cond.infer({"mel": np.concatenate([padded, b[None]])})["upsampled"][0]
            np.testing.assert_allclose(in_batch[:, : 2 * 200], alone[:, : 2 * 200], rtol=0, atol=1e-6)
            assert np.abs(in_batch[:, 5 * 200 - 1] - alone[:, -1]).max() > 1e-3  # the end saw the padding

            batched = driver({"mel": both, "samples": T, "seed": seed})
            singles = [driver({"mel": mel[None], "samples": T, "seed": seed}) for mel in (a, b)]
            # the first step sees silence, zero queues and its own conditioning: the same logits alone; row 0
            # also takes the same first draw
            for i in range(2):
                np.testing.assert_allclose(batched["logits_first"][i], singles[i]["logits_first"][0], rtol=0,
                                           atol=1e-5)
            assert batched["classes"][0, 0] == singles[0]["classes"][0, 0]
            # ... but the later draws are interleaved: the rows do not follow their solo samples
            assert np.mean(batched["classes"][0] != singles[0]["classes"][0]) > 0.5
            assert np.mean(batched["classes"][1] != singles[1]["classes"][0]) > 0.5
            assert not np.array_equal(batched["classes"][0], batched["classes"][1])

            # replay: row i alone, fed row i's share of the batch's draws, gives the batch's row i
            gen = torch.Generator().manual_seed(seed)
            draws = torch.rand(T, 2, generator=gen, dtype=torch.float64).numpy().astype(np.float32)
            for i, mel in enumerate((a, b)):
                c = cond.infer({"mel": mel[None]})["upsampled"][0, :, :T].T
                queues = np.zeros((1, driver.queues["shape"][1], driver.queues["shape"][2]), np.float32)
                prev = np.full(1, 128, np.int64)
                got = np.empty(T, np.int64)
                for t in range(T):
                    out = step.infer({"prev_class": prev, "cond": c[t][None], "u": draws[t, i : i + 1],
                                      "temperature": np.ones(1, np.float32), "queues": queues})
                    prev = out["sample"]
                    got[t] = prev[0]
                    queues = out["new_queues"]
                _same_samples(got, batched["classes"][i])
            # a batch is deterministic
            assert np.array_equal(driver({"mel": both, "samples": T, "seed": seed})["classes"], batched["classes"])
    # the pytorch batch is WaveNet.generate's batch from the same seed
    from speechopt.models.pytorch import load_pytorch_model

    model = load_pytorch_model(wavenet_run["artifact"])
    _same_samples(mu_law_encode(model.generate(torch.from_numpy(both), num_samples=T, seed=seed)).numpy(),
                  batched["classes"])


@pytest.fixture(scope="module")
def short_clips(tmp_path_factory, tiny_corpus):
    """A TTS manifest of three 0.1-0.2 s clips cut from the tiny corpus (WaveNet generates every sample)."""
    import soundfile as sf

    from speechopt.data.manifest import read_manifest

    root = tmp_path_factory.mktemp("clips")
    rows = []
    for i, u in enumerate(read_manifest(tiny_corpus)[:3]):
        audio, rate = sf.read(u.audio_filepath, dtype="float32")
        n = int(rate * (0.1 + 0.05 * i))
        sf.write(root / f"{i}.wav", audio[:n], rate)
        rows.append({"audio_filepath": f"{i}.wav", "text": u.text, "duration": n / rate})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_bench_times_a_vocoder_and_its_drift(wavenet_run, wavenet_onnx, short_clips, tmp_path):
    """The bench on vocoders: the pytorch WaveNet against its ONNX export, per sentence and in a padded batch,
    with time to first audio and drift against the reference's audio (the same draws)."""
    from speechopt.bench.harness import BenchSettings, bench, summary_rows
    from speechopt.bench.report import html_report

    fast = dict(batch_sizes=[1, 2], threads=1, warmup=0, min_iters=2, min_passes=1, min_seconds=0.0)
    report = bench([str(wavenet_onnx.path)], str(wavenet_run["artifact"].path),
                   BenchSettings(data=str(short_clips), **fast), log=lambda *_: None)
    assert report["task"] == "vocoder"
    rows = {r["format"]: r for r in summary_rows(report)}
    ref, onnx = rows["pytorch"], rows["onnx"]
    assert ref["identical_samples"] == 1.0 and ref["drift"]["mcd"] == 0.0 and ref["drift"]["roundtrip_wer"] == 0.0
    assert onnx["sentences"] == 3 and onnx["first_audio_ms"] > 0 and onnx["rtfx"] > 0
    # the same draws: the export's samples agree with the pytorch ones for hundreds of samples at least
    assert onnx["identical_samples"] > 0.5 and onnx["agreeing_prefix_min"] >= 200
    assert onnx["mcd"] is not None and onnx["mcd"] < 5.0
    media = report["results"][1]["media"]
    assert len(media) == 3 and media[0]["wav"][:4] == b"RIFF"
    page = html_report(summary_rows(report), report)
    assert "<audio" in page and "1st audio ms" in page and "same samples" in page
