"""Multiply-accumulates a model does on an input, counted from its layers' shapes (for the bench's GFLOP/s).

The module is rebuilt from the manifest's architecture on PyTorch's `meta` device (shapes only, no weights,
no arithmetic), and each layer that does the arithmetic adds its count:
- Linear: in x out per row; Conv1d/2d: output elements x (in channels / groups) x kernel size;
- LSTM: per layer and direction, steps x batch x 4 x hidden x (input + hidden) (+ hidden x proj with a
  projection); GRU: 3 x hidden x (input + hidden). The recurrent layers are replaced while counting by a
  shape-only stand-in, since their meta kernels run step by step in Python (3.5 s for one 3 s utterance).
Everything else (norms, activations, the CTC head's softmax) is left out: it is a few percent of the
arithmetic of these models. Every variant of one architecture and config (ONNX, int8, fp16) does the same
multiply-adds, so one count serves them all; a structured prune has its own config and its own count.
"""

from __future__ import annotations

import math

import numpy as np


class _Counter:
    def __init__(self):
        self.macs = 0


def _recurrent_stand_in(module, counter: _Counter):
    """A forward for LSTM/GRU that counts and returns zeros of the output's shape (meta tensors)."""
    import torch
    from torch.nn.utils.rnn import PackedSequence

    gates = 4 if isinstance(module, torch.nn.LSTM) else 3
    dirs = 2 if module.bidirectional else 1
    hidden, proj = module.hidden_size, getattr(module, "proj_size", 0) or 0
    out_size = (proj or hidden) * dirs

    def forward(x, state=None):
        packed = isinstance(x, PackedSequence)
        data = x.data if packed else x
        steps = data.shape[0] if packed else data.shape[0] * data.shape[1]  # batch x time, batch_first or not
        size = module.input_size
        for _ in range(module.num_layers):
            per_step = gates * hidden * (size + (proj or hidden)) + (hidden * proj if proj else 0)
            counter.macs += steps * dirs * per_step
            size = out_size
        if packed:
            out = PackedSequence(torch.zeros(data.shape[0], out_size, device=data.device), x.batch_sizes,
                                 x.sorted_indices, x.unsorted_indices)
        else:
            out = torch.zeros(*data.shape[:2], out_size, device=data.device)
        batch = (x.batch_sizes[0] if packed else data.shape[0 if module.batch_first else 1])
        h = torch.zeros(module.num_layers * dirs, int(batch), proj or hidden, device=data.device)
        return out, ((h, torch.zeros(module.num_layers * dirs, int(batch), hidden, device=data.device))
                     if gates == 4 else h)

    return forward


def macs_counter(model):
    """(count(*inputs) -> multiply-adds of one forward on those meta inputs) for a torch module."""
    import torch

    model = model.eval().to("meta")
    counter = _Counter()

    def linear(mod, inputs, output):
        counter.macs += int(np.prod(output.shape[:-1])) * mod.in_features * mod.out_features

    def conv(mod, inputs, output):
        counter.macs += int(output.numel()) * (mod.in_channels // mod.groups) * int(math.prod(mod.kernel_size))

    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear):
            mod.register_forward_hook(linear)
        elif isinstance(mod, (torch.nn.Conv1d, torch.nn.Conv2d)):
            mod.register_forward_hook(conv)
        elif isinstance(mod, (torch.nn.LSTM, torch.nn.GRU)):
            mod.forward = _recurrent_stand_in(mod, counter)

    def count(*inputs) -> int:
        counter.macs = 0
        with torch.no_grad():
            model(*[torch.as_tensor(x).to("meta") if not isinstance(x, torch.Tensor) else x.to("meta")
                    for x in inputs])
        return counter.macs

    return count
