import pytest

from speechopt.artifact import load_artifact
from speechopt.errors import SpeechoptError
from speechopt.train import TrainSettings, freq_warp, make_batches, train_asr
from speechopt.train_state import lr_factor


def test_lr_schedule_warms_up_then_decays():
    assert lr_factor(0.0, 0.1) < lr_factor(0.05, 0.1) < lr_factor(0.1, 0.1) == pytest.approx(1.0)
    assert lr_factor(0.5, 0.1) > lr_factor(0.9, 0.1) > lr_factor(1.0, 0.1) == pytest.approx(0.02)


def test_batches_cover_every_utterance_once_within_budget():
    import random

    lengths = [random.Random(i).randint(50, 400) for i in range(200)]
    batches = make_batches(lengths, 2000, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(200))
    assert all(max(lengths[i] for i in b) * len(b) <= 2000 or len(b) == 1 for b in batches)


def test_freq_warp_moves_a_formant_and_keeps_shape():
    import random

    import torch

    feats = torch.zeros(2, 30, 64)
    feats[:, :, 32] = 1.0  # one spectral peak
    assert torch.equal(freq_warp(feats, 0.0, random.Random(0)), feats)
    warped = freq_warp(feats, 0.2, random.Random(1))
    assert warped.shape == feats.shape
    peaks = warped.mean(1).argmax(-1)
    assert all(25 <= int(p) <= 39 for p in peaks) and not torch.equal(warped, feats)
    assert torch.allclose(warped.sum(-1), warped.sum(-1)[:, :1].expand(-1, 30))  # same warp on every frame


@pytest.mark.parametrize("arch,config", [("crnn-ctc", {"conv_channels": 4, "proj": 16, "hidden": 16, "layers": 1}),
                                         ("cnn-ctc", {"channels": 16, "blocks": 1})])
def test_train_writes_artifact_with_lineage_and_resumes(tmp_path, tiny_corpus, arch, config):
    settings = TrainSettings(arch=arch, config=config, epochs=1, optimizer="rmsprop", lr=1e-3, threads=1)
    art = train_asr(settings, tiny_corpus, tmp_path / "m", val_data=tiny_corpus, log=lambda m: None)
    art = load_artifact(art.path)
    assert art.manifest["lineage"]["step"] == "train"
    assert art.manifest["lineage"]["settings"]["optimizer"] == "rmsprop"
    assert 0.0 <= art.manifest["metrics"]["val_wer"]
    assert not (tmp_path / "m.train-state").exists()  # state removed after a finished run
    # an existing output is refused without overwrite
    with pytest.raises(SpeechoptError, match="already exists"):
        train_asr(settings, tiny_corpus, tmp_path / "m", val_data=tiny_corpus, log=lambda m: None)


def test_resume_continues_from_saved_state(tmp_path, tiny_corpus):
    settings = TrainSettings(arch="cnn-ctc", config={"channels": 16, "blocks": 1}, epochs=2, threads=1)
    out = tmp_path / "m"
    state = tmp_path / "m.train-state" / "state.pt"

    def interrupt_after_first_checkpoint(loss, *_):
        if state.exists():  # epoch 1 was checkpointed: stop as a Ctrl-C would
            raise KeyboardInterrupt
        return loss

    with pytest.raises(KeyboardInterrupt):
        train_asr(settings, tiny_corpus, out, val_data=tiny_corpus, log=lambda m: None,
                  distill=interrupt_after_first_checkpoint)
    assert state.exists() and not out.exists()  # no half artifact, state kept
    logs = []
    art = train_asr(settings, tiny_corpus, out, val_data=tiny_corpus, resume=True, log=logs.append)
    assert any("resumed at epoch 1" in m for m in logs)
    assert [h.get("epoch") for h in art.manifest["lineage"]["settings"]["history"]] == [1, 2]


def test_bad_settings(tmp_path, tiny_corpus):
    with pytest.raises(SpeechoptError, match="unknown optimizer"):
        train_asr(TrainSettings(arch="cnn-ctc", config={"channels": 8, "blocks": 1}, epochs=1, optimizer="lbfgs"),
                  tiny_corpus, tmp_path / "x", val_data=tiny_corpus, log=lambda m: None)
    with pytest.raises(SpeechoptError, match="unknown architecture"):
        train_asr(TrainSettings(arch="transformer", epochs=1), tiny_corpus, tmp_path / "y", val_data=tiny_corpus)
    with pytest.raises(SpeechoptError, match="--epochs, --max-steps or --time-budget"):
        train_asr(TrainSettings(arch="cnn-ctc"), tiny_corpus, tmp_path / "z", val_data=tiny_corpus)
    assert not any(tmp_path.iterdir())


def test_init_from_fine_tunes_with_lineage(tmp_path, tiny_corpus):
    config = {"channels": 16, "blocks": 1}
    base = train_asr(TrainSettings(arch="cnn-ctc", config=config, epochs=1, threads=1), tiny_corpus,
                     tmp_path / "base", val_data=tiny_corpus, log=lambda m: None)
    tuned = train_asr(TrainSettings(arch="cnn-ctc", config=config, epochs=1, threads=1, init_from=str(base.path)),
                      tiny_corpus, tmp_path / "tuned", val_data=tiny_corpus, log=lambda m: None)
    lineage = tuned.manifest["lineage"]
    assert lineage["step"] == "finetune" and lineage["parent"]["checksum"] == base.checksum
    with pytest.raises(SpeechoptError, match="same architecture"):
        train_asr(TrainSettings(arch="cnn-ctc", config={"channels": 8, "blocks": 1}, epochs=1, init_from=str(base.path)),
                  tiny_corpus, tmp_path / "x", val_data=tiny_corpus, log=lambda m: None)


def test_average_states_means_floats_and_keeps_counters():
    import torch

    from speechopt.train_state import average_states

    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(9)}
    avg = average_states([a, b])
    assert torch.equal(avg["w"], torch.tensor([2.0, 4.0])) and int(avg["n"]) == 3


def test_checkpoint_averaging_keeps_n_best_and_records_the_choice(tmp_path, tiny_corpus):
    settings = TrainSettings(arch="cnn-ctc", config={"channels": 16, "blocks": 1}, epochs=3, threads=1, average=2)
    logs = []
    art = train_asr(settings, tiny_corpus, tmp_path / "m", val_data=tiny_corpus, log=logs.append)
    averaged = art.manifest["lineage"]["settings"]["averaged"]
    history = art.manifest["lineage"]["settings"]["history"]
    # the two checkpoints averaged are the two best validations (ties: the later one)
    best_two = sorted(history, key=lambda h: (h["wer"], -h["step"]))[:2]
    assert sorted(averaged["checkpoints"]) == sorted(h["step"] for h in best_two)
    best_single = min(h["wer"] for h in history)
    assert averaged["used"] == (averaged["val_wer"] <= best_single)
    assert art.manifest["metrics"]["val_wer"] == (averaged["val_wer"] if averaged["used"] else best_single)
    assert any("average of 2 best checkpoints" in m for m in logs)


def test_bf16_training_keeps_fp32_weights_and_records_the_precision(tmp_path, tiny_corpus):
    """--precision bf16: forward passes under CPU autocast; the artifact's weights are fp32 and its lineage
    says bf16. (Whether bf16 trains as well as fp32 is a question for a full run, not for this test.)"""
    import torch

    from speechopt.models.pytorch import load_pytorch_model

    settings = TrainSettings(arch="crnn-ctc", config={"conv_channels": 4, "proj": 16, "hidden": 16, "layers": 1},
                             epochs=1, threads=1, precision="bf16")
    art = load_artifact(train_asr(settings, tiny_corpus, tmp_path / "m", val_data=tiny_corpus, log=lambda m: None).path)
    assert art.manifest["lineage"]["settings"]["precision"] == "bf16"
    assert all(p.dtype == torch.float32 for p in load_pytorch_model(art).parameters())
    assert art.manifest["metrics"]["val_wer"] >= 0.0


def test_unknown_precision_is_refused(tmp_path, tiny_corpus):
    with pytest.raises(SpeechoptError, match="--precision is fp32 or bf16"):
        train_asr(TrainSettings(arch="cnn-ctc", config={"channels": 8, "blocks": 1}, epochs=1, precision="fp16"),
                  tiny_corpus, tmp_path / "m", val_data=tiny_corpus, log=lambda m: None)
    assert not (tmp_path / "m").exists()


def test_schedule_position_by_time_then_steps():
    """One schedule for every trainer: training-step time under a budget, else steps (of max_steps, else of
    epochs times an epoch's steps), so a run's learning rate moves at every step in all three modes."""
    from speechopt.train_state import schedule_position

    progress = {"elapsed": 90.0, "step": 30}
    assert schedule_position(progress, time_budget_min=3, max_steps=1000) == 0.5
    assert schedule_position(progress, None, max_steps=120) == 0.25
    assert schedule_position(progress, None, None, total_steps=60) == 0.5
