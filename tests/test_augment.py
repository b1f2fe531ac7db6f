"""Seeded corpus degradations: each transform does what it says, corpora are reproducible, bad values are
one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speechopt.data.augment import (
    SAMPLE_RATE, AugmentSettings, add_noise, augment_corpus, noise, room_impulse_response, speed, telephone)
from speechopt.errors import SpeechoptError


def _tone(seconds=1.0, hz=440.0):
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_noise_is_added_at_the_asked_snr():
    rng = np.random.default_rng(0)
    clean = _tone()
    for kind in ("white", "pink"):
        n = noise(rng, kind, len(clean))
        noisy = add_noise(clean, n, 10.0)
        snr = 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))
        assert snr == pytest.approx(10.0, abs=0.01)
    spec = np.abs(np.fft.rfft(noise(rng, "pink", 2**16))) ** 2
    low, high = spec[100:200].mean(), spec[10000:10100].mean()
    assert low > 20 * high  # 1/f: far more power at low frequencies
    babble = noise(rng, "babble", 5000, [_tone(0.1, 200), _tone(0.2, 300)])
    assert len(babble) == 5000 and np.abs(babble).max() > 0


def test_speed_reverb_and_telephone():
    clean = _tone()
    assert len(speed(clean, 1.1)) == pytest.approx(len(clean) / 1.1, abs=2)
    assert len(speed(clean, 0.9)) == pytest.approx(len(clean) / 0.9, abs=2) and speed(clean, 1.0) is clean
    rir = room_impulse_response(np.random.default_rng(1), rt60=0.5, drr_db=6.0)
    assert rir[0] == 1.0 and len(rir) == int(0.5 * SAMPLE_RATE) and not rir[1:40].any()
    tail = rir[40:]
    assert 10 * np.log10(1.0 / np.sum(tail**2)) == pytest.approx(6.0, abs=0.05)  # direct-to-reverberant ratio
    early, late = np.sum(tail[:2000] ** 2), np.sum(tail[-2000:] ** 2)
    assert early > 100 * late  # decays
    narrow = telephone(np.random.default_rng(2).standard_normal(SAMPLE_RATE).astype(np.float32))
    spec = np.abs(np.fft.rfft(narrow)) ** 2
    freqs = np.fft.rfftfreq(len(narrow), 1 / SAMPLE_RATE)
    assert spec[freqs > 4200].sum() < 1e-3 * spec[(freqs > 500) & (freqs < 3000)].sum()


def test_augmented_corpus_is_seeded_and_records_what_was_done(tiny_corpus, tmp_path):
    settings = AugmentSettings(seed=3, p_reverb=1.0, p_noise=1.0, noises=("white", "babble"), p_telephone=0.5)
    a = augment_corpus(tiny_corpus, tmp_path / "a", settings)
    b = augment_corpus(tiny_corpus, tmp_path / "b", settings)
    rows = [json.loads(x) for x in a.read_text().splitlines()]
    assert a.read_text() == b.read_text()
    for r in rows:
        assert (a.parent / r["audio_filepath"]).read_bytes() == (b.parent / r["audio_filepath"]).read_bytes()
        assert "reverb" in r["augment"] and r["augment"]["noise"]["kind"] in ("white", "babble")
        assert 5.0 <= r["augment"]["noise"]["snr_db"] <= 30.0 and r["text"]
    assert json.loads((a.parent / "augment.json").read_text())["seed"] == 3
    other = augment_corpus(tiny_corpus, tmp_path / "c", AugmentSettings(seed=4, p_reverb=1.0, p_noise=1.0))
    assert other.read_text() != a.read_text()


@pytest.mark.parametrize("kw, msg", [({"p_noise": 1.5}, "p-noise is a probability"),
                                     ({"snr_db": (30.0, 5.0)}, "snr-db range"),
                                     ({"speeds": (3.0,)}, "speed factors"),
                                     ({"noises": ("traffic",)}, "unknown noise 'traffic'")])
def test_bad_values_are_one_line(kw, msg, tiny_corpus, tmp_path):
    with pytest.raises(SpeechoptError, match=msg):
        augment_corpus(tiny_corpus, tmp_path / "x", AugmentSettings(**kw))
    assert not (tmp_path / "x").exists()


def test_cli(tiny_corpus, tmp_path):
    from typer.testing import CliRunner

    from speechopt.cli import app

    r = CliRunner().invoke(app, ["data", "augment", str(tiny_corpus), "-o", str(tmp_path / "o"), "--snr", "10:20",
                                 "--noises", "pink"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (tmp_path / "o" / "manifest.jsonl").read_text().splitlines()]
    assert all(10 <= row["augment"]["noise"]["snr_db"] <= 20 for row in rows if "noise" in row["augment"])
    r = CliRunner().invoke(app, ["data", "augment", str(tiny_corpus), "-o", str(tmp_path / "p"), "--snr", "loud"])
    assert r.exit_code == 2 and "LOW:HIGH" in r.output
    r = CliRunner().invoke(app, ["data", "augment", str(tiny_corpus), "-o", str(tmp_path / "p"), "--p-reverb", "2"])
    assert r.exit_code == 1 and "p-reverb is a probability" in r.output and not (tmp_path / "p").exists()
