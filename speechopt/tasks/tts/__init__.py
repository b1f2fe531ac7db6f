"""The TTS task (`task.TtsTask`): sentences -> Tacotron 2's three graphs in one loop -> mels -> Griffin-Lim."""
