"""The planar form of a 1-D convolution model: the same weights on (N, C, 1, T) tensors, for ONNX Runtime.

ONNX Runtime's CPU provider runs a Conv on 3-D tensors through im2col and one GEMM per group, which for a
depthwise conv is a tiny GEMM per channel. On 4-D tensors its layout transformer (ORT_ENABLE_ALL) moves
the convs to MLAS's blocked NCHWc kernels, which have a direct depthwise path and fold BatchNorm and ReLU
into the conv. A model whose convs are Conv1d is converted here, layer by layer, into Conv2d with (1, k)
kernels and BatchNorm2d; the model's own forward must then treat its tensors as planar.
"""

from __future__ import annotations

import copy

from torch import nn


def conv2d_from_1d(conv: nn.Conv1d) -> nn.Conv2d:
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise ValueError(f"planar form needs numeric zero padding, got {conv.padding!r} ({conv.padding_mode})")
    out = nn.Conv2d(conv.in_channels, conv.out_channels, (1, conv.kernel_size[0]), stride=(1, conv.stride[0]),
                    padding=(0, conv.padding[0]), dilation=(1, conv.dilation[0]), groups=conv.groups,
                    bias=conv.bias is not None)
    out.weight.data = conv.weight.data.unsqueeze(2).clone()
    if conv.bias is not None:
        out.bias.data = conv.bias.data.clone()
    return out


def batchnorm2d_from_1d(norm: nn.BatchNorm1d) -> nn.BatchNorm2d:
    out = nn.BatchNorm2d(norm.num_features, eps=norm.eps, momentum=norm.momentum, affine=norm.affine,
                         track_running_stats=norm.track_running_stats)
    out.load_state_dict(norm.state_dict())
    return out


def planar_copy(module: nn.Module) -> nn.Module:
    """A deep copy of `module` with every Conv1d and BatchNorm1d replaced by its 2-D equivalent."""
    out = copy.deepcopy(module)
    _swap(out)
    return out.train(module.training)


def _swap(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Conv1d):
            setattr(module, name, conv2d_from_1d(child))
        elif isinstance(child, nn.BatchNorm1d):
            setattr(module, name, batchnorm2d_from_1d(child))
        else:
            _swap(child)
