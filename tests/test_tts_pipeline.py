"""Vocoder and pipeline artifacts on a tiny Tacotron 2 with random weights: the Griffin-Lim vocoder artifact
(round trip, determinism, checksummed settings), pipelines (relative component paths, checksum and mel-mismatch
refusals), `speechopt synth` through a pipeline or with `--vocoder`, and the `speechopt tts` commands."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from speechopt.errors import SpeechoptError

TINY = dict(n_mels=20, embedding_dim=16, encoder_conv_channels=16, encoder_conv_layers=2, encoder_dim=16,
            attention_rnn_dim=24, decoder_rnn_dim=24, prenet_dims=[16, 16], attention_dim=8, location_filters=4,
            location_kernel=7, postnet_channels=16, postnet_layers=2)


def _tiny_tts(path, n_mels=20, hop_length=200):
    import torch

    from speechopt.audio.mel import MelConfig
    from speechopt.models.pytorch import save_pytorch_artifact
    from speechopt.models.registry import build_model
    from speechopt.models.tts.artifact import tts_fields
    from speechopt.tts_text import TtsTokenizer

    tok = TtsTokenizer()
    config = {**TINY, "vocab_size": len(tok), "n_mels": n_mels}
    torch.manual_seed(0)
    model = build_model("tacotron2", config).eval()
    with torch.no_grad():  # the stop gate never fires: every sentence runs to --max-steps (a few frames of audio)
        model.gate.bias.fill_(-20.0)
    return save_pytorch_artifact(path, model, "tacotron2", config,
                                 tts_fields(tok, MelConfig(n_mels=n_mels, hop_length=hop_length)))


@pytest.fixture(scope="module")
def parts(tmp_path_factory, one_thread):
    """A folder with an acoustic model, a Griffin-Lim vocoder for its mels (8 iterations), one for other mels
    (hop 256) and the pipeline of the first two."""
    from speechopt.audio.mel import MelConfig
    from speechopt.models.tts.griffin_lim import GriffinLimSettings
    from speechopt.models.tts.pipeline import make_pipeline
    from speechopt.models.tts.vocoder import griffin_lim_like, save_griffin_lim

    root = tmp_path_factory.mktemp("pipe")
    acoustic = _tiny_tts(root / "t2")
    gl = griffin_lim_like(acoustic, root / "gl", GriffinLimSettings(n_iter=8, momentum=0.9))
    other = save_griffin_lim(root / "gl-hop256", MelConfig(n_mels=20, hop_length=256))
    pipe = make_pipeline(acoustic.path, gl.path, root / "pipe")
    return {"root": root, "acoustic": acoustic, "gl": gl, "other": other, "pipe": pipe}


def _cli(*args):
    from speechopt.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_vocoder_artifact_round_trip_and_determinism(tmp_path, one_thread):
    from speechopt.artifact import load_artifact
    from speechopt.audio.mel import MelConfig
    from speechopt.models.tts.griffin_lim import GriffinLimSettings, griffin_lim
    from speechopt.models.tts.vocoder import griffin_lim_vocoder, load_vocoder, save_griffin_lim

    cfg, settings = MelConfig(n_mels=20), GriffinLimSettings(n_iter=6, momentum=0.5, init=3)
    a = load_artifact(save_griffin_lim(tmp_path / "a", cfg, settings).path)
    m = a.manifest
    assert (m["task"], m["format"], m["graphs"]) == ("vocoder", "pytorch", {})
    assert m["architecture"] == {"name": "griffin-lim", "config": {"n_iter": 6, "momentum": 0.5, "init": 3}}
    assert m["mel"] == cfg.to_dict() and m["griffin_lim"]["algorithm"].startswith("fast Griffin-Lim")
    assert list(m["files"]) == ["vocoder.json"] and m["files"]["vocoder.json"]["role"] == "settings"
    voc = load_vocoder(a)
    assert voc.mel_config == cfg and voc.settings == settings and voc.checksum == a.checksum
    assert voc.describe()["artifact"] == str(a.path) and voc.describe()["n_iter"] == 6

    mel = np.random.default_rng(0).standard_normal((30, 20)).astype(np.float32) - 4.0
    audio = voc(mel)
    assert audio.shape == (29 * cfg.hop_length,) and audio.dtype == np.float32
    np.testing.assert_array_equal(audio, griffin_lim(mel, cfg, settings))  # the function it stands for
    np.testing.assert_array_equal(audio, griffin_lim_vocoder(cfg, settings)(mel))
    # the same settings written again: the same content address, the same samples
    b = save_griffin_lim(tmp_path / "b", cfg, settings)
    assert b.checksum == a.checksum
    np.testing.assert_array_equal(load_vocoder(b.path)(mel), audio)
    # other settings: another artifact
    assert save_griffin_lim(tmp_path / "c", cfg, GriffinLimSettings(n_iter=7, momentum=0.5, init=3)).checksum != a.checksum
    assert save_griffin_lim(tmp_path / "d", MelConfig(n_mels=20, f_max=7000.0), settings).checksum != a.checksum
    assert voc(mel[:1]).shape == (0,)  # one frame: nothing to invert

    # the manifest says one thing, the checksummed settings another: refused
    mpath = a.path / "manifest.json"
    edited = json.loads(mpath.read_text())
    edited["mel"]["hop_length"] = 256
    mpath.write_text(json.dumps(edited))
    with pytest.raises(SpeechoptError, match="differ from its checksummed vocoder.json"):
        load_vocoder(a.path)
    # the settings file itself changed: its checksum no longer matches
    (b.path / "vocoder.json").write_text((b.path / "vocoder.json").read_text().replace('"n_iter": 6', '"n_iter": 60'))
    with pytest.raises(SpeechoptError, match="checksum mismatch"):
        load_vocoder(b.path)


def test_load_vocoder_refuses_other_tasks(parts):
    from speechopt.models.tts.vocoder import load_vocoder

    with pytest.raises(SpeechoptError, match="needs a vocoder artifact, this one is tts"):
        load_vocoder(parts["acoustic"].path)


def test_pipeline_records_components_relative_and_moves_with_its_folder(parts, tmp_path, one_thread):
    from speechopt.artifact import load_artifact
    from speechopt.models.tts.pipeline import load_pipeline, make_pipeline

    pipe = load_artifact(parts["pipe"].path)
    assert (pipe.task, pipe.format, pipe.graphs, pipe.manifest["files"]) == ("tts", "pipeline", {}, {})
    comps = pipe.components
    assert comps["acoustic"]["path"] == "../t2" and comps["vocoder"]["path"] == "../gl"
    assert comps["acoustic"]["checksum"] == parts["acoustic"].checksum and comps["acoustic"]["task"] == "tts"
    assert comps["vocoder"]["checksum"] == parts["gl"].checksum and comps["vocoder"]["task"] == "vocoder"
    assert pipe.manifest["mel"] == parts["acoustic"].manifest["mel"]
    _, acoustic, voc = load_pipeline(pipe.path)
    assert acoustic.checksum == parts["acoustic"].checksum and voc.settings.n_iter == 8

    moved = tmp_path / "moved"
    for name in ("t2", "gl", "pipe"):
        shutil.copytree(parts["root"] / name, moved / name)
    _, acoustic, voc = load_pipeline(moved / "pipe")
    assert acoustic.path.resolve() == (moved / "t2").resolve() and voc.checksum == parts["gl"].checksum

    # a pipeline elsewhere (not in the components' folder) records absolute paths
    far = make_pipeline(parts["acoustic"], parts["gl"], tmp_path / "elsewhere" / "pipe")
    assert far.components["acoustic"]["path"] == str(parts["acoustic"].path.resolve())
    assert load_pipeline(far.path)[1].checksum == parts["acoustic"].checksum


def test_pipeline_refuses_a_changed_component(parts, tmp_path, one_thread):
    from conftest import one_error_line

    from speechopt.models.tts.griffin_lim import GriffinLimSettings
    from speechopt.models.tts.pipeline import load_pipeline
    from speechopt.models.tts.vocoder import griffin_lim_like

    folder = tmp_path / "set"
    for name in ("t2", "gl", "pipe"):
        shutil.copytree(parts["root"] / name, folder / name)
    load_pipeline(folder / "pipe")
    # the vocoder is replaced by one of the same mel settings but other Griffin-Lim settings
    shutil.rmtree(folder / "gl")
    griffin_lim_like(folder / "t2", folder / "gl", GriffinLimSettings(n_iter=9))
    with pytest.raises(SpeechoptError, match="not the vocoder this pipeline was made with"):
        load_pipeline(folder / "pipe")
    out = tmp_path / "x.wav"
    line = one_error_line(_cli("synth", folder / "pipe", "--text", "hello", "-o", out, "--max-steps", "3"))
    assert "not the vocoder this pipeline was made with" in line and "rebuild the pipeline" in line
    assert not out.exists()
    # the acoustic model's weights are modified: load_artifact's own checksum check refuses it first
    (folder / "t2" / "model.safetensors").write_bytes(b"x" + (folder / "t2" / "model.safetensors").read_bytes()[1:])
    with pytest.raises(SpeechoptError, match="checksum mismatch"):
        load_pipeline(folder / "pipe")


def test_a_vocoder_for_other_mels_is_refused_naming_both(parts, tmp_path, one_thread):
    from speechopt.models.tts.pipeline import make_pipeline
    from speechopt.tasks.tts.synth import synthesize

    with pytest.raises(SpeechoptError) as err:
        make_pipeline(parts["acoustic"].path, parts["other"].path, tmp_path / "bad")
    line = str(err.value)
    assert "\n" not in line and line.startswith("mel settings differ")
    assert str(parts["acoustic"].path) in line and str(parts["other"].path) in line
    assert line.split(f"{parts['other'].path}: ")[1].split(" (")[0] == "hop_length 200 vs 256"  # only what differs
    assert "hop 200" in line and "hop 256" in line  # both settings in full
    assert not (tmp_path / "bad").exists()
    with pytest.raises(SpeechoptError, match="hop_length 200 vs 256"):
        synthesize(parts["acoustic"].path, ["hello"], out=tmp_path / "x.wav", vocoder=str(parts["other"].path),
                   max_steps=3)
    assert not (tmp_path / "x.wav").exists()


def test_synth_through_a_pipeline_equals_synth_with_its_vocoder(parts, tmp_path, one_thread):
    import soundfile as sf

    from speechopt.tasks.tts.synth import synthesize

    texts = ["hello world.", "a b c!"]
    piped = synthesize(parts["pipe"].path, texts, out=tmp_path / "piped", max_steps=6, threads=1)
    given = synthesize(parts["acoustic"].path, texts, out=tmp_path / "given", vocoder=str(parts["gl"].path),
                       max_steps=6, threads=1)
    default = synthesize(parts["acoustic"].path, texts, out=tmp_path / "default", max_steps=6, threads=1)
    assert piped["pipeline"] and not given["pipeline"] and piped["acoustic"] == str(parts["acoustic"].path)
    assert piped["vocoder"] == given["vocoder"]
    assert piped["vocoder"]["n_iter"] == 8 and piped["vocoder"]["checksum"] == parts["gl"].checksum
    assert default["vocoder"]["name"] == "griffin-lim" and default["vocoder"]["n_iter"] == 32
    assert "artifact" not in default["vocoder"]
    for name in ("0001.wav", "0002.wav"):
        a, _ = sf.read(tmp_path / "piped" / name, dtype="int16")
        b, _ = sf.read(tmp_path / "given" / name, dtype="int16")
        c, _ = sf.read(tmp_path / "default" / name, dtype="int16")
        assert len(a) == 11 * 200
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)  # 8 iterations of momentum 0.9 are not the default 32 of 0.99
    # a vocoder artifact with the default settings gives what the default gives
    from speechopt.models.tts.vocoder import griffin_lim_like

    griffin_lim_like(parts["acoustic"], tmp_path / "gl-default")
    again = synthesize(parts["acoustic"].path, texts, out=tmp_path / "again", vocoder=str(tmp_path / "gl-default"),
                       max_steps=6, threads=1)
    assert again["vocoder"]["artifact"] == str(tmp_path / "gl-default")
    for name in ("0001.wav", "0002.wav"):
        np.testing.assert_array_equal(sf.read(tmp_path / "again" / name, dtype="int16")[0],
                                      sf.read(tmp_path / "default" / name, dtype="int16")[0])


def test_tts_cli_commands(parts, tmp_path, one_thread):
    out = tmp_path / "gl"
    r = _cli("tts", "griffin-lim", "--like", parts["acoustic"].path, "-o", out, "--n-iter", "8", "--momentum", "0.9")
    assert r.exit_code == 0, r.output
    assert "vocoder griffin-lim (8 iterations, momentum 0.9, zero initial phase)" in r.stdout and "hop 200" in r.stdout
    from speechopt.artifact import load_artifact

    assert load_artifact(out).checksum == parts["gl"].checksum  # the same settings: the same artifact

    r = _cli("tts", "pipeline", parts["acoustic"].path, out, "-o", tmp_path / "pipe")
    assert r.exit_code == 0, r.output
    assert "tts pipeline (acoustic" in r.stdout and "checksum" in r.stdout
    wav = tmp_path / "hello.wav"
    r = _cli("synth", tmp_path / "pipe", "--text", "hello", "-o", wav, "--max-steps", "4", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["pipeline"] and result["vocoder"]["artifact"] == str(out) and wav.is_file()
    r = _cli("synth", parts["acoustic"].path, "--text", "hello", "-o", tmp_path / "v.wav", "--max-steps", "4",
             "--vocoder", out)
    assert r.exit_code == 0, r.output


def test_tts_cli_errors_are_one_line(parts, tiny_models, tmp_path):
    from conftest import one_error_line

    out = tmp_path / "x.wav"
    acoustic, gl, other, pipe = (str(parts[k].path) for k in ("acoustic", "gl", "other", "pipe"))
    line = one_error_line(_cli("tts", "pipeline", acoustic, other, "-o", tmp_path / "bad"))
    assert "mel settings differ" in line and "hop_length 200 vs 256" in line
    assert not (tmp_path / "bad").exists()
    assert "needs a vocoder artifact, this one is tts" in one_error_line(
        _cli("tts", "pipeline", acoustic, acoustic, "-o", tmp_path / "bad"))
    assert "acoustic model must be a tts artifact, this one is vocoder" in one_error_line(
        _cli("tts", "pipeline", gl, gl, "-o", tmp_path / "bad"))
    assert "is already a pipeline" in one_error_line(_cli("tts", "pipeline", pipe, gl, "-o", tmp_path / "bad"))
    assert "already exists" in one_error_line(_cli("tts", "pipeline", acoustic, gl, "-o", pipe))
    assert "mel settings come from a tts artifact, this one is asr" in one_error_line(
        _cli("tts", "griffin-lim", "--like", tiny_models["crnn-ctc"], "-o", tmp_path / "g"))
    assert "momentum must be in [0, 1)" in one_error_line(
        _cli("tts", "griffin-lim", "--like", acoustic, "-o", tmp_path / "g", "--momentum", "1"))
    assert not (tmp_path / "g").exists()
    assert "a pipeline brings its own vocoder" in one_error_line(
        _cli("synth", pipe, "--text", "hello", "-o", out, "--vocoder", "griffin-lim"))
    assert "hop_length 200 vs 256" in one_error_line(
        _cli("synth", acoustic, "--text", "hello", "-o", out, "--vocoder", other, "--max-steps", "3"))
    assert "neither griffin-lim nor an artifact folder" in one_error_line(
        _cli("synth", acoustic, "--text", "hello", "-o", out, "--vocoder", "wavenet"))
    assert "needs a vocoder artifact, this one is asr" in one_error_line(
        _cli("synth", acoustic, "--text", "hello", "-o", out, "--vocoder", tiny_models["crnn-ctc"]))
    assert "synth needs a tts artifact, this one is vocoder (griffin-lim)" in one_error_line(
        _cli("synth", gl, "--text", "hello", "-o", out))
    assert not out.exists()


def test_eval_and_bench_use_a_pipelines_own_vocoder(tmp_path, one_thread):
    """eval on a pipeline runs its acoustic model's graphs and vocodes with its vocoder's settings."""
    from speechopt.evaluate import evaluate_artifact
    from speechopt.models.tts.griffin_lim import GriffinLimSettings
    from speechopt.models.tts.pipeline import make_pipeline
    from speechopt.models.tts.vocoder import griffin_lim_like

    acoustic = _tiny_tts(tmp_path / "t2")
    voc = griffin_lim_like(acoustic.path, tmp_path / "gl4", GriffinLimSettings(n_iter=4))
    pipe = make_pipeline(acoustic.path, voc.path, tmp_path / "pipe")
    texts = tmp_path / "texts.txt"
    texts.write_text("hello world.\nthe cat sat.\n")
    result = evaluate_artifact(pipe.path, texts, threads=1)
    assert result["vocoder"]["n_iter"] == 4 and result["vocoder"]["checksum"] == voc.checksum
    assert result["format"] == "pipeline" and 0.0 <= result["gate_fired"] <= 1.0
