import numpy as np
import pytest
import torch

from speechopt.audio.features import Frontend, FrontendConfig, mel_filterbank


def _tone(seconds=0.8, sr=16000, freq=440.0, seed=0):
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_shapes_and_frame_count():
    cfg = FrontendConfig()
    feats, frames = Frontend(cfg).from_arrays([_tone(0.8), _tone(0.5)])
    assert feats.shape == (2, cfg.num_frames(12800), 64)
    assert frames.tolist() == [cfg.num_frames(12800), cfg.num_frames(8000)]
    # padding frames are exactly zero
    assert torch.all(feats[1, frames[1]:] == 0)


def test_batch_equals_single_utterance():
    fe = Frontend(FrontendConfig())
    short = _tone(0.5, seed=1)
    batched, frames = fe.from_arrays([_tone(0.8), short])
    alone, _ = fe.from_arrays([short])
    n = int(frames[1])
    assert torch.allclose(batched[1, :n], alone[0], atol=1e-4)


def test_per_utterance_normalization_removes_gain():
    fe = Frontend(FrontendConfig())
    a = _tone(0.6)
    f1, _ = fe.from_arrays([a])
    f2, _ = fe.from_arrays([a * 4.0])
    # equal up to the log floor (1e-6) that the zero-padded edge frames touch
    assert torch.allclose(f1, f2, atol=2e-2)
    assert abs(float(f1.mean())) < 1e-4


def test_mfcc():
    cfg = FrontendConfig(kind="mfcc", n_mfcc=13)
    feats, _ = Frontend(cfg).from_arrays([_tone()])
    assert feats.shape[-1] == 13 == cfg.num_features


def test_mel_filterbank_covers_spectrum():
    fb = mel_filterbank(16000, 400, 64, 0.0, 8000.0)
    assert fb.shape == (201, 64)
    assert (fb.sum(axis=0) > 0).all()  # no empty filter


def test_unknown_frontend_kind():
    from speechopt.errors import SpeechoptError

    with pytest.raises(SpeechoptError, match="unknown frontend kind"):
        Frontend(FrontendConfig(kind="cqt"))
