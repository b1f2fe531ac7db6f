"""The bundled zoo: every model loads, verifies and transcribes the bundled evaluation set as recorded."""

import pytest

from speechopt.artifact import load_artifact
from speechopt.zoo import list_zoo, resolve

MODELS = [e["name"] for e in list_zoo() if e["kind"] == "model"]


def test_zoo_has_every_asr_family_and_an_eval_set():
    assert {"cnn-ctc", "lstm-ctc", "crnn-ctc"} <= set(MODELS)
    data = {e["name"]: e for e in list_zoo() if e["kind"] == "dataset"}
    assert data["eval"]["utterances"] >= 300


@pytest.mark.parametrize("name", MODELS)
def test_bundled_model_verifies_and_records_its_eval_wer(name):
    art = load_artifact(resolve(f"zoo:{name}"))  # checksums verified
    assert art.size_bytes() < 10e6
    metrics = art.manifest["metrics"]
    if art.task == "tts":  # round trip through Griffin-Lim and zoo:crnn-ctc on zoo:tts-eval
        assert metrics["eval_data"] == "zoo:tts-eval" and 0.0 <= metrics["roundtrip_wer"]
        assert 0.0 <= metrics["gate_fired"] <= 1.0 and 0.0 <= metrics["monotonic"] <= 1.0
        return
    if art.task == "vocoder":  # copy synthesis on zoo:tts-eval, beside Griffin-Lim of the same mels and the floor
        assert metrics["eval_data"] == "zoo:tts-eval" and metrics["copy_wer"] >= metrics["floor_wer"] >= 0.0
        assert metrics["griffin_lim_copy_wer"] >= 0.0 and metrics["resynthesis_mcd_db"] > 0.0
        return
    assert 0.0 <= metrics["eval_wer"] <= 1.0
    assert metrics["eval_wer_lexicon"] <= metrics["eval_wer"]  # true of every bundled model, not a theorem


def test_bundled_tts_eval_set_repeats_no_training_sentence():
    import json

    settings = json.loads((resolve("zoo:tts-eval").parent / "settings.json").read_text())
    assert [0, 4000] in settings["exclude"]  # the training corpus: seed 0, 4,000 sentences
    from speechopt.data.tts_corpus import TtsSynthSettings, settings_sentences

    train = set(settings_sentences(TtsSynthSettings(num=4000, seed=0)))
    rows = [json.loads(x) for x in resolve("zoo:tts-eval").read_text().splitlines()]
    assert len(rows) >= 100 and not {r["text"] for r in rows} & train


def test_bundled_crnn_wer_is_what_the_manifest_says():
    """Re-measure the headline figure: recorded at batch 1, here at batch 16 (padding may move it a little)."""
    from speechopt.evaluate import evaluate_artifact

    art = load_artifact(resolve("zoo:crnn-ctc"))
    result = evaluate_artifact(art.path, resolve("zoo:eval"), batch_size=16)
    assert result["utterances"] == 320
    assert result["wer"] == pytest.approx(art.manifest["metrics"]["eval_wer"], abs=0.01)
    assert result["cer"] < 0.08


def test_zoo_add_records_both_decoders(tmp_path, monkeypatch, tiny_models, tiny_corpus):
    import speechopt.zoo as zoo

    monkeypatch.setattr(zoo, "zoo_root", lambda: tmp_path)
    (tmp_path / "models").mkdir()
    r = zoo.add_to_zoo(tiny_models["cnn-ctc"], "tiny", data=tiny_corpus)
    art = load_artifact(tmp_path / "models" / "tiny")
    metrics = art.manifest["metrics"]
    assert metrics["eval_wer"] == r["eval_wer"] and metrics["eval_wer_lexicon"] == r["eval_wer_lexicon"]
    assert metrics["eval_utterances"] == 12 and art.manifest["name"] == "tiny"
