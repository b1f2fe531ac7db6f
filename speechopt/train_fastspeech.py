"""FastSpeech's pieces of TTS training: the data set with token durations, the losses and validation.

The training loop, schedule (warm-up + cosine over the time budget), checkpoints and resume are
`speechopt.train_tts`'s; this module adds what differs for a duration model:

- `FastSpeechDataset` (a `TtsDataset` with reduction 1 and no attention prior) also holds the frames per
  token of every utterance: with the phoneme front end espeak's own phoneme durations
  (`speechopt.tts_phonemes.token_frames`); with characters `speechopt.models.tts.durations.token_durations`
  (characters from espeak's word timings, pauses from its pause phonemes), summing to the utterance's mel
  frames; a character utterance without word timings (or whose text is not in normalized form) gets frames
  spread evenly, and is counted.
- `fastspeech_train_losses`: L1 on real mel frames + `duration_weight` x MSE of log(1 + frames).
- `validate_fastspeech`: teacher-forced losses on the validation set and, free running (predicted
  durations), the generated/true length ratio and the mean absolute duration error in frames per token.
"""

from __future__ import annotations

import random

import numpy as np

from speechopt.data.tts_dataset import TtsDataset, make_batches


class FastSpeechDataset(TtsDataset):
    """Token ids, log-mels and frames per token (`self.durations`, int64 tensors summing to the frames)."""

    def __init__(self, manifest, mel_config, tokenizer, max_utterances: int | None = None, log=print, label="train"):
        import torch

        from speechopt.data.tts_corpus import read_tts_manifest
        from speechopt.models.tts.durations import token_durations, uniform_durations
        from speechopt.tts_phonemes import is_phonemes, token_frames
        from speechopt.tts_text import normalize_tts_text

        super().__init__(manifest, mel_config, tokenizer, 1, "diagonal", max_utterances, log, label)
        rows = read_tts_manifest(manifest)[:max_utterances]
        self.durations, self.uniform = [], 0
        for row, ids, frames in zip(rows, self.tokens, self.frames):
            text = row["text"]
            if is_phonemes(tokenizer):  # espeak's own phoneme durations: exact
                d = token_frames(row, frames, mel_config.hop_length, mel_config.sample_rate)
            elif row.get("words") and normalize_tts_text(text) == text and len(ids) == len(text) + 1:
                d = token_durations(row, frames, mel_config.hop_length, mel_config.sample_rate)
            else:
                d = uniform_durations(len(ids), frames)
                self.uniform += 1
            self.durations.append(torch.tensor(d, dtype=torch.int64))
        if self.uniform:
            log(f"{label}: {self.uniform} utterances without usable word timings: durations spread evenly")

    def batch(self, idx):
        """tokens (B, N), token lengths (B,), mels (B, F, M) padded with the silence floor, frame lengths (B,),
        durations (B, N) (0 on padding)."""
        import torch

        tokens, tl, mels, fl, *_ = super().batch(idx)
        durations = torch.zeros_like(tokens)
        for j, i in enumerate(idx):
            durations[j, : tl[j]] = self.durations[i]
        return tokens, tl, mels, fl, durations


def fastspeech_train_losses(model, batch, duration_weight: float = 1.0):
    """(total loss, dict of float parts) of one `FastSpeechDataset.batch`."""
    from speechopt.models.tts.fastspeech import fastspeech_losses

    tokens, tl, mels, fl, durations = batch
    return fastspeech_losses(model, tokens, tl, mels, fl, durations, duration_weight)


def validate_fastspeech(model, data: FastSpeechDataset, duration_weight: float = 1.0, batch_size: int = 32) -> dict:
    """val_l1, val_duration, val_loss (teacher forced), length_ratio (median generated/true frames) and
    duration_mae (frames per real token) with predicted durations."""
    import torch

    model.eval()
    totals, n, ratios, err, toks = {}, 0, [], 0.0, 0
    with torch.no_grad():
        for idx in make_batches(data.frames, batch_size, random.Random(0), shuffle=False):
            batch = data.batch(idx)
            _, parts = fastspeech_train_losses(model, batch, duration_weight)
            for k, v in parts.items():
                totals[k] = totals.get(k, 0.0) + v * len(idx)
            n += len(idx)
            tokens, tl, _, fl, durations = batch
            out = model.infer(tokens, tl)
            ratios += (out["mel_lengths"].double() / fl.double()).tolist()
            err += float((out["durations"] - durations).abs().sum())
            toks += int(tl.sum())
    model.train()
    res = {f"val_{k}": v / max(1, n) for k, v in totals.items()}
    res.update(length_ratio=float(np.median(ratios)), duration_mae=err / max(1, toks))
    return res


def validation_score(metrics: dict) -> list:
    """Best model first: lowest teacher-forced mel L1 plus the duration loss (what free running depends on)."""
    return [-(metrics["val_l1"] + metrics["val_duration"])]


def describe_validation(metrics: dict) -> str:
    return (f"val L1 {metrics['val_l1']:.3f} duration {metrics['val_duration']:.3f} | predicted durations: "
            f"length ratio {metrics['length_ratio']:.2f}, error {metrics['duration_mae']:.2f} frames a token")


# config.json's "inference" block of a FastSpeech run
INFERENCE = {"duration_scale": 1.0, "durations": "round((exp(log_d) - 1) * duration_scale) >= 0, >= 1 frame a sentence"}


__all__ = ["FastSpeechDataset", "fastspeech_train_losses", "validate_fastspeech", "validation_score",
           "describe_validation", "INFERENCE"]
