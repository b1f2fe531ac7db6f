"""Layers shared by the attention TTS models: prenet with explicit dropout masks, location-sensitive
attention, conv blocks, masks and the guided-attention prior."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# Added to the attention energies of padding positions. Finite (not -inf) so that an all-padding row
# cannot make NaNs and the value is representable in float16.
MASK_VALUE = -1e4


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool, True on real positions."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class Prenet(nn.Module):
    """Linear + ReLU layers, each followed by dropout given as an explicit mask.

    `forward(x, masks)`: `masks` is a list of 0/1 tensors (one per layer, shape (B, size)) that multiply the
    activations, already scaled by 1/(1-p) (see `draw_masks`), or None for no dropout. Tacotron 2 keeps this
    dropout on at inference; making the mask an input lets a caller fix it (a seed) or turn it off, so two
    runs of the same model (or of two backends) can be compared.
    """

    def __init__(self, in_dim: int, sizes: list[int], dropout: float = 0.5):
        super().__init__()
        dims = [in_dim] + list(sizes)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.sizes = list(sizes)
        self.dropout = float(dropout)

    def draw_masks(self, batch: int, generator: torch.Generator | None = None, device=None) -> list[torch.Tensor]:
        keep = 1.0 - self.dropout
        return [torch.bernoulli(torch.full((batch, s), keep, device=device), generator=generator) / keep
                for s in self.sizes]

    def forward(self, x: torch.Tensor, masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x))
            if masks is not None:
                x = x * masks[i]
        return x


class LocationSensitiveAttention(nn.Module):
    """Chorowski et al. 2015 attention as in Tacotron 2: energies from the query, the (pre-projected)
    memory and convolved previous + cumulative attention weights."""

    def __init__(self, query_dim: int, memory_dim: int, attention_dim: int, location_filters: int,
                 location_kernel: int):
        super().__init__()
        self.query_layer = nn.Linear(query_dim, attention_dim, bias=False)
        self.memory_layer = nn.Linear(memory_dim, attention_dim, bias=False)
        self.location_conv = nn.Conv1d(2, location_filters, location_kernel, padding=(location_kernel - 1) // 2,
                                       bias=False)
        self.location_dense = nn.Linear(location_filters, attention_dim, bias=False)
        self.v = nn.Linear(attention_dim, 1, bias=True)

    def process_memory(self, memory: torch.Tensor) -> torch.Tensor:
        return self.memory_layer(memory)

    def forward(self, query, memory, processed_memory, weights, weights_cum, mask):
        """query (B, Q), memory (B, T, M), processed_memory (B, T, A), weights/weights_cum (B, T), mask (B, T)
        bool (True = real token) -> context (B, M), new weights (B, T)."""
        loc = self.location_conv(torch.stack([weights, weights_cum], dim=1))  # (B, F, T)
        loc = self.location_dense(loc.transpose(1, 2))  # (B, T, A)
        energies = self.v(torch.tanh(self.query_layer(query).unsqueeze(1) + loc + processed_memory)).squeeze(-1)
        energies = energies.masked_fill(~mask, MASK_VALUE)
        new_weights = torch.softmax(energies, dim=1)
        context = torch.bmm(new_weights.unsqueeze(1), memory).squeeze(1)
        return context, new_weights


class ConvBN(nn.Module):
    """Conv1d (same padding) + BatchNorm, optional tanh/relu, dropout (training only)."""

    def __init__(self, cin: int, cout: int, kernel: int, activation: str | None, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, padding=(kernel - 1) // 2)
        self.bn = nn.BatchNorm1d(cout)
        self.activation = activation
        self.dropout = dropout

    def forward(self, x):  # (B, C, T)
        x = self.bn(self.conv(x))
        if self.activation == "relu":
            x = F.relu(x)
        elif self.activation == "tanh":
            x = torch.tanh(x)
        return F.dropout(x, self.dropout, self.training)


def guided_attention_prior(text_lengths, steps: int, text_len: int, centers=None, sigma: float = 0.2):
    """Guided-attention penalty W (B, steps, text_len) in [0, 1): 1 - exp(-((n - c_t) / N)^2 / (2 sigma^2))
    for token n at decoder step t, N the sentence's text length; 0 on padding tokens (the caller masks steps
    past a sentence's end). `centers` (B, steps) are the expected token positions c_t: from espeak's word
    timings, or the straight diagonal of Tachibana et al. 2017 (DCTTS), `diagonal_centers`.
    """
    n = torch.arange(text_len, dtype=torch.float32)[None, None, :]
    N = text_lengths.float().clamp(min=1)[:, None, None]
    w = 1.0 - torch.exp(-((n - centers.unsqueeze(-1)) / N) ** 2 / (2.0 * sigma**2))
    return w * (n < N).float()


def diagonal_centers(text_length: int, num_steps: int, steps: int) -> torch.Tensor:
    """c_t = (t + 0.5) / T * N for t < T (then N - 1): the straight diagonal."""
    t = torch.arange(steps, dtype=torch.float32)
    return ((t + 0.5) / max(1, num_steps) * text_length).clamp(max=text_length - 1)


def free_run(step, prev: torch.Tensor, prenet: Prenet, reduction: int, max_steps: int, gate_threshold: float,
             min_steps: int = 1, prenet_seed: int | None = 0):
    """The free-running decoder loop of both attention models (Tacotron 2, Tacotron).

    `step(prev, masks)` -> (frames (B, r * n_mels), gate logit (B,), alignment (B, T)) runs one decoder step
    and keeps the model's own recurrent state; `prev` (B, n_mels) is the first step's input (the go frame).
    Prenet masks come from a generator seeded with `prenet_seed` (None: no dropout). A sentence stops after
    the first step whose sigmoid(gate) exceeds `gate_threshold` (and at least `min_steps`), or at `max_steps`.
    Returns (mel (B, S * r, n_mels) zero past each sentence's end, mel_lengths (B,) in frames, valid
    (B, S * r, 1) mask, gate_fired (B,) bool, alignments (B, S, T), steps (B,) decoder steps)."""
    b, n_mels = prev.shape
    gen = torch.Generator().manual_seed(int(prenet_seed)) if prenet_seed is not None else None
    finished = torch.zeros(b, dtype=torch.bool)
    fired = torch.zeros(b, dtype=torch.bool)
    steps_done = torch.zeros(b, dtype=torch.int64)
    frames, aligns = [], []
    for s in range(max_steps):
        masks = prenet.draw_masks(b, gen) if gen is not None else None
        frame, gate, align = step(prev, masks)
        frames.append(frame)
        aligns.append(align)
        steps_done += (~finished).long()
        stop = (torch.sigmoid(gate) > gate_threshold) & (s + 1 >= min_steps)
        fired |= stop & ~finished
        finished |= stop
        prev = frame.view(b, reduction, n_mels)[:, -1]
        if bool(finished.all()):
            break
    mel = torch.stack(frames, 1).reshape(b, len(frames) * reduction, n_mels)
    mel_lengths = steps_done * reduction
    valid = lengths_to_mask(mel_lengths, mel.shape[1]).unsqueeze(-1)
    return mel * valid, mel_lengths, valid, fired, torch.stack(aligns, 1), steps_done


__all__ = ["Prenet", "LocationSensitiveAttention", "ConvBN", "lengths_to_mask", "guided_attention_prior",
           "diagonal_centers", "free_run", "MASK_VALUE"]
