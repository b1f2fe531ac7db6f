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


def test_waveform_frontend_normalizes_each_utterance_over_its_own_samples():
    cfg = FrontendConfig(kind="waveform")
    fe = Frontend(cfg)
    long, short = _tone(0.8), _tone(0.5, freq=220.0, seed=1) + 0.05  # a DC offset the normalization removes
    feats, lengths = fe.from_arrays([long, short])
    assert feats.shape == (2, 12800, 1) and cfg.num_features == 1
    assert lengths.tolist() == [12800, 8000] == [cfg.num_frames(12800), cfg.num_frames(8000)]
    assert torch.all(feats[1, 8000:] == 0)  # padding stays exactly zero
    # Wav2Vec2FeatureExtractor's zero_mean_unit_var_norm, applied to the utterance alone
    expected = (short - short.mean()) / np.sqrt(short.var() + 1e-7)
    np.testing.assert_allclose(feats[1, :8000, 0].numpy(), expected, atol=1e-5)
    alone, _ = fe.from_arrays([short])
    assert torch.allclose(alone[0], feats[1, :8000], atol=1e-6)


def test_waveform_frontend_without_normalization_passes_samples_through():
    audio = _tone(0.3)
    feats, lengths = Frontend(FrontendConfig(kind="waveform", normalize="none")).from_arrays([audio, audio[:100]])
    assert torch.equal(feats[0, :, 0], torch.from_numpy(audio)) and lengths.tolist() == [len(audio), 100]
    assert torch.all(feats[1, 100:] == 0)


def test_unknown_frontend_kind_is_one_line():
    from speechopt.errors import SpeechoptError

    with pytest.raises(SpeechoptError, match="unknown frontend kind 'spectrogram'"):
        Frontend(FrontendConfig(kind="spectrogram"))
