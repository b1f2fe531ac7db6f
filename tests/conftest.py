"""Shared fixtures: a tiny synthesized corpus and tiny untrained models of every ASR family.

Everything is made in the test session (seconds), so tests need neither the bundled zoo nor training.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("SPEECHOPT_NO_PROGRESS", "1")

TINY_CONFIGS = {
    "cnn-ctc": {"channels": 32, "blocks": 2},
    "lstm-ctc": {"hidden": 24, "layers": 2},
    "crnn-ctc": {"conv_channels": 8, "proj": 32, "hidden": 24, "layers": 2},
    "separable-ctc": {"channels": 16, "blocks": 2, "repeats": 2, "kernels": [5, 7]},
}


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """12 synthesized utterances (test voices); returns the manifest path."""
    from speechopt.data.synth import SynthSettings, synth_corpus

    out = tmp_path_factory.mktemp("corpus") / "tiny"
    return synth_corpus(out, SynthSettings(num=12, seed=3, split="test", max_words=5))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """name -> pytorch artifact path, one per ASR architecture, random weights (seeded)."""
    import torch

    from speechopt.audio.features import FrontendConfig
    from speechopt.models.pytorch import save_pytorch_artifact
    from speechopt.models.registry import build_model
    from speechopt.tasks.asr import manifest_fields
    from speechopt.text import CharTokenizer

    root = tmp_path_factory.mktemp("models")
    paths = {}
    for name, config in TINY_CONFIGS.items():
        torch.manual_seed(0)
        model = build_model(name, config).eval()
        save_pytorch_artifact(root / name, model, name, config, manifest_fields(FrontendConfig(), CharTokenizer()))
        paths[name] = root / name
    return paths


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: more threads only add OpenMP contention (LSTMs 30x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def one_error_line(result, code=1) -> str:
    """A CLI result that failed the way users should see it: one `error:` line, the code, no traceback."""
    assert result.exit_code == code, result.output
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def assert_scheduled_sampling(m, tokens, lengths, mels, steps: int = 5):
    """For an attention model (Tacotron 2, Tacotron): feedback=1 feeds every step the model's own last frame,
    the free-running decoder (same steps, dropout off); a vanishing feedback is teacher forcing; in between,
    gradients still flow through the mixed batch. `steps`: decoder steps (frames / reduction)."""
    import torch

    ones = [torch.ones(tokens.shape[0], steps, s) for s in m.prenet.sizes]
    with torch.no_grad():
        own = m(tokens, lengths, mels, prenet_masks=ones, feedback=1.0)[0]
        teacher = m(tokens, lengths, mels, prenet_masks=ones)[0]
        same = m(tokens, lengths, mels, prenet_masks=ones, feedback=1e-9)[0]
        free = m.infer(tokens, lengths, max_steps=steps, gate_threshold=1.1, prenet_seed=None)
    assert torch.allclose(own, free["mel_before_postnet"], atol=1e-5)
    assert torch.allclose(same, teacher, atol=1e-6) and not torch.allclose(own, teacher, atol=1e-3)
    m.train()
    torch.manual_seed(3)
    mel, post = m(tokens, lengths, mels, feedback=0.5)[:2]
    (mel.abs().mean() + post.abs().mean()).backward()
    assert m.embedding.weight.grad is not None and m.projection.weight.grad.abs().sum() > 0
