import json

import pytest

from speechopt.data.manifest import Utterance, read_manifest, write_manifest
from speechopt.errors import SpeechoptError


def test_round_trip_relative_paths(tmp_path):
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "a.wav").write_bytes(b"x")
    utts = [Utterance(tmp_path / "audio" / "a.wav", 1.25, "hello there", (("voice", "en-us"),))]
    write_manifest(tmp_path / "manifest.jsonl", utts)
    line = json.loads((tmp_path / "manifest.jsonl").read_text())
    assert line == {"audio_filepath": "audio/a.wav", "duration": 1.25, "text": "hello there", "voice": "en-us"}
    back = read_manifest(tmp_path)  # a folder means its manifest.jsonl
    assert back[0].audio_filepath == tmp_path / "audio" / "a.wav" and back[0].text == "hello there"


def test_bad_line_names_file_and_line(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"x")
    m = tmp_path / "m.jsonl"
    m.write_text('{"audio_filepath": "a.wav", "duration": 1, "text": "ok"}\n{not json\n')
    with pytest.raises(SpeechoptError, match=r"m.jsonl:2: not a manifest line"):
        read_manifest(m)


def test_missing_audio_file(tmp_path):
    m = tmp_path / "m.jsonl"
    m.write_text('{"audio_filepath": "gone.wav", "duration": 1, "text": "x"}\n')
    with pytest.raises(SpeechoptError, match=r"m.jsonl:1: audio file .*gone.wav does not exist"):
        read_manifest(m)


def test_empty_and_missing_manifest(tmp_path):
    (tmp_path / "m.jsonl").write_text("\n")
    with pytest.raises(SpeechoptError, match="no utterances"):
        read_manifest(tmp_path / "m.jsonl")
    with pytest.raises(SpeechoptError, match="manifest not found"):
        read_manifest(tmp_path / "other.jsonl")


def test_audio_given_as_a_manifest_says_so(tmp_path):
    flac = tmp_path / "clip.flac"
    flac.write_bytes(b"fLaC\x00\x00\x00\x22" + bytes(range(128, 256)))  # not UTF-8, as real FLAC is not
    with pytest.raises(SpeechoptError, match=r"clip.flac: this is FLAC audio, not a manifest.*speechopt transcribe"):
        read_manifest(flac)
    wav = tmp_path / "clip.dat"
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")  # happens to decode as UTF-8: known by its header
    with pytest.raises(SpeechoptError, match=r"this is WAV audio"):
        read_manifest(wav)
    other = tmp_path / "weights.bin"
    other.write_bytes(bytes(range(128, 256)))
    with pytest.raises(SpeechoptError, match=r"weights.bin: not a manifest \(a UTF-8 JSONL file"):
        read_manifest(other)


def test_missing_text_is_named_where_a_transcript_is_needed(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"x")
    m = tmp_path / "m.jsonl"
    m.write_text('{"audio_filepath": "a.wav", "text": ""}\n{"audio_filepath": "a.wav", "duration": 1}\n')
    with pytest.raises(SpeechoptError, match=r"m.jsonl:2: no `text` field"):
        read_manifest(m)
    rows = read_manifest(m, require_text=False)  # audio to transcribe or to synthesize from
    assert [u.text for u in rows] == ["", ""]
    m.write_text('{"duration": 1, "text": "x"}\n')
    with pytest.raises(SpeechoptError, match=r"m.jsonl:1: no `audio_filepath` field"):
        read_manifest(m)


def test_a_transcript_may_hold_a_line_separator(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"x")
    utts = [Utterance(tmp_path / "a.wav", 1.0, "one\u2028two")]
    write_manifest(tmp_path / "m.jsonl", utts)
    assert read_manifest(tmp_path / "m.jsonl")[0].text == "one\u2028two"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    import os
    import stat

    from speechopt.io import atomic_dir, atomic_write_bytes

    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "report.json", b"{}")
        write_manifest(tmp_path / "manifest.jsonl", [Utterance(tmp_path / "a.wav", 1.0, "x")])
        with atomic_dir(tmp_path / "artifact") as tmp:
            atomic_write_bytes(tmp / "manifest.json", b"{}")
    finally:
        os.umask(old)
    for path in (tmp_path / "report.json", tmp_path / "manifest.jsonl", tmp_path / "artifact" / "manifest.json"):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    assert stat.S_IMODE((tmp_path / "artifact").stat().st_mode) == 0o777 & ~umask
