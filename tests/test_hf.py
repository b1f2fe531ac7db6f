"""Hugging Face wav2vec2 CTC import: a tiny random Wav2Vec2ForCTC saved with save_pretrained, imported,
compared with transformers' own outputs, then evaluated, exported, quantized; and the one-line errors."""

import json
import shutil
import sys

import numpy as np
import pytest
from conftest import one_error_line
from typer.testing import CliRunner

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402

from speechopt.artifact import load_artifact  # noqa: E402
from speechopt.audio.features import Frontend  # noqa: E402
from speechopt.cli import app  # noqa: E402
from speechopt.data.manifest import read_manifest  # noqa: E402
from speechopt.tasks.asr.decode import ctc_greedy  # noqa: E402
from speechopt.errors import SpeechoptError  # noqa: E402
from speechopt.audio.io import load_utterance_audio  # noqa: E402
from speechopt.models.hf_import import import_hf_wav2vec2, match_weight_names, read_vocabulary  # noqa: E402
from speechopt.models.pytorch import load_pytorch_model  # noqa: E402
from speechopt.tasks.asr import frontend_config  # noqa: E402
from speechopt.tasks.asr import tokenizer as asr_tokenizer  # noqa: E402
from speechopt.text import normalize_text  # noqa: E402

VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["'"]
NEVER_EMITTED = [1, 2, 3]  # <s>, </s>, <unk>: HF's decode prints them literally, speechopt drops them
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def save_tiny_wav2vec2(folder, feat_extract_norm: str):
    """A random 2-layer Wav2Vec2ForCTC and its processor, written as save_pretrained writes them."""
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
                              Wav2Vec2Processor)

    folder.mkdir(parents=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(VOCAB)}))
    layer = feat_extract_norm == "layer"
    processor = Wav2Vec2Processor(
        feature_extractor=Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                                   do_normalize=True, return_attention_mask=layer),
        tokenizer=Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), unk_token="<unk>", pad_token="<pad>",
                                       word_delimiter_token="|"))
    config = Wav2Vec2Config(
        vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16, 16, 16), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, feat_extract_norm=feat_extract_norm, do_stable_layer_norm=layer,
        pad_token_id=0, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(config).eval()
    with torch.no_grad():
        model.lm_head.bias[NEVER_EMITTED] = -100.0
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return model, processor


@pytest.fixture(scope="module", params=["group", "layer"])
def hf(request, tmp_path_factory, one_thread):
    """(HF model, processor, folder, imported artifact) for a group-norm (base) and a layer-norm (lv60) model."""
    root = tmp_path_factory.mktemp(f"hf-{request.param}")
    model, processor = save_tiny_wav2vec2(root / "hf", request.param)
    artifact = import_hf_wav2vec2(root / "hf", root / "imported")
    return model, processor, root / "hf", artifact


@pytest.fixture(scope="module")
def audios(tiny_corpus):
    utts = read_manifest(tiny_corpus)[:4]
    return load_utterance_audio(utts, 16000)


def test_imported_model_matches_transformers(hf, audios):
    model, processor, _, artifact = hf
    ours = load_pytorch_model(load_artifact(artifact.path))
    frontend, tokenizer = Frontend(frontend_config(artifact)), asr_tokenizer(artifact)
    assert artifact.graph()["inputs"][0]["shape"] == ["batch", "frames", 1]
    uses_mask = model.config.feat_extract_norm == "layer"
    assert ours.uses_attention_mask is uses_mask
    # one utterance at a time, and (for models trained with a mask) a padded batch with HF's own mask
    batches = [[a] for a in audios] + ([audios] if uses_mask else [])
    for batch in batches:
        feats, lengths = frontend.from_arrays(batch)
        inputs = processor(batch, sampling_rate=16000, return_tensors="pt", padding=True,
                           return_attention_mask=uses_mask)
        with torch.inference_mode():
            log_probs, out_lengths = ours(feats, lengths)
            reference = torch.log_softmax(model(inputs.input_values, attention_mask=inputs.get("attention_mask")).logits, -1)
        assert log_probs.shape == reference.shape
        diffs = [float((log_probs[i, :n] - reference[i, :n]).abs().max()) for i, n in enumerate(out_lengths)]
        assert max(diffs) < 1e-4, diffs
        texts = ctc_greedy(log_probs.numpy(), out_lengths.numpy(), tokenizer)
        hf_texts = processor.batch_decode(reference.argmax(-1))
        if len(batch) == 1:
            assert out_lengths.tolist() == [reference.shape[1]]
            assert [normalize_text(t) for t in texts] == [normalize_text(t) for t in hf_texts]
            assert texts[0].strip()  # something to compare: the random model does emit characters


def test_import_records_source_and_tokenizer(hf):
    _, _, folder, artifact = hf
    m = artifact.manifest
    assert m["architecture"]["name"] == "hf-wav2vec2-ctc" and m["architecture"]["config"]["hidden_size"] == 32
    assert m["frontend"]["kind"] == "waveform" and m["frontend"]["normalize"] == "per_utterance"
    assert m["tokenizer"]["blank_id"] == 0 and m["tokenizer"]["vocabulary"][4] == " "
    assert m["tokenizer"]["vocabulary"][:4] == ["", "", "", ""]
    settings = m["lineage"]["settings"]
    assert m["lineage"]["step"] == "import" and settings["transformers"] == transformers.__version__
    assert set(settings["source_files"]) >= {"config.json", "model.safetensors", "vocab.json"}


def test_export_onnx_and_quantize(hf, tiny_corpus, tmp_path):
    from speechopt.steps.export import export_model
    from speechopt.steps.quantize import QuantizeSettings, quantize

    onnx_art = export_model(hf[3], "onnx", tmp_path / "m.onnx", validation_data=tiny_corpus, max_validation_utts=4)
    info = onnx_art.manifest["export"]
    assert info["exporter"] == "legacy" and not info["fallback"]
    assert [c["frames"] for c in info["dynamic_shape_check"]] == [37 * 160, 101 * 160, 263 * 160]
    assert onnx_art.manifest["validation"]["transcripts_equal"] == "4/4"
    q = quantize(onnx_art, tmp_path / "m.int8", QuantizeSettings(method="dynamic"), validation_data=str(tiny_corpus))
    assert q.manifest["quantization"]["method"] == "dynamic" and np.isfinite(q.manifest["validation"]["max_abs_diff"])


def test_cli_import_then_eval(hf, tiny_corpus, tmp_path):
    folder = hf[2]
    r = run("import-hf", folder, "-o", tmp_path / "m")
    assert r.exit_code == 0, r.output
    assert "hf-wav2vec2-ctc" in r.stdout and "16000 Hz waveform" in r.stdout
    r = run("eval", tmp_path / "m", "--data", tiny_corpus, "--batch-size", 4, "--json", tmp_path / "e.json")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "e.json").read_text())["utterances"] == 12


def test_bin_weights_with_legacy_weight_norm_names(hf, tmp_path):
    """pytorch_model.bin (read weights_only) and weight_g/weight_v names from older transformers/torch."""
    _, _, folder, artifact = hf
    legacy = tmp_path / "legacy"
    shutil.copytree(folder, legacy)
    from safetensors.torch import load_file

    state = load_file(str(legacy / "model.safetensors"))
    renamed = {k.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1", "weight_v"): v
               for k, v in state.items()}
    assert renamed.keys() != state.keys()
    (legacy / "model.safetensors").unlink()
    torch.save(renamed, legacy / "pytorch_model.bin")
    again = import_hf_wav2vec2(legacy, tmp_path / "from-bin")
    assert again.manifest["lineage"]["settings"]["weights"] == "pytorch_model.bin"
    a, b = (load_pytorch_model(load_artifact(x.path)).state_dict() for x in (artifact, again))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_match_weight_names_reports_missing_and_unexpected():
    expected = ["conv.parametrizations.weight.original0", "lm_head.weight"]
    state, missing, unexpected = match_weight_names({"conv.weight_g": 1, "quantizer.codevectors": 2}, expected)
    assert state == {"conv.parametrizations.weight.original0": 1}
    assert missing == ["lm_head.weight"] and unexpected == ["quantizer.codevectors"]


def test_vocabulary_mapping(tmp_path):
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "A": 5, "B": 6, "'": 7}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    chars, blank = read_vocabulary(tmp_path, {"vocab_size": 10, "pad_token_id": 0})
    assert chars == ["", "", "", "", " ", "a", "b", "'", "", ""] and blank == 0
    (tmp_path / "vocab.json").write_text(json.dumps({**vocab, "ab": 8}))
    with pytest.raises(SpeechoptError, match="not a single character"):
        read_vocabulary(tmp_path, {"vocab_size": 10, "pad_token_id": 0})
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(SpeechoptError, match="differs from the tokenizer's pad token"):
        read_vocabulary(tmp_path, {"vocab_size": 10, "pad_token_id": 3})


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    target = data.get("feature_extractor", data)  # processor_config.json nests the feature extractor
    target.update(changes)
    path.write_text(json.dumps(data))


def _preprocessor_file(folder):
    return next(folder / n for n in ("preprocessor_config.json", "processor_config.json") if (folder / n).is_file())


def test_errors_are_one_line(hf, tmp_path, monkeypatch):
    folder = hf[2]
    assert "folder not found" in one_error_line(run("import-hf", tmp_path / "missing", "-o", tmp_path / "o"))

    other = tmp_path / "hubert"
    shutil.copytree(folder, other)
    _edit_json(other / "config.json", model_type="hubert", architectures=["HubertForCTC"])
    assert "model_type 'hubert' is not supported" in one_error_line(run("import-hf", other, "-o", tmp_path / "o"))

    pretraining = tmp_path / "pretraining"
    shutil.copytree(folder, pretraining)
    _edit_json(pretraining / "config.json", architectures=["Wav2Vec2ForPreTraining"])
    assert "no CTC head" in one_error_line(run("import-hf", pretraining, "-o", tmp_path / "o"))

    bad_rate = tmp_path / "rate"
    shutil.copytree(folder, bad_rate)
    _edit_json(_preprocessor_file(bad_rate), sampling_rate="16k")
    assert "sampling_rate '16k'" in one_error_line(run("import-hf", bad_rate, "-o", tmp_path / "o"))

    no_weights = tmp_path / "no-weights"
    shutil.copytree(folder, no_weights)
    (no_weights / "model.safetensors").unlink()
    assert "no weights" in one_error_line(run("import-hf", no_weights, "-o", tmp_path / "o"))
    assert not (tmp_path / "o").exists()

    monkeypatch.setitem(sys.modules, "transformers", None)  # as if transformers were not installed
    line = one_error_line(run("import-hf", folder, "-o", tmp_path / "o"))
    assert "pip install 'speechopt[hf]'" in line


def test_other_sample_rates_are_recorded_for_resampling(hf, tmp_path):
    folder = tmp_path / "8k"
    shutil.copytree(hf[2], folder)
    _edit_json(_preprocessor_file(folder), sampling_rate=8000, do_normalize=False)
    artifact = import_hf_wav2vec2(folder, tmp_path / "m")
    assert frontend_config(artifact).sample_rate == 8000 and frontend_config(artifact).normalize == "none"
