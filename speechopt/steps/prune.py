"""Pruning: unstructured magnitude pruning, and structured pruning that rebuilds layers smaller.

Unstructured pruning zeroes the smallest weights. Dense kernels still multiply the zeros, so the model is
no faster; only its compressed size shrinks (the artifact records both sizes to show it).

Structured pruning removes whole conv channels and recurrent hidden units and rebuilds the layers
smaller, so every backend runs less arithmetic. A recurrent unit is removed with all its gates (rows
j, H+j, 2H+j, ... of the input and recurrent weights, its column of the recurrent weights, its bias
entries) and with its columns in whatever reads it (the next layer, or the output head). Both
directions of a bidirectional layer keep the same number of units (nn.LSTM requires it), each direction
choosing its own strongest units. Units are ranked by the L2 norm of their weights in and out.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

from speechopt.artifact import Artifact, load_artifact
from speechopt.errors import SpeechoptError


@dataclass(frozen=True)
class PruneSettings:
    amount: float
    structured: bool = False
    scope: str = "global"  # unstructured only: global | layer


def _check(settings: PruneSettings, artifact: Artifact) -> None:
    if not 0.0 <= settings.amount < 1.0:
        raise SpeechoptError(f"pruning amount must be in [0, 1), got {settings.amount}")
    if settings.scope not in ("global", "layer"):
        raise SpeechoptError(f"unknown pruning scope {settings.scope!r} (global or layer)")
    if artifact.format != "pytorch":
        raise SpeechoptError(f"{artifact.path}: pruning works on pytorch artifacts (this one is {artifact.format}); "
                             "prune first, then export")


def _keep(count: int, amount: float) -> int:
    return max(1, int(round(count * (1.0 - amount))))


# ------------------------------------------------------------------------------------- unstructured
def prunable_weights(model):
    import torch

    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)):
            yield module, "weight"
        elif isinstance(module, (torch.nn.LSTM, torch.nn.GRU)):
            for name, _ in module.named_parameters():
                if name.startswith("weight_"):
                    yield module, name


def magnitude_prune(model, amount: float, scope: str = "global") -> float:
    """Zero the smallest-magnitude weights in place; returns the sparsity reached over prunable weights."""
    import torch

    params = [getattr(m, n) for m, n in prunable_weights(model)]
    with torch.no_grad():
        if scope == "global":
            flat = torch.cat([p.detach().abs().flatten() for p in params])
            k = int(amount * flat.numel())
            if k > 0:
                threshold = flat.kthvalue(k).values
                for p in params:
                    p.masked_fill_(p.abs() <= threshold, 0.0)
        else:
            for p in params:
                k = int(amount * p.numel())
                if k > 0:
                    threshold = p.detach().abs().flatten().kthvalue(k).values
                    p.masked_fill_(p.abs() <= threshold, 0.0)
    zeros = sum(int((p == 0).sum()) for p in params)
    return zeros / sum(p.numel() for p in params)


def compressed_size(state: dict) -> int:
    """zlib-compressed size of the weights: what sparsity saves on disk or on the wire."""
    from safetensors.torch import save

    return len(zlib.compress(save(state), 6))


# --------------------------------------------------------------------------------------- structured
def _top(scores, keep: int):
    import torch

    return torch.sort(torch.topk(scores, keep).indices).values


def _rnn_unit_scores(rnn, layer: int, suffix: str, hidden: int, gates: int):
    """Importance of each hidden unit of one layer and direction: norm of its gate rows and its column."""
    w_ih = getattr(rnn, f"weight_ih_l{layer}{suffix}")
    w_hh = getattr(rnn, f"weight_hh_l{layer}{suffix}")
    rows_ih = w_ih.detach().reshape(gates, hidden, -1).square().sum(dim=(0, 2))
    rows_hh = w_hh.detach().reshape(gates, hidden, -1).square().sum(dim=(0, 2))
    cols_hh = w_hh.detach().square().sum(dim=0)
    return (rows_ih + rows_hh + cols_hh).sqrt()


def _slice_rnn(old, new, in_index, keep_units: list[list], gates: int):
    """Copy the kept units of `old` into the smaller `new` RNN.

    `in_index` selects the kept input features of layer 0; `keep_units[layer][direction]` the kept
    units. A layer above 0 reads the concatenated outputs of the layer below.
    """
    import torch

    hidden = old.hidden_size
    dirs = 2 if old.bidirectional else 1
    with torch.no_grad():
        for layer in range(old.num_layers):
            if layer == 0:
                cols_in = in_index
            else:
                below = keep_units[layer - 1]
                cols_in = torch.cat([below[d] + d * hidden for d in range(dirs)])
            for d in range(dirs):
                suffix = "_reverse" if d else ""
                units = keep_units[layer][d]
                rows = torch.cat([units + g * hidden for g in range(gates)])
                getattr(new, f"weight_ih_l{layer}{suffix}").copy_(
                    getattr(old, f"weight_ih_l{layer}{suffix}")[rows][:, cols_in])
                getattr(new, f"weight_hh_l{layer}{suffix}").copy_(
                    getattr(old, f"weight_hh_l{layer}{suffix}")[rows][:, units])
                for b in ("bias_ih", "bias_hh"):
                    getattr(new, f"{b}_l{layer}{suffix}").copy_(getattr(old, f"{b}_l{layer}{suffix}")[rows])


def _rnn_keep(rnn, keep: int):
    gates = 4 if rnn.mode == "LSTM" else 3
    dirs = 2 if rnn.bidirectional else 1
    return gates, [
        [_top(_rnn_unit_scores(rnn, layer, "_reverse" if d else "", rnn.hidden_size, gates), keep) for d in range(dirs)]
        for layer in range(rnn.num_layers)
    ]


def _head_columns(keep_last: list, hidden: int):
    import torch

    return torch.cat([units + d * hidden for d, units in enumerate(keep_last)])


def _copy_bn(old, new, index) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(new, name).data.copy_(getattr(old, name).data[index])


def _prune_crnn(model, config: dict, amount: float, new_model):
    import torch

    c_keep = _keep(config["conv_channels"], amount)
    p_keep = _keep(config["proj"], amount)
    h_keep = _keep(config["hidden"], amount)
    new_config = {**config, "conv_channels": c_keep, "proj": p_keep, "hidden": h_keep}
    new = new_model(new_config)
    conv1, bn1, conv2, bn2 = model.conv[0], model.conv[1], model.conv[3], model.conv[4]
    # channel importance: filter norm scaled by the BatchNorm gain that follows it
    s1 = conv1.weight.flatten(1).norm(dim=1) * bn1.weight.abs()
    s2 = conv2.weight.flatten(1).norm(dim=1) * bn2.weight.abs()
    k1, k2 = _top(s1, c_keep), _top(s2, c_keep)
    new.conv[0].weight.copy_(conv1.weight[k1]); new.conv[0].bias.copy_(conv1.bias[k1])
    _copy_bn(bn1, new.conv[1], k1)
    new.conv[3].weight.copy_(conv2.weight[k2][:, k1]); new.conv[3].bias.copy_(conv2.bias[k2])
    _copy_bn(bn2, new.conv[4], k2)
    # proj reads (channel, freq) flattened channel-major
    lin = model.proj[0]
    freq = lin.in_features // config["conv_channels"]
    in_cols = (k2[:, None] * freq + torch.arange(freq)[None, :]).flatten()
    # a projection unit matters by what feeds it and by what the LSTM reads from it (both directions)
    reads = model.rnn.weight_ih_l0.square().sum(dim=0) + model.rnn.weight_ih_l0_reverse.square().sum(dim=0)
    kp = _top(lin.weight.norm(dim=1) * reads.sqrt(), p_keep)
    new.proj[0].weight.copy_(lin.weight[kp][:, in_cols]); new.proj[0].bias.copy_(lin.bias[kp])
    gates, keep_units = _rnn_keep(model.rnn, h_keep)
    _slice_rnn(model.rnn, new.rnn, kp, keep_units, gates)
    cols = _head_columns(keep_units[-1], config["hidden"])
    new.head.weight.copy_(model.head.weight[:, cols]); new.head.bias.copy_(model.head.bias)
    return new, new_config


def _prune_lstm(model, config: dict, amount: float, new_model):
    import torch

    h_keep = _keep(config["hidden"], amount)
    new_config = {**config, "hidden": h_keep}
    new = new_model(new_config)
    gates, keep_units = _rnn_keep(model.rnn, h_keep)
    _slice_rnn(model.rnn, new.rnn, torch.arange(model.rnn.input_size), keep_units, gates)
    cols = _head_columns(keep_units[-1], config["hidden"])
    new.head.weight.copy_(model.head.weight[:, cols]); new.head.bias.copy_(model.head.bias)
    return new, new_config


def _prune_cnn(model, config: dict, amount: float, new_model):
    # Residual connections tie every block to one channel set: rank channels over all layers.
    c_keep = _keep(config["channels"], amount)
    new_config = {**config, "channels": c_keep}
    new = new_model(new_config)
    score = model.stem[0].weight.flatten(1).norm(dim=1) * model.stem[1].weight.abs()
    for block in model.blocks:
        score = score + block[0].weight.flatten(1).norm(dim=1) * block[1].weight.abs()
    k = _top(score, c_keep)
    new.stem[0].weight.copy_(model.stem[0].weight[k]); new.stem[0].bias.copy_(model.stem[0].bias[k])
    _copy_bn(model.stem[1], new.stem[1], k)
    for old_b, new_b in zip(model.blocks, new.blocks):
        new_b[0].weight.copy_(old_b[0].weight[k][:, k]); new_b[0].bias.copy_(old_b[0].bias[k])
        _copy_bn(old_b[1], new_b[1], k)
    new.head.weight.copy_(model.head.weight[:, k]); new.head.bias.copy_(model.head.bias)
    return new, new_config


# How each architecture loses channels and units: what is ranked and which layers shrink together.
# A new family adds its function here; one without an entry is refused with a clear line.
STRUCTURED = {"crnn-ctc": _prune_crnn, "lstm-ctc": _prune_lstm, "cnn-ctc": _prune_cnn}


def structured_prune(model, arch: str, config: dict, amount: float):
    """A smaller model of the same architecture with the weakest channels/units removed; returns (model, config)."""
    import torch

    from speechopt.models.registry import build_model

    if amount == 0.0:
        return model, dict(config)
    if arch not in STRUCTURED:
        raise SpeechoptError(f"structured pruning does not know architecture {arch!r} "
                             f"(known: {', '.join(STRUCTURED)})")
    with torch.no_grad():
        new, new_config = STRUCTURED[arch](model, config, amount, lambda c: build_model(arch, c))
    return new.eval(), new_config


def prune(source, out, settings: PruneSettings, overwrite: bool = False) -> Artifact:
    """Prune a pytorch ASR artifact into a new artifact."""
    from speechopt.models.pytorch import load_pytorch_model, save_pytorch_artifact, task_fields

    artifact = source if isinstance(source, Artifact) else load_artifact(source)
    _check(settings, artifact)
    model = load_pytorch_model(artifact)
    # measured before pruning edits the weights in place, so the parent is read from disk only once
    parent_compressed = compressed_size(model.state_dict())
    arch, config = artifact.architecture["name"], artifact.architecture["config"]
    before = sum(p.numel() for p in model.parameters())
    if settings.structured:
        model, config = structured_prune(model, arch, config, settings.amount)
        info = {"kind": "structured", "parameters_before": before,
                "parameters_after": sum(p.numel() for p in model.parameters())}
    else:
        sparsity = magnitude_prune(model, settings.amount, settings.scope)
        info = {"kind": "unstructured", "scope": settings.scope, "sparsity": sparsity, "parameters": before}
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    info["compressed_bytes"] = compressed_size(state)
    info["parent_compressed_bytes"] = parent_compressed
    return save_pytorch_artifact(out, model, arch, config, task_fields(artifact), parent=artifact, step="prune",
                                 settings=asdict(settings), metrics={"prune": info}, overwrite=overwrite)
