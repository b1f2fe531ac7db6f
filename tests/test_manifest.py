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
