"""Reference CTC acoustic models: CNN, RNN (LSTM/GRU), CRNN, and a separable convolution (QuartzNet-style) model.

All share one interface, chosen to export cleanly: `forward(features (B, T, F) float32, lengths (B,) int64)
-> (log_probs (B, T', V), out_lengths (B,))`, with T' = (T - 1) // 2 + 1 (2x time subsampling: espeak speaks
about 15.5 characters a second, and 4x would leave CTC too few frames per label). Frames past an
utterance's length are zeroed after every subsampling step so padding carries no signal forward.
"""

from __future__ import annotations

import torch
from torch import nn


def subsampled_lengths(lengths: torch.Tensor) -> torch.Tensor:
    return torch.div(lengths - 1, 2, rounding_mode="floor") + 1


def time_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class CNNCTC(nn.Module):
    def __init__(self, n_features, vocab_size, channels, kernel_size, blocks, dropout):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(n_features, channels, 3, stride=2, padding=1), nn.BatchNorm1d(channels), nn.ReLU()
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2),
                nn.BatchNorm1d(channels), nn.ReLU(), nn.Dropout(dropout),
            )
            for _ in range(blocks)
        )
        self.head = nn.Conv1d(channels, vocab_size, 1)

    def forward(self, features, lengths):
        out_lengths = subsampled_lengths(lengths)
        x = self.stem(features.transpose(1, 2))
        mask = time_mask(out_lengths, x.shape[2]).unsqueeze(1).to(x.dtype)
        x = x * mask
        for block in self.blocks:
            x = (x + block(x)) * mask
        return self.head(x).transpose(1, 2).log_softmax(-1), out_lengths


class RNNCTC(nn.Module):
    def __init__(self, n_features, vocab_size, rnn, hidden, layers, bidirectional, dropout):
        super().__init__()
        cell = {"lstm": nn.LSTM, "gru": nn.GRU}[rnn]
        self.rnn = cell(2 * n_features, hidden, num_layers=layers, bidirectional=bidirectional,
                        batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), vocab_size)

    def forward(self, features, lengths):
        out_lengths = subsampled_lengths(lengths)
        b, t, f = features.shape
        # 2x frame stacking: pad T to even, then fold pairs of frames into one.
        x = nn.functional.pad(features, (0, 0, 0, t % 2))
        x = x.reshape(b, (t + 1) // 2, 2 * f)  # explicit length: keeps the time axis symbolic for torch.export
        x = x * time_mask(out_lengths, x.shape[1]).unsqueeze(-1).to(x.dtype)
        x, _ = self.rnn(x)
        return self.head(x).log_softmax(-1), out_lengths


class CRNNCTC(nn.Module):
    def __init__(self, n_features, vocab_size, conv_channels, proj, hidden, layers, dropout):
        super().__init__()
        c = conv_channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c, 3, stride=(2, 2), padding=1), nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, c, 3, stride=(1, 2), padding=1), nn.BatchNorm2d(c), nn.ReLU(),
        )
        freq = (n_features + 1) // 2
        freq = (freq + 1) // 2
        self.proj = nn.Sequential(nn.Linear(c * freq, proj), nn.ReLU(), nn.Dropout(dropout))
        self.rnn = nn.LSTM(proj, hidden, num_layers=layers, bidirectional=True, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(2 * hidden, vocab_size)

    def forward(self, features, lengths):
        out_lengths = subsampled_lengths(lengths)
        x = self.conv(features.unsqueeze(1))  # (B, C, T', F')
        b, c, t, f = x.shape
        x = self.proj(x.permute(0, 2, 1, 3).reshape(b, t, c * f))
        x = x * time_mask(out_lengths, t).unsqueeze(-1).to(x.dtype)
        x, _ = self.rnn(x)
        return self.head(x).log_softmax(-1), out_lengths


class SeparableConvBlock(nn.Module):
    """QuartzNet's block (Kriman et al. 2020): `repeats` x [depthwise Conv1d(kernel) + pointwise Conv1d +
    BatchNorm + ReLU (not after the last)], plus a residual through a pointwise conv + BatchNorm, then ReLU.
    Padding frames are zeroed before every depthwise conv, so they carry nothing into real frames."""

    def __init__(self, cin: int, cout: int, kernel: int, repeats: int, dropout: float):
        super().__init__()
        self.depthwise = nn.ModuleList()
        self.pointwise = nn.ModuleList()
        self.norms = nn.ModuleList()
        c = cin
        for _ in range(repeats):
            self.depthwise.append(nn.Conv1d(c, c, kernel, padding=kernel // 2, groups=c, bias=False))
            self.pointwise.append(nn.Conv1d(c, cout, 1, bias=False))
            self.norms.append(nn.BatchNorm1d(cout))
            c = cout
        self.residual = nn.Sequential(nn.Conv1d(cin, cout, 1, bias=False), nn.BatchNorm1d(cout))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask):
        y = x
        last = len(self.depthwise) - 1
        for i, (dw, pw, bn) in enumerate(zip(self.depthwise, self.pointwise, self.norms)):
            y = bn(pw(dw(y * mask)))
            if i < last:
                y = self.dropout(torch.relu(y))
        return self.dropout(torch.relu(y + self.residual(x))) * mask


class SeparableCTC(nn.Module):
    """A convolution-only, time-parallel CTC model in QuartzNet's manner: a stride-2 stem (2x subsampling, as
    the other families), `blocks` separable blocks of `repeats` sub-blocks with kernels `kernels` (one per
    block), a separable epilogue conv, a pointwise head. Every frame's output is computed in parallel (no
    recurrence), so batch-1 latency is bounded by matrix throughput, not by a sequential LSTM; the receptive
    field (`receptive_field_frames`) is sum(repeats x (k - 1)) at half the frame rate plus the stem's."""

    def __init__(self, n_features, vocab_size, channels, blocks, repeats, kernels, dropout):
        super().__init__()
        kernels = list(kernels)
        if len(kernels) != blocks:
            raise ValueError(f"give one kernel per block: {blocks} blocks, {len(kernels)} kernels")
        if any(k % 2 == 0 for k in kernels):
            raise ValueError(f"kernels must be odd (same-length convs), got {kernels}")
        self.stem = nn.Sequential(nn.Conv1d(n_features, channels, 11, stride=2, padding=5, bias=False),
                                  nn.BatchNorm1d(channels), nn.ReLU())
        self.blocks = nn.ModuleList(SeparableConvBlock(channels, channels, k, repeats, dropout) for k in kernels)
        self.epilogue = nn.Sequential(nn.Conv1d(channels, channels, 29, padding=14, groups=channels, bias=False),
                                      nn.Conv1d(channels, channels, 1, bias=False), nn.BatchNorm1d(channels), nn.ReLU())
        self.head = nn.Conv1d(channels, vocab_size, 1)
        self.receptive_field_frames = 11 + 2 * (sum(repeats * (k - 1) for k in kernels) + 28)

    planar = False  # True in `to_planar()`'s copy: tensors (N, C, 1, T), convs Conv2d with (1, k) kernels

    def forward(self, features, lengths):
        out_lengths = subsampled_lengths(lengths)
        x = features.transpose(1, 2)
        x = self.stem(x.unsqueeze(2) if self.planar else x)
        mask = time_mask(out_lengths, x.shape[-1]).to(x.dtype)
        mask = mask[:, None, None, :] if self.planar else mask[:, None, :]
        x = x * mask
        for block in self.blocks:
            x = block(x, mask)
        x = self.head(self.epilogue(x * mask) * mask)
        return (x.squeeze(2) if self.planar else x).transpose(1, 2).log_softmax(-1), out_lengths

    def to_planar(self) -> "SeparableCTC":
        """The same model on (N, C, 1, T) tensors: what the ONNX export traces (`speechopt.models.planar`)."""
        from speechopt.models.planar import planar_copy

        out = planar_copy(self)
        out.planar = True
        return out
