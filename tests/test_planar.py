"""The planar (N, C, 1, T) form that separable-ctc is exported in: the same function, 4-D convs in the graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from speechopt.models.planar import planar_copy
from speechopt.models.registry import build_model
from speechopt.steps.export import export_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _with_running_stats(model, seed=0):
    """Batch norm statistics away from (0, 1), so a layer swapped wrongly would show."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
    return model.eval()


def test_planar_form_computes_the_same_on_a_padded_batch():
    model = _with_running_stats(build_model("separable-ctc", {"channels": 16, "blocks": 2, "repeats": 2,
                                                              "kernels": [5, 7]}))
    planar = model.to_planar()
    assert model.planar is False and planar.planar is True
    assert not any(isinstance(m, (nn.Conv1d, nn.BatchNorm1d)) for m in planar.modules())
    lengths = torch.tensor([93, 60, 11])
    features = torch.randn(3, 93, 64) * (torch.arange(93)[None, :] < lengths[:, None])[..., None]
    with torch.no_grad():
        (a, la), (b, lb) = model(features, lengths), planar(features, lengths)
    assert torch.equal(la, lb)
    for i, n in enumerate(la.tolist()):  # padding frames differ by nothing either, but only valid ones matter
        assert torch.allclose(a[i, :n], b[i, :n], atol=1e-5)


def test_planar_copy_keeps_stride_padding_dilation_and_groups():
    conv = nn.Conv1d(8, 8, 5, stride=2, padding=4, dilation=2, groups=4)
    seq = nn.Sequential(conv)
    out = planar_copy(seq)[0]
    assert isinstance(out, nn.Conv2d)
    assert (out.stride, out.padding, out.dilation, out.groups) == ((1, 2), (0, 4), (1, 2), 4)
    x = torch.randn(2, 8, 40)
    assert torch.allclose(conv(x), out(x.unsqueeze(2)).squeeze(2), atol=1e-6)
    assert conv.weight.shape == (8, 2, 5)  # the source is untouched


def test_planar_copy_refuses_string_padding():
    with pytest.raises(ValueError, match="numeric zero padding"):
        planar_copy(nn.Sequential(nn.Conv1d(4, 4, 3, padding="same")))


def test_onnx_export_traces_the_planar_form_and_validates_against_the_trained_model(tiny_models, tiny_corpus,
                                                                                     tmp_path):
    import onnx

    out = export_model(tiny_models["separable-ctc"], "onnx", tmp_path / "sep.onnx", validation_data=tiny_corpus)
    info = out.manifest["export"]
    assert "planar" in info["export_form"] and out.manifest["validation"]["passed"]
    graph = onnx.load(str(out.graph_path())).graph
    weights = {t.name: t for t in graph.initializer}
    conv_weights = [weights[n.input[1]] for n in graph.node if n.op_type == "Conv" and n.input[1] in weights]
    assert conv_weights and all(len(w.dims) == 4 and w.dims[2] == 1 for w in conv_weights)
    # TorchScript traces the model as trained
    ts = export_model(tiny_models["separable-ctc"], "torchscript", tmp_path / "sep.ts", validation_data=tiny_corpus)
    assert "export_form" not in ts.manifest["export"]
    assert np.isfinite(ts.manifest["validation"]["max_abs_diff"])


def test_layout_native_traces_the_model_as_trained_and_planar_is_refused_where_it_does_not_exist(
        tiny_models, tiny_corpus, tmp_path):
    import onnx

    from speechopt.errors import SpeechoptError

    out = export_model(tiny_models["separable-ctc"], "onnx", tmp_path / "native", validation_data=tiny_corpus,
                       layout="native")
    assert "export_form" not in out.manifest["export"] and out.manifest["lineage"]["settings"]["layout"] == "native"
    graph = onnx.load(str(out.graph_path())).graph
    weights = {t.name: t for t in graph.initializer}
    assert all(len(weights[n.input[1]].dims) == 3 for n in graph.node if n.op_type == "Conv" and n.input[1] in weights)
    with pytest.raises(SpeechoptError, match="no planar form"):
        export_model(tiny_models["cnn-ctc"], "onnx", tmp_path / "cnn", validation_data=tiny_corpus, layout="planar")
    with pytest.raises(SpeechoptError, match="unknown --layout"):
        export_model(tiny_models["cnn-ctc"], "onnx", tmp_path / "cnn", validation_data=tiny_corpus, layout="flat")
    assert not (tmp_path / "cnn").exists()
