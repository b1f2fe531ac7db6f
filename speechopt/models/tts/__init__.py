"""TTS acoustic models (Tacotron 2 and friends)."""
