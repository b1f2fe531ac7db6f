"""A small Tacotron 2 (Shen et al. 2018), structured for export as three graphs.

Architecture (defaults; every size is a constructor keyword, the registry builds `Tacotron2(**config)`):
- character embedding (`embedding_dim` 128, id 0 = padding);
- encoder: 3 x [Conv1d(`encoder_conv_channels` 128, kernel 5) + BatchNorm + ReLU + dropout 0.5], then a
  BiLSTM of `encoder_dim` // 2 = 64 units a direction (packed, so padding does not reach the backward
  direction: an utterance gives the same memory alone or in a padded batch) -> memory (B, T, 128);
  the attention's memory projection (`attention_dim` 64) is applied here, once: processed_memory;
- decoder step: prenet 2 x [Linear 128 + ReLU + dropout 0.5 (explicit masks)] on the previous frame;
  attention LSTMCell (`attention_rnn_dim` 256) on [prenet, context]; location-sensitive attention
  (`location_filters` 16, kernel 31) on [previous weights, cumulative weights]; decoder LSTMCell
  (`decoder_rnn_dim` 256) on [attention h, context]; a linear projection of [decoder h, context] to
  `reduction` (r) frames of `n_mels` 80 and a stop-gate logit. Dropout 0.1 on both LSTM outputs in training.
- postnet: 5 x Conv1d (`postnet_channels` 128, kernel 5) + BatchNorm (+ tanh but the last) with the residual
  added inside: postnet(mel) = mel + residual.

The three graphs (`encode`, `decoder_step`, `postnet_forward`; `export_modules()` wraps them as nn.Modules
whose forward takes and returns only tensors):
- encoder(tokens (B, T) int64, lengths (B,) int64) -> memory (B, T, E), processed_memory (B, T, A)
- step(prev_frame (B, n_mels), att_h, att_c (B, Ha), dec_h, dec_c (B, Hd), att_w, att_w_cum (B, T),
  context (B, E), memory, processed_memory, mask (B, T) bool True on real tokens, prenet masks (B, P) x 2)
  -> frames (B, r * n_mels), gate logit (B,), and the seven new states in the same order as the inputs.
  Prenet masks of ones turn the dropout off; `Prenet.draw_masks` with a seeded generator fixes it.
- postnet(mel (B, T, n_mels)) -> mel + residual.

The teacher-forced `forward` runs the prenet over all steps at once and then loops over the same
`_step_core` in Python. `infer` runs the step with a stop threshold and a step cap.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from speechopt.models.tts.layers import ConvBN, LocationSensitiveAttention, Prenet, free_run, lengths_to_mask

STATE_NAMES = ("att_h", "att_c", "dec_h", "dec_c", "att_w", "att_w_cum", "context")


class Tacotron2(nn.Module):
    def __init__(self, vocab_size: int = 34, n_mels: int = 80, reduction: int = 2, embedding_dim: int = 128,
                 encoder_conv_channels: int = 128, encoder_conv_layers: int = 3, encoder_kernel: int = 5,
                 encoder_dim: int = 128, attention_rnn_dim: int = 256, decoder_rnn_dim: int = 256,
                 prenet_dims: tuple | list = (128, 128), prenet_dropout: float = 0.5, attention_dim: int = 64,
                 location_filters: int = 16, location_kernel: int = 31, postnet_channels: int = 128,
                 postnet_layers: int = 5, postnet_kernel: int = 5, encoder_dropout: float = 0.5,
                 postnet_dropout: float = 0.5, attention_dropout: float = 0.1, decoder_dropout: float = 0.1):
        super().__init__()
        if encoder_dim % 2:
            raise ValueError("encoder_dim must be even (two LSTM directions)")
        self.n_mels, self.reduction = int(n_mels), int(reduction)
        self.encoder_dim, self.attention_rnn_dim, self.decoder_rnn_dim = encoder_dim, attention_rnn_dim, decoder_rnn_dim
        self.attention_dropout, self.decoder_dropout = attention_dropout, decoder_dropout
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        convs, cin = [], embedding_dim
        for _ in range(encoder_conv_layers):
            convs.append(ConvBN(cin, encoder_conv_channels, encoder_kernel, "relu", encoder_dropout))
            cin = encoder_conv_channels
        self.encoder_convs = nn.ModuleList(convs)
        self.encoder_lstm = nn.LSTM(cin, encoder_dim // 2, batch_first=True, bidirectional=True)
        self.prenet = Prenet(n_mels, list(prenet_dims), prenet_dropout)
        self.attention_rnn = nn.LSTMCell(prenet_dims[-1] + encoder_dim, attention_rnn_dim)
        self.attention = LocationSensitiveAttention(attention_rnn_dim, encoder_dim, attention_dim, location_filters,
                                                    location_kernel)
        self.decoder_rnn = nn.LSTMCell(attention_rnn_dim + encoder_dim, decoder_rnn_dim)
        self.projection = nn.Linear(decoder_rnn_dim + encoder_dim, n_mels * reduction)
        self.gate = nn.Linear(decoder_rnn_dim + encoder_dim, 1)
        post, cin = [], n_mels
        for i in range(postnet_layers):
            last = i == postnet_layers - 1
            post.append(ConvBN(cin, n_mels if last else postnet_channels, postnet_kernel, None if last else "tanh",
                               postnet_dropout))
            cin = postnet_channels
        self.postnet = nn.ModuleList(post)

    # ---- graph 1: encoder -------------------------------------------------------------------------
    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor):
        # Padding is zeroed after every conv (BatchNorm's shift would otherwise leak into the real
        # positions next to it): an utterance encodes the same alone or in a padded batch.
        keep = lengths_to_mask(lengths, tokens.shape[1]).unsqueeze(1).to(self.embedding.weight.dtype)
        x = self.embedding(tokens).transpose(1, 2) * keep
        for conv in self.encoder_convs:
            x = conv(x) * keep
        x = x.transpose(1, 2)
        if bool((lengths == tokens.shape[1]).all()):
            # No padding (e.g. batch 1): the plain LSTM gives the same result, and a traced export of this
            # branch keeps the text length dynamic (packing would bake the traced lengths in).
            memory, _ = self.encoder_lstm(x)
        else:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            memory, _ = self.encoder_lstm(packed)
            memory, _ = nn.utils.rnn.pad_packed_sequence(memory, batch_first=True, total_length=tokens.shape[1])
        return memory, self.attention.process_memory(memory)

    # ---- graph 2: one decoder step ----------------------------------------------------------------
    def initial_states(self, memory: torch.Tensor):
        b, t, _ = memory.shape
        z = memory.new_zeros
        return (z(b, self.attention_rnn_dim), z(b, self.attention_rnn_dim), z(b, self.decoder_rnn_dim),
                z(b, self.decoder_rnn_dim), z(b, t), z(b, t), z(b, self.encoder_dim))

    def _step_core(self, prenet_out, att_h, att_c, dec_h, dec_c, att_w, att_w_cum, context, memory,
                   processed_memory, mask):
        att_h, att_c = self.attention_rnn(torch.cat([prenet_out, context], dim=-1), (att_h, att_c))
        att_h_used = F.dropout(att_h, self.attention_dropout, self.training)
        context, att_w = self.attention(att_h_used, memory, processed_memory, att_w, att_w_cum, mask)
        att_w_cum = att_w_cum + att_w
        dec_h, dec_c = self.decoder_rnn(torch.cat([att_h_used, context], dim=-1), (dec_h, dec_c))
        dec_h_used = F.dropout(dec_h, self.decoder_dropout, self.training)
        out = torch.cat([dec_h_used, context], dim=-1)
        return self.projection(out), self.gate(out).squeeze(-1), att_h, att_c, dec_h, dec_c, att_w, att_w_cum, context

    def decoder_step(self, prev_frame, att_h, att_c, dec_h, dec_c, att_w, att_w_cum, context, memory,
                     processed_memory, mask, prenet_masks=None):
        """One step; returns (frames (B, r*n_mels), gate logit (B,), att_h, att_c, dec_h, dec_c, att_w,
        att_w_cum, context). `prenet_masks`: None (no dropout) or one (B, size) mask per prenet layer."""
        return self._step_core(self.prenet(prev_frame, prenet_masks), att_h, att_c, dec_h, dec_c, att_w, att_w_cum,
                               context, memory, processed_memory, mask)

    # ---- graph 3: postnet -------------------------------------------------------------------------
    def postnet_forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel.transpose(1, 2)
        for conv in self.postnet:
            x = conv(x)
        return mel + x.transpose(1, 2)

    # ---- teacher-forced training path -------------------------------------------------------------
    def decoder_inputs(self, mels: torch.Tensor) -> torch.Tensor:
        """Previous frames for each step: a zero go frame, then the last frame of each group of r."""
        b, t, m = mels.shape
        r = self.reduction
        prev = mels[:, r - 1 :: r][:, : (t // r) - 1]
        return torch.cat([mels.new_zeros(b, 1, m), prev], dim=1)

    def forward(self, tokens, lengths, mels, prenet_masks=None, feedback: float = 0.0):
        """Teacher forcing. `mels` (B, S*r, n_mels), padded to a multiple of r. `prenet_masks`: None draws
        fresh dropout masks in training (none in eval); or a list of (B, S, size) tensors. `feedback` > 0
        (scheduled sampling, Bengio et al. 2015): at each step, each sentence is fed its own previous output
        frame (detached) instead of the true one with this probability, so training sees what free running
        feeds back. Returns mel (B, S*r, n_mels), mel after postnet, gate logits (B, S), alignments (B, S, T)."""
        b, t_mel, _ = mels.shape
        if t_mel % self.reduction:
            raise ValueError(f"mel length {t_mel} is not a multiple of the reduction factor {self.reduction}")
        steps = t_mel // self.reduction
        memory, processed = self.encode(tokens, lengths)
        mask = lengths_to_mask(lengths, tokens.shape[1])
        inputs = self.decoder_inputs(mels)  # (B, S, n_mels)
        if prenet_masks is None and self.training and self.prenet.dropout > 0:
            keep = 1.0 - self.prenet.dropout
            prenet_masks = [torch.bernoulli(torch.full((b, steps, s), keep, device=mels.device)) / keep
                            for s in self.prenet.sizes]
        states = self.initial_states(memory)
        frames, gates, aligns = [], [], []
        if feedback > 0:
            prev = inputs[:, 0]
            for s in range(steps):
                masks = None if prenet_masks is None else [m[:, s] for m in prenet_masks]
                frame, gate, *states = self._step_core(self.prenet(prev, masks), *states, memory, processed, mask)
                frames.append(frame)
                gates.append(gate)
                aligns.append(states[4])
                if s + 1 < steps:
                    own = torch.rand(b, 1, device=mels.device) < feedback
                    prev = torch.where(own, frame.view(b, self.reduction, self.n_mels)[:, -1].detach(), inputs[:, s + 1])
        else:
            pre = self.prenet(inputs, prenet_masks)  # (B, S, P)
            for s in range(steps):
                frame, gate, *states = self._step_core(pre[:, s], *states, memory, processed, mask)
                frames.append(frame)
                gates.append(gate)
                aligns.append(states[4])
        mel = torch.stack(frames, dim=1).reshape(b, steps * self.reduction, self.n_mels)
        return mel, self.postnet_forward(mel), torch.stack(gates, dim=1), torch.stack(aligns, dim=1)

    # ---- free-running inference -------------------------------------------------------------------
    @torch.no_grad()
    def infer(self, tokens, lengths, max_steps: int = 500, gate_threshold: float = 0.5,
              prenet_seed: int | None = 0, min_steps: int = 1):
        """Autoregressive synthesis. `prenet_seed`: None turns the prenet dropout off; an int draws the masks
        from a generator seeded with it (the same seed, the same output). A sentence stops after the first
        step whose sigmoid(gate) exceeds `gate_threshold` (and at least `min_steps`), or at `max_steps`.
        Returns dict: mel (B, S*r, n_mels) after postnet (zero past each sentence's length), mel_before_postnet,
        mel_lengths (B,) in frames, gate_fired (B,) bool, alignments (B, S, T), steps (B,) decoder steps."""
        was_training = self.training
        self.eval()
        try:
            memory, processed = self.encode(tokens, lengths)
            mask = lengths_to_mask(lengths, tokens.shape[1])
            states = self.initial_states(memory)

            def step(prev, masks):
                nonlocal states
                frame, gate, *states = self.decoder_step(prev, *states, memory, processed, mask, masks)
                return frame, gate, states[4]

            mel, mel_lengths, valid, fired, aligns, steps = free_run(
                step, memory.new_zeros(tokens.shape[0], self.n_mels), self.prenet, self.reduction, max_steps,
                gate_threshold, min_steps, prenet_seed)
            post = self.postnet_forward(mel)  # (mel is zero past a sentence's end: it must not reach its window)
            return {"mel": post * valid, "mel_before_postnet": mel, "mel_lengths": mel_lengths,
                    "gate_fired": fired, "alignments": aligns, "steps": steps}
        finally:
            self.train(was_training)

    def export_modules(self) -> dict:
        """nn.Modules for the three graphs (tensor-only signatures), sharing this model's weights, in this
        model's train/eval mode (an exporter that restores the wrapper's mode afterwards then restores
        the model's too: a fresh wrapper in training mode would switch the model to training)."""
        mods = {"encoder": _Encoder(self), "decoder_step": _DecoderStep(self), "postnet": _Postnet(self)}
        for mod in mods.values():
            mod.train(self.training)
        return mods


class _Encoder(nn.Module):
    def __init__(self, model: Tacotron2):
        super().__init__()
        self.model = model

    def forward(self, tokens, lengths):
        return self.model.encode(tokens, lengths)


class _DecoderStep(nn.Module):
    """forward(prev_frame, att_h, att_c, dec_h, dec_c, att_w, att_w_cum, context, memory, processed_memory,
    mask, *prenet_masks) -> (frames, gate, att_h, att_c, dec_h, dec_c, att_w, att_w_cum, context)."""

    def __init__(self, model: Tacotron2):
        super().__init__()
        self.model = model

    def forward(self, prev_frame, att_h, att_c, dec_h, dec_c, att_w, att_w_cum, context, memory, processed_memory,
                mask, *prenet_masks):
        return self.model.decoder_step(prev_frame, att_h, att_c, dec_h, dec_c, att_w, att_w_cum, context, memory,
                                       processed_memory, mask, list(prenet_masks) if prenet_masks else None)


class _Postnet(nn.Module):
    def __init__(self, model: Tacotron2):
        super().__init__()
        self.model = model

    def forward(self, mel):
        return self.model.postnet_forward(mel)
