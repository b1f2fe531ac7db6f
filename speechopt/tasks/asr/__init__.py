"""Speech recognition: the frontend (features), tokenizer, CTC decoding, WER/CER and the one-graph driver."""

from speechopt.tasks.asr.data import frontend_config, manifest_fields, tokenizer

__all__ = ["frontend_config", "manifest_fields", "tokenizer"]
