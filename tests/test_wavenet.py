"""The WaveNet vocoder on tiny models with random weights: mu-law, naive and cached generation (same samples,
the logits of teacher forcing, causality and the receptive field), the training crops, a 2-step training run
turned into a vocoder artifact (`load_vocoder`, batching, `describe`, the mel-settings refusals), `speechopt
train tts --arch wavenet` and the export config."""

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
    assert list(m["graphs"]) == ["model"]
    graph = m["graphs"]["model"]
    assert [t["name"] for t in graph["inputs"]] == ["audio_classes", "mel"]
    assert [t["name"] for t in graph["outputs"]] == ["logits"]
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
def test_export_config_names_the_teacher_forced_graph():
    from speechopt.models.registry import get_architecture
    from speechopt.models.tts.wavenet_export import WaveNetExportConfig, default_config

    arch = get_architecture("wavenet")
    assert arch.task == "vocoder" and default_config() == arch.defaults  # the registry's defaults are the model's
    manifest = {"architecture": {"name": "wavenet", "config": {**TINY, "n_mels": 20}}}
    ec = WaveNetExportConfig(manifest)
    assert ec.hop == 200 and ec.config["classes"] == 256  # filled from the defaults
    graphs = ec.graphs()
    assert list(graphs) == ["model"]
    inputs, outputs = graphs["model"]
    assert inputs == [{"name": "audio_classes", "dtype": "int64", "shape": ["batch", "samples"]},
                      {"name": "mel", "dtype": "float32", "shape": ["batch", "frames", 20]}]
    assert outputs == [{"name": "logits", "dtype": "float32", "shape": ["batch", 256, "samples"]}]

    model = arch.build({**TINY, "n_mels": 20}).eval()
    assert ec.modules(model) == {"model": model}
    classes, mel = ec.example_inputs("model")
    assert classes.dtype == torch.int64 and mel.dtype == torch.float32
    with torch.no_grad():
        logits = model(classes, mel)
    assert logits.shape == (2, 256, 3 * 200) and classes.shape == (2, 600) and mel.shape == (2, 3, 20)
    for check in ec.check_inputs("model"):
        b, frames = check["mel"].shape[:2]
        assert check["audio_classes"].shape == (b, frames * 200)
        assert check["audio_classes"].min() >= 0 and check["audio_classes"].max() < 256
        with torch.no_grad():
            out = model(torch.from_numpy(check["audio_classes"]), torch.from_numpy(check["mel"]))
        assert out.shape == (b, 256, frames * 200)


def test_pytorch_artifact_lists_the_model_graph(tmp_path):
    from speechopt.artifact import load_artifact
    from speechopt.audio.mel import MelConfig
    from speechopt.models.pytorch import load_pytorch_model, save_pytorch_artifact

    model = _tiny(double=False)
    art = save_pytorch_artifact(tmp_path / "wn", model, "wavenet", dict(TINY), {"mel": MelConfig().to_dict()})
    m = load_artifact(art.path).manifest
    assert list(m["graphs"]) == ["model"] and m["graphs"]["model"]["file"] == "model.safetensors"
    assert m["architecture"]["config"]["mel_mean"] == 0.0  # the full config, defaults filled
    loaded = load_pytorch_model(load_artifact(art.path))
    mel = _mels(1, 2, dtype=torch.float32)
    with torch.no_grad():
        classes = torch.randint(0, 256, (1, 400), generator=torch.Generator().manual_seed(0))
        assert torch.equal(loaded(classes, mel), model(classes, mel))
