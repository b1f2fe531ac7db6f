"""A TTS training set in memory: token ids, log-mels and guided-attention centres of a TTS manifest, and
length-bucketed batches. Shared by the Tacotron 2 and FastSpeech training loops (`speechopt/train_tts.py`)."""

from __future__ import annotations

import math
import random
import time

import numpy as np

from speechopt.audio.mel import MelConfig


def word_prior_centers(text: str, words, duration_ms: float, num_steps: int, step_ms: float, num_tokens: int):
    """Expected token position for each decoder step from espeak word timings: the guided-attention prior
    (`speechopt/train_tts.py` explains it), linear between word starts, the EOS token at the end of the audio."""
    times, chars = [0.0], [0.0]
    for char_start, _length, start_ms in words:
        if start_ms > times[-1] and char_start > chars[-1]:
            times.append(float(start_ms))
            chars.append(float(char_start))
    times.append(max(float(duration_ms), times[-1] + 1.0))
    chars.append(float(num_tokens - 1))  # the EOS token at the end of the audio
    t = (np.arange(num_steps) + 0.5) * step_ms
    return np.interp(t, times, chars).astype(np.float32)


def phoneme_prior_centers(phoneme_ms, num_steps: int, step_ms: float, num_tokens: int):
    """The guided-attention prior under the phoneme front end: token k is attended from its phoneme's start
    to its end (espeak's own durations), linear in between; the final mark and EOS at the end of the audio."""
    ends = np.cumsum(np.asarray(phoneme_ms, dtype=np.float64))
    times = np.concatenate([[0.0], ends])
    index = np.arange(len(times), dtype=np.float64)  # phoneme k spans [times[k], times[k + 1])
    t = (np.arange(num_steps) + 0.5) * step_ms
    return np.clip(np.interp(t, times, index), 0, num_tokens - 1).astype(np.float32)


class TtsDataset:
    """Token ids, log-mels and guided-attention centres of a TTS manifest, computed once."""

    def __init__(self, manifest, mel_config: MelConfig, tokenizer, reduction: int, prior: str = "words",
                 max_utterances: int | None = None, log=print, label="train", linear: bool = False):
        import torch

        from speechopt.audio.io import load_audio
        from speechopt.audio.mel import MelExtractor
        from speechopt.data.tts_corpus import read_tts_manifest
        from speechopt.models.tts.layers import diagonal_centers
        from speechopt.tts_phonemes import is_phonemes
        from speechopt.tts_text import normalize_tts_text

        rows = read_tts_manifest(manifest)[:max_utterances]
        extractor = MelExtractor(mel_config)
        self.texts, self.tokens, self.mels, self.centers = [], [], [], []
        # `linear`: also ln(max(|STFT|, clamp)) (T, n_fft / 2 + 1), kept as float16 (Tacotron's post-net target)
        self.linear = [] if linear else None
        step_ms = 1000.0 * reduction * mel_config.hop_length / mel_config.sample_rate
        t0 = time.monotonic()
        phonemes = is_phonemes(tokenizer)
        for row in rows:
            # the phoneme front end reads the row's espeak phonemes (what phonemizing its text gives)
            ids = tokenizer.encode(row["text"], phonemes=row["phonemes"]) if phonemes else tokenizer.encode(row["text"])
            audio = load_audio(row["audio_filepath"], mel_config.sample_rate)
            mel = extractor(audio)  # (T, n_mels)
            steps = math.ceil(mel.shape[0] / reduction)
            if prior == "words" and phonemes:
                c = phoneme_prior_centers(row["phoneme_ms"], steps, step_ms, len(ids))
            elif prior == "words" and row.get("words") and normalize_tts_text(row["text"]) == row["text"]:
                c = word_prior_centers(row["text"], row["words"], 1000.0 * len(audio) / mel_config.sample_rate,
                                       steps, step_ms, len(ids))
            else:
                c = diagonal_centers(len(ids), steps, steps).numpy()
            self.texts.append(row["text"])
            self.tokens.append(torch.tensor(ids, dtype=torch.int64))
            self.mels.append(mel.float().contiguous())
            if self.linear is not None:
                self.linear.append(log_magnitude(extractor, audio, mel_config).half())
            self.centers.append(torch.from_numpy(c))
        self.frames = [int(m.shape[0]) for m in self.mels]
        self.reduction = reduction
        self.floor = float(mel_config.floor)
        self.clamp = float(mel_config.clamp)
        log(f"{label}: {len(rows)} utterances, {sum(self.frames) / mel_config.frames_per_second / 60:.1f} min, "
            f"features in {time.monotonic() - t0:.0f} s")

    def __len__(self) -> int:
        return len(self.mels)

    def batch(self, idx):
        """tokens (B, N), token lengths, mels (B, S*r, M) padded with the silence floor, frame lengths,
        gate targets (B, S), step lengths (B,), prior centres (B, S)."""
        import torch

        r = self.reduction
        tl = torch.tensor([len(self.tokens[i]) for i in idx])
        fl = torch.tensor([self.frames[i] for i in idx])
        sl = (fl + r - 1) // r
        n, s = int(tl.max()), int(sl.max())
        m = self.mels[idx[0]].shape[1]
        tokens = torch.zeros(len(idx), n, dtype=torch.int64)
        mels = torch.full((len(idx), s * r, m), self.floor)
        centers = torch.zeros(len(idx), s)
        for j, i in enumerate(idx):
            tokens[j, : tl[j]] = self.tokens[i]
            mels[j, : fl[j]] = self.mels[i]
            centers[j, : sl[j]] = self.centers[i]
            centers[j, sl[j]:] = float(tl[j] - 1)
        gate = (torch.arange(s)[None, :] >= (sl - 1)[:, None]).float()
        if self.linear is None:
            return tokens, tl, mels, fl, gate, sl, centers
        lin = torch.full((len(idx), s * r, self.linear[idx[0]].shape[1]), math.log(self.clamp))
        for j, i in enumerate(idx):
            lin[j, : fl[j]] = self.linear[i].float()
        return tokens, tl, mels, fl, gate, sl, centers, lin


def log_magnitude(extractor, audio, mel_config):
    """ln(max(|STFT|, clamp)) (T, n_fft / 2 + 1) of a waveform, frames as the mel's."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    with torch.no_grad():
        mag = extractor.magnitude(x)  # |STFT| ** magnitude_power
        if mel_config.magnitude_power != 1.0:
            mag = mag.pow(1.0 / mel_config.magnitude_power)
        return torch.log(mag.clamp(min=mel_config.clamp))


def make_batches(lengths, batch_size: int, rng: random.Random, shuffle: bool = True) -> list[list[int]]:
    """Length-bucketed batches of `batch_size` (jittered sort, so buckets change between epochs)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i] * (1.0 + (0.1 * rng.random() if shuffle else 0)))
    batches = [order[k : k + batch_size] for k in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches
