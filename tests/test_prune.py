import pytest
import torch

from speechopt.artifact import load_artifact
from speechopt.errors import SpeechoptError
from speechopt.models.pytorch import load_pytorch_model
from speechopt.models.registry import build_model
from speechopt.steps.prune import PruneSettings, magnitude_prune, prune, structured_prune


def _inputs():
    torch.manual_seed(1)
    feats = torch.randn(2, 41, 64)
    return feats, torch.tensor([41, 30])


def _kill_rnn_units(rnn, units):
    """Zero every weight into and out of `units` in every layer/direction: those units output 0 forever."""
    gates = 4 if rnn.mode == "LSTM" else 3
    h = rnn.hidden_size
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            rows = torch.cat([torch.tensor(units) + g * h for g in range(gates)])
            p[rows] = 0.0
            if name.startswith("weight_hh"):
                p[:, units] = 0.0


def test_structured_crnn_removing_dead_units_changes_nothing():
    config = {"conv_channels": 8, "proj": 32, "hidden": 24, "layers": 2, "dropout": 0.0}
    model = build_model("crnn-ctc", config).eval()
    with torch.no_grad():
        for conv, bn in ((model.conv[0], model.conv[1]), (model.conv[3], model.conv[4])):
            conv.weight[[1, 5]] = 0.0; conv.bias[[1, 5]] = 0.0; bn.weight[[1, 5]] = 0.0; bn.bias[[1, 5]] = 0.0
        dead_proj = list(range(0, 32, 4))
        model.proj[0].weight[dead_proj] = 0.0; model.proj[0].bias[dead_proj] = 0.0
        _kill_rnn_units(model.rnn, [2, 7, 11, 13, 19, 23])
    full = build_model("crnn-ctc", config).eval()
    full.load_state_dict(model.state_dict())
    small, new_config = structured_prune(model, "crnn-ctc", {**config, "n_features": 64, "vocab_size": 29}, 0.25)
    assert (new_config["conv_channels"], new_config["proj"], new_config["hidden"]) == (6, 24, 18)
    feats, lengths = _inputs()
    with torch.no_grad():
        a, la = full(feats, lengths)
        b, lb = small(feats, lengths)
    assert torch.equal(la, lb)
    assert torch.allclose(a, b, atol=1e-5)
    assert sum(p.numel() for p in small.parameters()) < 0.7 * sum(p.numel() for p in full.parameters())


@pytest.mark.parametrize("arch,config", [("lstm-ctc", {"hidden": 24, "layers": 2, "dropout": 0.0}),
                                         ("cnn-ctc", {"channels": 32, "blocks": 2, "dropout": 0.0})])
def test_structured_other_families_shapes(arch, config):
    model = build_model(arch, config).eval()
    small, new_config = structured_prune(model, arch, {**model_config(arch, config)}, 0.5)
    feats, lengths = _inputs()
    with torch.no_grad():
        lp, ol = small(feats, lengths)
    assert lp.shape == (2, 21, 29)
    assert sum(p.numel() for p in small.parameters()) < 0.5 * sum(p.numel() for p in model.parameters())


def model_config(arch, config):
    from speechopt.models.registry import get_architecture

    return get_architecture(arch).full_config(config)


def test_lstm_dead_units_exact():
    config = {"hidden": 16, "layers": 2, "dropout": 0.0}
    model = build_model("lstm-ctc", config).eval()
    _kill_rnn_units(model.rnn, [0, 3, 9, 15])
    small, _ = structured_prune(model, "lstm-ctc", model_config("lstm-ctc", config), 0.25)
    feats, lengths = _inputs()
    with torch.no_grad():
        assert torch.allclose(model(feats, lengths)[0], small(feats, lengths)[0], atol=1e-5)


def test_unstructured_reaches_sparsity_and_shrinks_compressed_size(tiny_models, tmp_path):
    art = prune(tiny_models["crnn-ctc"], tmp_path / "p", PruneSettings(amount=0.6))
    info = load_artifact(art.path).manifest["metrics"]["prune"]
    assert info["sparsity"] == pytest.approx(0.6, abs=0.01)
    assert info["compressed_bytes"] < info["parent_compressed_bytes"]
    assert art.manifest["lineage"]["step"] == "prune"
    model = load_pytorch_model(art)
    assert model.head.weight.eq(0).any()


def test_layer_scope():
    model = build_model("cnn-ctc", {"channels": 16, "blocks": 1})
    assert magnitude_prune(model, 0.3, scope="layer") == pytest.approx(0.3, abs=0.02)


def test_structured_artifact_is_smaller(tiny_models, tmp_path):
    art = prune(tiny_models["crnn-ctc"], tmp_path / "s", PruneSettings(amount=0.5, structured=True))
    info = art.manifest["metrics"]["prune"]
    assert info["parameters_after"] < info["parameters_before"]
    assert art.architecture["config"]["hidden"] == 12
    load_pytorch_model(load_artifact(art.path))


@pytest.mark.parametrize("amount", [-0.1, 1.0, 1.5])
def test_bad_amount_leaves_nothing(tiny_models, tmp_path, amount):
    with pytest.raises(SpeechoptError, match=r"amount must be in \[0, 1\)"):
        prune(tiny_models["cnn-ctc"], tmp_path / "x", PruneSettings(amount=amount))
    assert not (tmp_path / "x").exists()
