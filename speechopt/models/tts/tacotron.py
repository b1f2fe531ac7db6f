"""A small Tacotron (Wang et al. 2017), cut into the same three graphs as Tacotron 2 so one driver runs both.

Architecture (defaults; every size is a constructor keyword, the registry builds `Tacotron(**config)`):
- character embedding (`embedding_dim` 128), encoder prenet 2 x [Linear + ReLU + dropout 0.5]
  (`encoder_prenet_dims` 128, 64; training only);
- encoder CBHG (`CBHG`): a bank of `encoder_bank` 8 Conv1d of kernels 1..8 (`cbhg_channels` 64 each) +
  BatchNorm + ReLU, concatenated; max-pool (width 2, stride 1); two projection convs (kernel 3) back to
  the input width; the input added (residual); `highway_layers` 2 highway layers; a bidirectional GRU of
  `encoder_gru` 64 a direction -> memory (B, T, 128). Padding is zeroed after every conv and the GRU is
  packed, so an utterance encodes the same alone or in a padded batch;
- decoder step: prenet 2 x [Linear + ReLU + dropout] (`prenet_dims` 128, 64; explicit masks, kept at
  inference as in Tacotron 2, seeded or off); attention GRU cell (`attention_rnn_dim` 128) on
  [prenet, context]; content-based (Bahdanau) attention, energies v . tanh(W query + V memory)
  (`attention_dim` 64; V memory is computed once: processed_memory); a Linear of [attention h, context] to
  `decoder_rnn_dim` 128 then two residual GRU cells; a Linear to `reduction` (r) mel frames and a stop-gate
  logit (the paper has no gate; it is what lets the shared driver stop, as in Tacotron 2);
- post-processing net (`postnet`): a CBHG (`post_bank` 8, projections 64 and `n_mels`, GRU `post_gru` 64 a
  direction) on the decoder's mel, then a Linear to `n_freq` (n_fft / 2 + 1 = 513) bins of the log
  linear-frequency magnitude ln(max(|STFT|, clamp)): what Griffin-Lim inverts without the mel's
  pseudo-inverse.

Graphs (`export_modules()`; tensor-only signatures, the state names the TTS driver feeds back):
- encoder(tokens, lengths) -> memory (B, T, E), processed_memory (B, T, A);
- decoder_step(prev_frame, att_h, dec_h1, dec_h2, context, memory, processed_memory, mask, *prenet masks)
  -> frames (B, r * n_mels), gate (B,), new_att_h, new_dec_h1, new_dec_h2, new_att_w (the step's attention
  weights: content attention does not read the previous ones, so they are an output only), new_context;
- postnet(decoder_mel (B, F, n_mels)) -> linear (B, F, n_freq).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from speechopt.models.tts.layers import MASK_VALUE, Prenet, free_run, lengths_to_mask
# the encoder and post-net wrappers only call model.encode / model.postnet_forward: Tacotron 2's serve both
from speechopt.models.tts.tacotron2 import _Encoder, _Postnet

STATE_NAMES = ("att_h", "dec_h1", "dec_h2", "context")  # fed back; the attention weights are an output only


class BatchNormConv(nn.Module):
    """Conv1d (output length = input length, also for even kernels) + BatchNorm + optional ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, relu: bool):
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv1d(cin, cout, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm1d(cout)
        self.relu = relu

    def forward(self, x):
        y = self.bn(self.conv(x)[:, :, : x.shape[2]])
        return F.relu(y) if self.relu else y


class Highway(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.h = nn.Linear(dim, dim)
        self.t = nn.Linear(dim, dim)
        nn.init.constant_(self.t.bias, -1.0)  # start close to carrying the input through

    def forward(self, x):
        t = torch.sigmoid(self.t(x))
        return t * F.relu(self.h(x)) + (1 - t) * x


class CBHG(nn.Module):
    """Conv bank + highway + bidirectional GRU; (B, T, in_dim), lengths -> (B, T, 2 * gru_dim)."""

    def __init__(self, in_dim: int, bank: int, channels: int, projections, highway_layers: int, gru_dim: int):
        super().__init__()
        self.bank = nn.ModuleList(BatchNormConv(in_dim, channels, k, True) for k in range(1, bank + 1))
        p1, p2 = projections
        self.proj1 = BatchNormConv(bank * channels, p1, 3, True)
        self.proj2 = BatchNormConv(p1, p2, 3, False)
        self.residual = nn.Linear(in_dim, p2, bias=False) if p2 != in_dim else None
        self.highways = nn.ModuleList(Highway(p2) for _ in range(highway_layers))
        self.gru = nn.GRU(p2, gru_dim, batch_first=True, bidirectional=True)

    def forward(self, x, lengths):
        keep = lengths_to_mask(lengths, x.shape[1]).unsqueeze(1).to(x.dtype)  # (B, 1, T)
        y = x.transpose(1, 2) * keep
        y = torch.cat([conv(y) for conv in self.bank], dim=1) * keep
        y = F.max_pool1d(F.pad(y, (1, 0), value=-1e4), 2, stride=1) * keep  # width 2 over [t-1, t]
        y = self.proj1(y) * keep
        y = self.proj2(y) * keep
        y = y.transpose(1, 2) + (x if self.residual is None else self.residual(x))
        for hw in self.highways:
            y = hw(y)
        y = y * keep.transpose(1, 2)
        if bool((lengths == x.shape[1]).all()):  # no padding: plain GRU (a traced export keeps T dynamic)
            out, _ = self.gru(y)
            return out
        packed = nn.utils.rnn.pack_padded_sequence(y, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out


class ContentAttention(nn.Module):
    """Bahdanau et al. 2015 additive attention over the encoder memory."""

    def __init__(self, query_dim: int, memory_dim: int, attention_dim: int):
        super().__init__()
        self.query_layer = nn.Linear(query_dim, attention_dim, bias=False)
        self.memory_layer = nn.Linear(memory_dim, attention_dim, bias=False)
        self.v = nn.Linear(attention_dim, 1, bias=True)

    def process_memory(self, memory):
        return self.memory_layer(memory)

    def forward(self, query, memory, processed_memory, mask):
        energies = self.v(torch.tanh(self.query_layer(query).unsqueeze(1) + processed_memory)).squeeze(-1)
        weights = torch.softmax(energies.masked_fill(~mask, MASK_VALUE), dim=1)
        return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights


class Tacotron(nn.Module):
    def __init__(self, vocab_size: int = 34, n_mels: int = 80, n_freq: int = 513, reduction: int = 3,
                 embedding_dim: int = 128, encoder_prenet_dims: tuple | list = (128, 64), encoder_bank: int = 8,
                 cbhg_channels: int = 64, highway_layers: int = 2, encoder_gru: int = 64,
                 prenet_dims: tuple | list = (128, 64), prenet_dropout: float = 0.5, attention_rnn_dim: int = 128,
                 attention_dim: int = 64, decoder_rnn_dim: int = 128, post_bank: int = 8, post_gru: int = 64,
                 encoder_dropout: float = 0.5):
        super().__init__()
        self.n_mels, self.n_freq, self.reduction = int(n_mels), int(n_freq), int(reduction)
        self.attention_rnn_dim, self.decoder_rnn_dim = attention_rnn_dim, decoder_rnn_dim
        self.encoder_dim = 2 * encoder_gru
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        dims = [embedding_dim] + list(encoder_prenet_dims)
        self.encoder_prenet = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.encoder_dropout = encoder_dropout
        p = dims[-1]
        self.encoder_cbhg = CBHG(p, encoder_bank, cbhg_channels, (cbhg_channels, p), highway_layers, encoder_gru)
        self.prenet = Prenet(n_mels, list(prenet_dims), prenet_dropout)
        self.attention_rnn = nn.GRUCell(prenet_dims[-1] + self.encoder_dim, attention_rnn_dim)
        self.attention = ContentAttention(attention_rnn_dim, self.encoder_dim, attention_dim)
        self.decoder_in = nn.Linear(attention_rnn_dim + self.encoder_dim, decoder_rnn_dim)
        self.decoder_rnn1 = nn.GRUCell(decoder_rnn_dim, decoder_rnn_dim)
        self.decoder_rnn2 = nn.GRUCell(decoder_rnn_dim, decoder_rnn_dim)
        self.projection = nn.Linear(decoder_rnn_dim + self.encoder_dim, n_mels * reduction)
        self.gate = nn.Linear(decoder_rnn_dim + self.encoder_dim, 1)
        self.post_cbhg = CBHG(n_mels, post_bank, cbhg_channels, (cbhg_channels, n_mels), highway_layers, post_gru)
        self.post_linear = nn.Linear(2 * post_gru, n_freq)

    # ---- graph 1: encoder -------------------------------------------------------------------------
    def encode(self, tokens, lengths):
        x = self.embedding(tokens)
        for layer in self.encoder_prenet:
            x = F.dropout(F.relu(layer(x)), self.encoder_dropout, self.training)
        memory = self.encoder_cbhg(x, lengths)
        return memory, self.attention.process_memory(memory)

    # ---- graph 2: one decoder step ----------------------------------------------------------------
    def initial_states(self, memory):
        b, t, _ = memory.shape
        z = memory.new_zeros
        return (z(b, self.attention_rnn_dim), z(b, self.decoder_rnn_dim), z(b, self.decoder_rnn_dim),
                z(b, self.encoder_dim))

    def _step_core(self, prenet_out, att_h, dec_h1, dec_h2, context, memory, processed_memory, mask):
        att_h = self.attention_rnn(torch.cat([prenet_out, context], dim=-1), att_h)
        context, att_w = self.attention(att_h, memory, processed_memory, mask)
        x = self.decoder_in(torch.cat([att_h, context], dim=-1))
        dec_h1 = self.decoder_rnn1(x, dec_h1)
        x = x + dec_h1
        dec_h2 = self.decoder_rnn2(x, dec_h2)
        x = torch.cat([x + dec_h2, context], dim=-1)
        return self.projection(x), self.gate(x).squeeze(-1), att_h, dec_h1, dec_h2, att_w, context

    def decoder_step(self, prev_frame, att_h, dec_h1, dec_h2, context, memory, processed_memory, mask,
                     prenet_masks=None):
        """One step; returns (frames, gate logit, att_h, dec_h1, dec_h2, att_w, context)."""
        return self._step_core(self.prenet(prev_frame, prenet_masks), att_h, dec_h1, dec_h2, context,
                               memory, processed_memory, mask)

    # ---- graph 3: post-processing net -------------------------------------------------------------
    def postnet_forward(self, mel, lengths=None):
        """Decoder mel (B, F, n_mels) -> log linear magnitude (B, F, n_freq)."""
        if lengths is None:
            lengths = torch.full((mel.shape[0],), mel.shape[1], dtype=torch.int64, device=mel.device)
        return self.post_linear(self.post_cbhg(mel, lengths))

    # ---- teacher-forced training path -------------------------------------------------------------
    def decoder_inputs(self, mels):
        b, t, m = mels.shape
        r = self.reduction
        prev = mels[:, r - 1 :: r][:, : (t // r) - 1]
        return torch.cat([mels.new_zeros(b, 1, m), prev], dim=1)

    def forward(self, tokens, lengths, mels, prenet_masks=None, mel_lengths=None, feedback: float = 0.0):
        """Teacher forcing; `mels` (B, S*r, n_mels). `feedback` > 0: scheduled sampling, as in
        `Tacotron2.forward` (each step of each sentence fed its own previous frame, detached, with this
        probability). Returns mel (B, S*r, n_mels), log linear magnitude (B, S*r, n_freq), gate logits
        (B, S), alignments (B, S, T)."""
        b, t_mel, _ = mels.shape
        if t_mel % self.reduction:
            raise ValueError(f"mel length {t_mel} is not a multiple of the reduction factor {self.reduction}")
        steps = t_mel // self.reduction
        memory, processed = self.encode(tokens, lengths)
        mask = lengths_to_mask(lengths, tokens.shape[1])
        if prenet_masks is None and self.training and self.prenet.dropout > 0:
            keep = 1.0 - self.prenet.dropout
            prenet_masks = [torch.bernoulli(torch.full((b, steps, s), keep, device=mels.device)) / keep
                            for s in self.prenet.sizes]
        inputs = self.decoder_inputs(mels)
        pre = None if feedback > 0 else self.prenet(inputs, prenet_masks)  # all steps at once when teacher forced
        states = self.initial_states(memory)
        frames, gates, aligns = [], [], []
        prev = inputs[:, 0]
        for s in range(steps):
            if pre is None:
                masks = None if prenet_masks is None else [m[:, s] for m in prenet_masks]
                step_in = self.prenet(prev, masks)
            else:
                step_in = pre[:, s]
            frame, gate, att_h, d1, d2, att_w, context = self._step_core(step_in, *states, memory, processed, mask)
            states = (att_h, d1, d2, context)
            frames.append(frame)
            gates.append(gate)
            aligns.append(att_w)
            if pre is None and s + 1 < steps:
                own = torch.rand(b, 1, device=mels.device) < feedback
                prev = torch.where(own, frame.view(b, self.reduction, self.n_mels)[:, -1].detach(), inputs[:, s + 1])
        mel = torch.stack(frames, dim=1).reshape(b, t_mel, self.n_mels)
        return mel, self.postnet_forward(mel, mel_lengths), torch.stack(gates, 1), torch.stack(aligns, 1)

    # ---- free-running inference -------------------------------------------------------------------
    @torch.no_grad()
    def infer(self, tokens, lengths, max_steps: int = 500, gate_threshold: float = 0.5,
              prenet_seed: int | None = 0, min_steps: int = 1):
        """As `Tacotron2.infer`; "linear" holds the post-net's log linear magnitude and "mel" the decoder's mel."""
        was_training = self.training
        self.eval()
        try:
            memory, processed = self.encode(tokens, lengths)
            mask = lengths_to_mask(lengths, tokens.shape[1])
            states = self.initial_states(memory)

            def step(prev, masks):
                nonlocal states
                frame, gate, att_h, d1, d2, att_w, context = self.decoder_step(prev, *states, memory, processed,
                                                                               mask, masks)
                states = (att_h, d1, d2, context)
                return frame, gate, att_w

            mel, mel_lengths, valid, fired, aligns, steps = free_run(
                step, memory.new_zeros(tokens.shape[0], self.n_mels), self.prenet, self.reduction, max_steps,
                gate_threshold, min_steps, prenet_seed)
            linear = self.postnet_forward(mel, mel_lengths)
            return {"mel": mel, "mel_before_postnet": mel, "linear": linear * valid, "mel_lengths": mel_lengths,
                    "gate_fired": fired, "alignments": aligns, "steps": steps}
        finally:
            self.train(was_training)

    def export_modules(self) -> dict:
        mods = {"encoder": _Encoder(self), "decoder_step": _DecoderStep(self), "postnet": _Postnet(self)}
        for mod in mods.values():
            mod.train(self.training)
        return mods


class _DecoderStep(nn.Module):
    def __init__(self, model: Tacotron):
        super().__init__()
        self.model = model

    def forward(self, prev_frame, att_h, dec_h1, dec_h2, context, memory, processed_memory, mask, *prenet_masks):
        return self.model.decoder_step(prev_frame, att_h, dec_h1, dec_h2, context, memory, processed_memory, mask,
                                       list(prenet_masks) if prenet_masks else None)
