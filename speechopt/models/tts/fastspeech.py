"""A small FastSpeech (Ren et al. 2019): non-autoregressive, one graph, durations from espeak-ng.

Architecture (defaults; every size is a constructor keyword, the registry builds `FastSpeech(**config)`):
- character embedding (`d_model` 128, id 0 = padding) + sinusoidal positions (computed from the length,
  so any text length works);
- encoder: `encoder_layers` 2 FFT blocks: 2-head self-attention (padding keys masked) and a conv
  feed-forward Conv1d(`d_model` -> `ffn_dim` 384, kernel `ffn_kernel` 3) + ReLU + Conv1d(-> `d_model`,
  kernel 1), each with a residual, post-LayerNorm and dropout `dropout` 0.1. Padding is zeroed before
  every conv and after every block, so an utterance gives the same output alone or in a padded batch;
- duration predictor: 2 x [Conv1d(`predictor_channels` 128, kernel `predictor_kernel` 3) + ReLU +
  LayerNorm + dropout `predictor_dropout` 0.1] + Linear -> log(1 + frames) per token, trained with MSE
  against the corpus durations (`speechopt.models.tts.durations`);
- length regulator (`length_regulate`): tensor operations only: cumsum of the durations gives each
  token's frame interval [start, end), `arange(frames)` compared with them gives a 0/1 matrix
  (B, frames, text) and a matmul copies each token's vector to its frames (FastPitch's `regulate_len`);
  no Python loop over tokens or batch, so one ONNX graph keeps text and frame lengths dynamic;
- decoder: `decoder_layers` 2 FFT blocks over frames (padding frames masked), Linear -> `n_mels` 80;
- post-net (`postnet_layers`, default 0 = none): Tacotron 2's residual conv stack, `postnet_layers` x
  Conv1d(`postnet_channels` 256, kernel `postnet_kernel` 5) with tanh between (no batch norm, so padding
  frames, zeroed before every conv, never enter a statistic), added to the decoder's mel. Like Tacotron 2,
  both mels are trained with L1; the output is the post-net's.
About 1.17 M parameters with the defaults.

`forward(tokens, lengths, durations=None, duration_scale=None)`: with `durations` (B, T) int frames
(teacher forcing) the regulator uses them; without, it uses the predicted ones:
`round((exp(log_d) - 1) * duration_scale)` clamped at >= 0, 0 on padding, and a sentence whose tokens all
round to 0 gets one frame on its first token (at least one frame per sentence). `duration_scale` (B,)
(default 1) stretches the predicted durations (> 1 slower). Returns mel (B, F, n_mels) zero past each
sentence's length, mel_lengths (B,), durations (B, T) int64 used, log-duration predictions (B, T).
`infer` is forward in eval mode without gradients, as a dict. `export_modules()` gives the one graph.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from speechopt.models.tts.layers import MASK_VALUE


def sequence_mask(lengths: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool, True on real positions, T = like.shape[1] (kept symbolic in a trace)."""
    positions = torch.arange(like.shape[1], device=lengths.device)
    return positions[None, :] < lengths[:, None]


def sinusoid_positions(x: torch.Tensor) -> torch.Tensor:
    """(T, d) sinusoidal position encodings for x (B, T, d) (Vaswani et al. 2017), from x's length."""
    d = x.shape[-1]
    pos = torch.arange(x.shape[1], device=x.device, dtype=x.dtype)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, device=x.device, dtype=x.dtype) * (-math.log(10000.0) / d))
    return torch.cat([torch.sin(pos * freq), torch.cos(pos * freq)], dim=-1)


def length_regulate(x: torch.Tensor, durations: torch.Tensor):
    """x (B, T, d), durations (B, T) int >= 0 (0 on padding) -> (B, F, d) with token t repeated durations[t]
    times (zeros past a sentence's total), and the totals (B,); F = the largest total."""
    ends = torch.cumsum(durations, dim=1)
    starts = ends - durations
    totals = ends[:, -1]
    frames = torch.arange(totals.max(), device=x.device)[None, :, None]  # (1, F, 1)
    take = (frames >= starts[:, None, :]) & (frames < ends[:, None, :])  # (B, F, T): one True per real frame
    return torch.matmul(take.to(x.dtype), x), totals


class FFTBlock(nn.Module):
    """Self-attention + conv feed-forward, residuals with post-LayerNorm (FastSpeech's FFT block)."""

    def __init__(self, d_model: int, heads: int, ffn_dim: int, kernel: int, dropout: float):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not a multiple of heads {heads}")
        self.heads, self.head_dim = heads, d_model // heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.conv1 = nn.Conv1d(d_model, ffn_dim, kernel, padding=(kernel - 1) // 2)
        self.conv2 = nn.Conv1d(ffn_dim, d_model, 1)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, T, d), mask (B, T) bool True on real positions."""
        b, d = x.shape[0], x.shape[2]
        keep = mask.unsqueeze(-1).to(x.dtype)
        qkv = self.qkv(x).reshape(b, -1, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, H, T, head_dim) each
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)  # (B, H, T, T)
        scores = scores.masked_fill(~mask[:, None, None, :], MASK_VALUE)
        att = F.dropout(torch.softmax(scores, dim=-1), self.dropout, self.training)
        y = torch.matmul(att, v).transpose(1, 2).reshape(b, -1, d)
        x = self.norm1(x + F.dropout(self.out(y), self.dropout, self.training)) * keep
        y = self.conv2(F.relu(self.conv1(x.transpose(1, 2)))).transpose(1, 2)
        return self.norm2(x + F.dropout(y, self.dropout, self.training)) * keep


class DurationPredictor(nn.Module):
    """2 x [Conv1d + ReLU + LayerNorm + dropout] + Linear -> log(1 + frames) per token (0 on padding)."""

    def __init__(self, d_model: int, channels: int, kernel: int, dropout: float, layers: int = 2):
        super().__init__()
        dims = [d_model] + [channels] * layers
        self.convs = nn.ModuleList(nn.Conv1d(a, b, kernel, padding=(kernel - 1) // 2) for a, b in zip(dims, dims[1:]))
        self.norms = nn.ModuleList(nn.LayerNorm(channels) for _ in range(layers))
        self.proj = nn.Linear(channels, 1)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask.unsqueeze(-1).to(x.dtype)
        for conv, norm in zip(self.convs, self.norms):
            x = x * keep
            x = F.relu(conv(x.transpose(1, 2))).transpose(1, 2)
            x = F.dropout(norm(x), self.dropout, self.training)
        return self.proj(x * keep).squeeze(-1) * keep.squeeze(-1)


class Postnet(nn.Module):
    """`layers` x Conv1d (tanh between, none after the last) over (B, F, n_mels), masked: the residual that
    sharpens the decoder's over-smoothed mel (Tacotron 2's post-net, without batch norm)."""

    def __init__(self, n_mels: int, channels: int, kernel: int, layers: int):
        super().__init__()
        dims = [n_mels] + [channels] * (layers - 1) + [n_mels]
        self.convs = nn.ModuleList(nn.Conv1d(a, b, kernel, padding=(kernel - 1) // 2) for a, b in zip(dims, dims[1:]))

    def forward(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask.unsqueeze(1).to(mel.dtype)  # (B, 1, F)
        x = mel.transpose(1, 2)
        for i, conv in enumerate(self.convs):
            x = conv(x * keep)
            if i < len(self.convs) - 1:
                x = torch.tanh(x)
        return (x * keep).transpose(1, 2)


class FastSpeech(nn.Module):
    # torch 2.13's dynamo exporter cannot express the data-dependent frame count of the regulator as a
    # dynamic output dimension without unbacked symbols; the legacy exporter keeps it (Range + MatMul).
    onnx_exporter = "legacy"
    onnx_exporter_reason = ("FastSpeech's length regulator makes the frame count from predicted durations "
                            "(data-dependent): exported with the legacy exporter, which keeps it dynamic")

    def __init__(self, vocab_size: int = 34, n_mels: int = 80, d_model: int = 128, heads: int = 2,
                 ffn_dim: int = 384, ffn_kernel: int = 3, encoder_layers: int = 2, decoder_layers: int = 2,
                 dropout: float = 0.1, predictor_channels: int = 128, predictor_kernel: int = 3,
                 predictor_dropout: float = 0.1, postnet_layers: int = 0, postnet_channels: int = 256,
                 postnet_kernel: int = 5):
        super().__init__()
        self.n_mels, self.d_model = int(n_mels), int(d_model)
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=0)
        self.encoder = nn.ModuleList(FFTBlock(d_model, heads, ffn_dim, ffn_kernel, dropout)
                                     for _ in range(encoder_layers))
        self.duration_predictor = DurationPredictor(d_model, predictor_channels, predictor_kernel, predictor_dropout)
        self.decoder = nn.ModuleList(FFTBlock(d_model, heads, ffn_dim, ffn_kernel, dropout)
                                     for _ in range(decoder_layers))
        self.mel_linear = nn.Linear(d_model, n_mels)
        self.postnet = Postnet(n_mels, postnet_channels, postnet_kernel, postnet_layers) if postnet_layers else None

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor):
        """-> encoder output (B, T, d), text mask (B, T)."""
        mask = sequence_mask(lengths, tokens)
        x = self.embedding(tokens)
        x = (x + sinusoid_positions(x)[None]) * mask.unsqueeze(-1).to(x.dtype)
        for block in self.encoder:
            x = block(x, mask)
        return x, mask

    @staticmethod
    def predicted_durations(log_durations: torch.Tensor, mask: torch.Tensor, duration_scale=None) -> torch.Tensor:
        """round((exp(log_d) - 1) * scale) >= 0, 0 on padding, at least one frame per sentence (first token)."""
        d = torch.exp(log_durations) - 1.0
        if duration_scale is not None:
            d = d * duration_scale.to(d.dtype)[:, None]
        d = torch.round(d).clamp(min=0).to(torch.int64) * mask.to(torch.int64)
        empty = d.sum(dim=1, keepdim=True) == 0
        first = (torch.arange(d.shape[1], device=d.device) == 0)[None, :]
        return d + (empty & first).to(torch.int64)

    def decode(self, x: torch.Tensor, mel_lengths: torch.Tensor) -> torch.Tensor:
        mask = sequence_mask(mel_lengths, x)
        keep = mask.unsqueeze(-1).to(x.dtype)
        x = (x + sinusoid_positions(x)[None]) * keep
        for block in self.decoder:
            x = block(x, mask)
        return self.mel_linear(x) * keep

    def forward(self, tokens, lengths, durations=None, duration_scale=None):
        """See the module docstring. Returns (mel, mel_lengths, durations, log_durations)."""
        _, mel, mel_lengths, durations, log_durations = self.synthesize(tokens, lengths, durations, duration_scale)
        return mel, mel_lengths, durations, log_durations

    def synthesize(self, tokens, lengths, durations=None, duration_scale=None):
        """forward, also giving the decoder's mel before the post-net: (decoder mel, mel, mel_lengths,
        durations, log_durations); without a post-net both mels are the same tensor."""
        enc, mask = self.encode(tokens, lengths)
        log_durations = self.duration_predictor(enc, mask)
        if durations is None:
            durations = self.predicted_durations(log_durations, mask, duration_scale)
        else:
            durations = durations.to(torch.int64) * mask.to(torch.int64)
        frames, mel_lengths = length_regulate(enc, durations)
        decoded = self.decode(frames, mel_lengths)
        mel = decoded
        if self.postnet is not None:
            mel = decoded + self.postnet(decoded, sequence_mask(mel_lengths, decoded))
        return decoded, mel, mel_lengths, durations, log_durations

    @torch.no_grad()
    def infer(self, tokens, lengths, duration_scale=None, durations=None) -> dict:
        """Synthesis in eval mode: dict mel (B, F, n_mels), mel_lengths (B,), durations (B, T)."""
        was_training = self.training
        self.eval()
        try:
            if duration_scale is not None and not torch.is_tensor(duration_scale):
                duration_scale = torch.full((tokens.shape[0],), float(duration_scale))
            mel, mel_lengths, durations, _ = self(tokens, lengths, durations, duration_scale)
            return {"mel": mel, "mel_lengths": mel_lengths, "durations": durations}
        finally:
            self.train(was_training)

    def export_modules(self) -> dict:
        """{"model": module(tokens, lengths, duration_scale) -> (mel, mel_lengths, durations)} sharing these
        weights, in this model's train/eval mode."""
        mod = _Synthesis(self)
        mod.train(self.training)
        return {"model": mod}


class _Synthesis(nn.Module):
    def __init__(self, model: FastSpeech):
        super().__init__()
        self.model = model

    def forward(self, tokens, lengths, duration_scale):
        mel, mel_lengths, durations, _ = self.model(tokens, lengths, None, duration_scale)
        return mel, mel_lengths, durations


def fastspeech_losses(model: FastSpeech, tokens, lengths, mels, mel_lengths, durations, duration_weight: float = 1.0):
    """Teacher-forced losses: L1 on real mel frames (with a post-net, on its output and on the decoder's mel,
    summed; `l1` is the output's) + `duration_weight` x MSE of log(1 + frames) on real tokens. `mels`
    (B, F, n_mels) with F >= the largest sum of `durations` (the data's frames: they are equal). Returns
    (total, dict of floats)."""
    decoded, mel, lens, _, log_d = model.synthesize(tokens, lengths, durations)
    if not torch.equal(lens, mel_lengths.to(lens.dtype)):
        raise ValueError("durations do not sum to the mel lengths")
    target = mels[:, : mel.shape[1]]
    fmask = sequence_mask(lens, mel).unsqueeze(-1).to(mel.dtype)

    def masked_l1(x):
        return ((x - target).abs() * fmask).sum() / (fmask.sum() * mel.shape[2])

    l1 = masked_l1(mel)
    tmask = sequence_mask(lengths, tokens).to(mel.dtype)
    dur_loss = (((log_d - torch.log1p(durations.to(mel.dtype))) ** 2) * tmask).sum() / tmask.sum()
    loss = l1 + duration_weight * dur_loss
    parts = {"l1": l1.item(), "duration": dur_loss.item()}
    if model.postnet is not None:
        l1_decoder = masked_l1(decoded)
        loss = loss + l1_decoder
        parts["l1_decoder"] = l1_decoder.item()
    parts["loss"] = loss.item()
    return loss, parts


__all__ = ["FastSpeech", "FFTBlock", "Postnet", "DurationPredictor", "length_regulate", "sequence_mask",
           "sinusoid_positions", "fastspeech_losses"]
