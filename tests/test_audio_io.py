import logging

import numpy as np
import pytest
import soundfile as sf

from speechopt.audio.io import load_audio, resample
from speechopt.errors import SpeechoptError


def _speech_like(sr, seconds=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


def test_resamples_other_rates_and_says_so(tmp_path, caplog):
    path = tmp_path / "a.wav"
    sf.write(path, _speech_like(22050), 22050)
    with caplog.at_level(logging.INFO):
        audio = load_audio(path, 16000)
    assert abs(len(audio) - 8000) <= 1
    assert "resampled from 22050 Hz to 16000 Hz" in caplog.text


def test_downmixes_stereo(tmp_path):
    path = tmp_path / "s.wav"
    mono = _speech_like(16000)
    sf.write(path, np.stack([mono, np.zeros_like(mono)], axis=1), 16000)
    audio = load_audio(path, 16000)
    assert audio.ndim == 1
    assert np.allclose(audio, mono / 2, atol=1e-3)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b"this is not audio at all" * 10), "not a readable audio file"),
        (lambda p: sf.write(p, np.zeros(0, np.float32), 16000), "empty"),
        (lambda p: sf.write(p, np.zeros(8000, np.float32), 16000), "silent"),
    ],
)
def test_bad_audio_is_one_clear_error(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(SpeechoptError, match=message) as err:
        load_audio(path, 16000)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(SpeechoptError, match="does not exist"):
        load_audio(tmp_path / "nope.wav", 16000)


def test_resample_identity():
    x = _speech_like(16000)
    assert resample(x, 16000, 16000) is x or np.array_equal(resample(x, 16000, 16000), x)
