import pytest
import torch

from speechopt.errors import SpeechoptError
from speechopt.steps.distill import DistillSettings, distill, kl_hook
from speechopt.train import TrainSettings


def test_kl_hook_is_zero_when_student_equals_teacher():
    from speechopt.models.registry import build_model

    torch.manual_seed(0)
    model = build_model("cnn-ctc", {"channels": 16, "blocks": 1}).eval()
    feats, lengths = torch.randn(2, 30, 64), torch.tensor([30, 20])
    lp, _ = model(feats, lengths)
    ctc = torch.tensor(1.5)
    assert kl_hook(model, 2.0, 0.5)(ctc, lp, feats, lengths).item() == pytest.approx(0.75, abs=1e-5)
    other = build_model("cnn-ctc", {"channels": 16, "blocks": 1}).eval()
    lp2, _ = other(feats, lengths)
    assert kl_hook(model, 2.0, 0.5)(ctc, lp2, feats, lengths).item() > 0.75


def test_distill_writes_student_with_lineage(tiny_models, tiny_corpus, tmp_path):
    from speechopt.artifact import load_artifact

    student = distill(tiny_models["crnn-ctc"], DistillSettings("crnn-ctc", {"conv_channels": 4, "proj": 16, "hidden": 8,
                                                                           "layers": 1}),
                      TrainSettings(arch="", epochs=1, threads=1), tiny_corpus, tiny_corpus, tmp_path / "s",
                      log=lambda m: None)
    m = load_artifact(student.path).manifest
    assert m["lineage"]["step"] == "distill"
    assert m["lineage"]["parent"]["checksum"] == load_artifact(tiny_models["crnn-ctc"]).checksum
    assert m["lineage"]["settings"]["distill"]["temperature"] == 2.0
    assert m["architecture"]["config"]["hidden"] == 8


def test_distill_starts_from_a_pruned_teacher(tiny_models, tiny_corpus, tmp_path):
    """--init-from: the student takes the pruned model's shape and weights; its parent is still the teacher."""
    from speechopt.artifact import load_artifact
    from speechopt.steps.prune import PruneSettings, prune

    teacher = tiny_models["crnn-ctc"]
    pruned = prune(teacher, tmp_path / "pruned", PruneSettings(amount=0.5, structured=True))
    student = distill(teacher, DistillSettings(None), TrainSettings(arch="", max_steps=1, threads=1,
                                                                     init_from=str(pruned.path)),
                      tiny_corpus, tiny_corpus, tmp_path / "s", log=lambda m: None)
    m = load_artifact(student.path).manifest
    assert m["architecture"]["config"] == pruned.architecture["config"]
    assert m["lineage"]["parent"]["checksum"] == load_artifact(teacher).checksum
    assert m["lineage"]["settings"]["init_from"] == str(pruned.path)
    with pytest.raises(SpeechoptError, match="drop --student-config"):
        distill(teacher, DistillSettings(None, {"hidden": 4}), TrainSettings(arch="", max_steps=1, init_from=str(pruned.path)),
                tiny_corpus, tiny_corpus, tmp_path / "x", log=lambda m: None)
    with pytest.raises(SpeechoptError, match="not a cnn-ctc"):
        distill(teacher, DistillSettings("cnn-ctc"), TrainSettings(arch="", max_steps=1, init_from=str(pruned.path)),
                tiny_corpus, tiny_corpus, tmp_path / "y", log=lambda m: None)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_incompatible_student_is_refused(tiny_models, tiny_corpus, tmp_path):
    with pytest.raises(SpeechoptError, match="vocabulary"):
        distill(tiny_models["cnn-ctc"], DistillSettings("cnn-ctc", {"channels": 8, "blocks": 1, "vocab_size": 40}),
                TrainSettings(arch="", epochs=1), tiny_corpus, tiny_corpus, tmp_path / "a", log=lambda m: None)
    with pytest.raises(SpeechoptError, match="alpha"):
        distill(tiny_models["cnn-ctc"], DistillSettings("cnn-ctc", alpha=2.0),
                TrainSettings(arch="", epochs=1), tiny_corpus, tiny_corpus, tmp_path / "b", log=lambda m: None)
    assert not any(tmp_path.iterdir())


def test_frame_rate_mismatch_is_refused():
    from speechopt.steps.distill import check_student

    class Half(torch.nn.Module):
        def forward(self, feats, lengths):
            return torch.zeros(1, feats.shape[1] // 4, 29), lengths // 4

    class Full(torch.nn.Module):
        def forward(self, feats, lengths):
            return torch.zeros(1, feats.shape[1] // 2, 29), lengths // 2

    with pytest.raises(SpeechoptError, match="equal frame rates"):
        check_student(Full(), Half(), 64, 29, 29)


def test_kl_hook_in_bf16_stays_near_fp32():
    """The teacher's forward pass in bf16 moves the loss by bf16 rounding only; the KL itself is fp32."""
    from speechopt.models.registry import build_model

    torch.manual_seed(0)
    teacher = build_model("cnn-ctc", {"channels": 16, "blocks": 1}).eval()
    student = build_model("cnn-ctc", {"channels": 16, "blocks": 1}).eval()
    feats, lengths = torch.randn(2, 30, 64), torch.tensor([30, 20])
    lp, _ = student(feats, lengths)
    ctc = torch.tensor(1.5)
    full = kl_hook(teacher, 2.0, 0.5)(ctc, lp, feats, lengths)
    half = kl_hook(teacher, 2.0, 0.5, "bf16")(ctc, lp, feats, lengths)
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(full.item(), rel=0.02)
