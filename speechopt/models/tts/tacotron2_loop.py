"""Tacotron 2's decoder loop inside one graph: the second export mode (`speechopt export --loop graph`).

The step mode exports one decoder step and the TTS driver loops over it in Python (one runtime call a
step). This module is the whole loop as TorchScript (`torch.jit.script`), which the legacy ONNX exporter
turns into an ONNX `Loop` with the step as its body, so the runtime runs every step in one call; NVIDIA's
Tacotron 2 TensorRT demo reports its in-graph loop much faster than a Python-driven step on a GPU
(`../shared/research/tts.md`). Graph `decoder_loop`:

  memory (B, T, E), processed_memory (B, T, A), mask (B, T) bool, prenet_masks (S, B, sum of prenet sizes)
  float32 (one row per allowed step: S is the step cap; the driver draws them as it does for the step mode),
  gate_threshold () float32
  -> frames (S', B, r * n_mels), gates (S', B), alignments (S', B, T), steps (B,) int64

S' <= S: the loop stops after the step at which every sentence's sigmoid(gate) has passed the threshold,
or at the cap. The step is `Tacotron2._step_core` written out (the same weights, the same operations, in
eval mode: no dropout but the prenet's masks), so both modes compute the same frames up to float rounding.
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn


class Tacotron2DecoderLoop(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.prenet_layers = model.prenet.layers
        self.prenet_sizes: List[int] = [int(s) for s in model.prenet.sizes]
        self.attention_rnn = model.attention_rnn
        self.decoder_rnn = model.decoder_rnn
        att = model.attention
        self.query_layer, self.location_conv, self.location_dense, self.v = (
            att.query_layer, att.location_conv, att.location_dense, att.v)
        self.projection = model.projection
        self.gate = model.gate
        self.n_mels, self.reduction = int(model.n_mels), int(model.reduction)
        self.att_dim, self.dec_dim, self.enc_dim = (int(model.attention_rnn_dim), int(model.decoder_rnn_dim),
                                                    int(model.encoder_dim))

    def forward(self, memory, processed_memory, mask, prenet_masks, gate_threshold):
        b, t = memory.shape[0], memory.shape[1]
        att_h = memory.new_zeros(b, self.att_dim)
        att_c = memory.new_zeros(b, self.att_dim)
        dec_h = memory.new_zeros(b, self.dec_dim)
        dec_c = memory.new_zeros(b, self.dec_dim)
        att_w = memory.new_zeros(b, t)
        att_w_cum = memory.new_zeros(b, t)
        context = memory.new_zeros(b, self.enc_dim)
        prev = memory.new_zeros(b, self.n_mels)
        # 0/1 int64, not bool: the exporter cannot type a scripted comparison as bool for a logical or
        finished = torch.zeros(b, dtype=torch.int64, device=memory.device)
        steps = torch.zeros(b, dtype=torch.int64, device=memory.device)
        frames: List[torch.Tensor] = []
        gates: List[torch.Tensor] = []
        aligns: List[torch.Tensor] = []
        for s in range(prenet_masks.shape[0]):
            x = prev
            offset = 0
            for i, layer in enumerate(self.prenet_layers):
                size = self.prenet_sizes[i]
                x = torch.relu(layer(x)) * prenet_masks[s, :, offset : offset + size]
                offset += size
            att_h, att_c = self.attention_rnn(torch.cat([x, context], dim=-1), (att_h, att_c))
            loc = self.location_conv(torch.stack([att_w, att_w_cum], dim=1))
            loc = self.location_dense(loc.transpose(1, 2))
            energies = self.v(torch.tanh(self.query_layer(att_h).unsqueeze(1) + loc + processed_memory)).squeeze(-1)
            att_w = torch.softmax(energies.masked_fill(~mask, -1e4), dim=1)  # MASK_VALUE (a global is not scriptable)
            context = torch.bmm(att_w.unsqueeze(1), memory).squeeze(1)
            att_w_cum = att_w_cum + att_w
            dec_h, dec_c = self.decoder_rnn(torch.cat([att_h, context], dim=-1), (dec_h, dec_c))
            out = torch.cat([dec_h, context], dim=-1)
            frame = self.projection(out)
            gate = self.gate(out).squeeze(-1)
            frames.append(frame)
            gates.append(gate)
            aligns.append(att_w)
            steps = steps + (1 - finished)
            finished = torch.maximum(finished, (torch.sigmoid(gate) > gate_threshold).to(torch.int64))
            prev = frame[:, (self.reduction - 1) * self.n_mels :]
            if bool(finished.min() == 1):
                break
        return torch.stack(frames, 0), torch.stack(gates, 0), torch.stack(aligns, 0), steps


def scripted_loop(model) -> torch.jit.ScriptModule:
    """The loop of `model` (a Tacotron2, eval mode) as TorchScript, ready for the ONNX exporter."""
    loop = Tacotron2DecoderLoop(model).eval()
    return torch.jit.script(loop)


__all__ = ["Tacotron2DecoderLoop", "scripted_loop"]
