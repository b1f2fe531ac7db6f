"""A small mel-conditioned WaveNet vocoder (van den Oord et al. 2016; Shen et al. 2018 for mel conditioning).

Architecture (defaults; every size is a constructor keyword, the registry builds `WaveNet(**config)`):
- output: `classes` 256 mu-law classes (mu = classes - 1) of the sample at t, a softmax;
- input: the class of the sample at t - 1 (the first sample sees `silence_class`, mu-law of 0) through an
  embedding to `residual_channels` 32;
- `layers` 16 residual layers, dilations 1, 2, ... 2^(`dilation_cycle` - 1) repeated (8: 1..128 twice;
  receptive field 511 samples, 32 ms at 16 kHz), each: causal dilated Conv1d(kernel 2, -> `gate_channels` 64)
  + the layer's 1x1 projection of the conditioning, tanh(first half) * sigmoid(second half), a 1x1 conv back
  to the residual stream (added; no sqrt(0.5) scaling: r9y9/wavenet_vocoder#65 found it slowed convergence)
  and a 1x1 conv to the `skip_channels` 64 skip sum;
- head: ReLU, 1x1 conv (skip -> skip), ReLU, 1x1 conv (-> classes);
- conditioning: the log-mel, shifted and scaled by the training set's `mel_mean` / `mel_std`, projected to
  `cond_channels` 32 by a frame-rate Conv1d (kernel 3) + tanh, then to the sample rate by `upsample_scales`
  (product = the hop length, 4 x 5 x 10 = 200), each stage a nearest repeat then a learned smoothing over
  time, Conv1d(1, 1, 2 s + 1) shared by all channels, initialised to an average (so training starts from a
  smooth interpolation; r9y9's `UpsampleNetwork` with its frequency kernel of 1); each layer has its own
  1x1 projection of it. Frame f conditions samples [f * hop, (f + 1) * hop).

Training is teacher forced, parallel over time (`forward`). Generation is sequential, two ways that give
the same samples for the same seed (up to float rounding of the logits, which can flip a draw that lands
within ~1e-6 of a class boundary; the tests use float64):
- `generate(..., cached=False)`, naive: every sample recomputes the whole stack over the last receptive
  field of samples (O(receptive field x layers) a sample);
- `generate(..., cached=True)`, the fast WaveNet algorithm (Paine et al. 2016): each layer keeps a queue
  (a ring buffer of `dilation` entries) of its past inputs, so a sample costs one kernel-2 step per layer
  (O(layers)).
Sampling: softmax(logits / temperature), one uniform draw per sample from a `torch.Generator` seeded with
`seed` (inverse CDF), so both ways consume the same random numbers. Batched: B mels are generated together
(shorter ones padded; each is cut to its own length), which is how the evaluation stays affordable.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def mu_law_encode(audio, classes: int = 256):
    """float waveform in [-1, 1] -> int64 classes 0 .. classes - 1 (mu = classes - 1)."""
    mu = classes - 1
    x = torch.as_tensor(audio, dtype=torch.float32).clamp(-1.0, 1.0)
    y = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return ((y + 1) / 2 * mu + 0.5).floor().long()


def mu_law_decode(classes_, classes: int = 256):
    """int classes -> float32 waveform in [-1, 1] (the inverse of `mu_law_encode`, up to quantization)."""
    mu = classes - 1
    y = torch.as_tensor(classes_).double() * 2 / mu - 1
    return (torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu).float()


class Upsampler(nn.Module):
    """(B, C, frames) -> (B, C, frames * prod(scales)): per scale a nearest repeat and a learned smoothing
    over time, Conv1d(1, 1, 2 s + 1) shared by all channels (r9y9's `UpsampleNetwork` with its default
    frequency kernel of 1), initialised to an average."""

    def __init__(self, scales, channels: int):
        super().__init__()
        self.channels = int(channels)
        self.scales = [int(s) for s in scales]
        self.convs = nn.ModuleList()
        for s in self.scales:
            conv = nn.Conv1d(1, 1, 2 * s + 1, padding=s, bias=False)
            nn.init.constant_(conv.weight, 1.0 / (2 * s + 1))
            self.convs.append(conv)

    def forward(self, c):
        # the one kernel applied to every channel as a grouped conv (a reshape folding channels into the batch
        # made the legacy ONNX exporter freeze the batch size)
        x = c
        for s, conv in zip(self.scales, self.convs):
            w = conv.weight.expand(self.channels, 1, conv.weight.shape[-1])
            x = F.leaky_relu(F.conv1d(x.repeat_interleave(s, dim=-1), w, padding=s, groups=self.channels), 0.4)
        return x


class WaveNet(nn.Module):
    def __init__(self, n_mels: int = 80, classes: int = 256, residual_channels: int = 32, gate_channels: int = 64,
                 skip_channels: int = 64, layers: int = 16, dilation_cycle: int = 8, cond_channels: int = 32,
                 upsample_scales=(4, 5, 10), mel_mean: float = 0.0, mel_std: float = 1.0):
        super().__init__()
        if gate_channels % 2:
            raise ValueError("gate_channels must be even (tanh and sigmoid halves)")
        self.classes, self.n_mels = classes, n_mels
        self.residual_channels, self.gate_channels, self.skip_channels = residual_channels, gate_channels, skip_channels
        self.hop_length = int(np.prod(upsample_scales))
        self.mel_mean, self.mel_std = float(mel_mean), float(mel_std)
        self.dilations = [2 ** (i % dilation_cycle) for i in range(layers)]
        self.silence_class = int(mu_law_encode(torch.zeros(1), classes)[0])
        self.embed = nn.Embedding(classes, residual_channels)
        # frame rate: the mel to `cond_channels` (kernel 3: a frame sees its neighbours); then to the sample rate
        self.cond_net = nn.Conv1d(n_mels, cond_channels, 3, padding=1)
        self.upsample = Upsampler(upsample_scales, cond_channels)
        self.dilated = nn.ModuleList(nn.Conv1d(residual_channels, gate_channels, 2, dilation=d) for d in self.dilations)
        # each layer's own 1x1 projection of the upsampled conditioning
        self.cond = nn.ModuleList(nn.Conv1d(cond_channels, gate_channels, 1) for _ in self.dilations)
        half = gate_channels // 2
        # the residual and skip 1x1 convs of a layer as one: (half -> residual + skip)
        self.res_skip = nn.ModuleList(nn.Conv1d(half, residual_channels + skip_channels, 1) for _ in self.dilations)
        self.head1 = nn.Conv1d(skip_channels, skip_channels, 1)
        self.head2 = nn.Conv1d(skip_channels, classes, 1)

    def export_modules(self) -> dict:
        """The two graphs a runner drives generation with (`speechopt.models.tts.wavenet_export`)."""
        mods = {"conditioning": WaveNetConditioning(self), "step": WaveNetStep(self)}
        for mod in mods.values():
            mod.train(self.training)
        return mods

    @property
    def receptive_field(self) -> int:
        return sum(self.dilations) + 1

    def upsampled(self, mel):
        """log-mel (B, frames, n_mels) -> conditioning at the sample rate (B, cond_channels, frames * hop)."""
        c = (mel.transpose(1, 2) - self.mel_mean) / self.mel_std
        return self.upsample(torch.tanh(self.cond_net(c)))

    def _stack(self, x, up):
        """Residual stream x (B, R, T) and upsampled conditioning (B, C, T) -> logits (B, classes, T)."""
        skip = 0
        r = self.residual_channels
        for d, conv, cond, rs in zip(self.dilations, self.dilated, self.cond, self.res_skip):
            h = conv(F.pad(x, (d, 0))) + cond(up)
            a, b = h.chunk(2, dim=1)
            out = rs(torch.tanh(a) * torch.sigmoid(b))
            x = x + out[:, :r]
            skip = skip + out[:, r:]
        return self.head2(F.relu(self.head1(F.relu(skip))))

    def forward(self, audio_classes, mel):
        """Teacher forcing: classes (B, T) of the true samples and mel (B, frames, n_mels) with T <= frames * hop
        -> logits (B, classes, T) for each sample given the samples before it."""
        prev = F.pad(audio_classes[:, :-1], (1, 0), value=self.silence_class)
        up = self.upsampled(mel)[:, :, : audio_classes.shape[1]]
        return self._stack(self.embed(prev).transpose(1, 2), up)

    # -- generation ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, mel, num_samples=None, seed: int = 0, temperature: float = 1.0, cached: bool = True,
                 progress=None):
        """mel (B, frames, n_mels) -> float waveform (B, T) in [-1, 1], T = `num_samples` (default frames * hop).
        `progress(n)` is called with the number of samples done, every 1,000 samples."""
        B, frames = mel.shape[0], mel.shape[1]
        T = int(num_samples if num_samples is not None else frames * self.hop_length)
        up = self.upsampled(mel)[:, :, :T]
        gen = torch.Generator().manual_seed(int(seed))
        out = torch.empty(B, T, dtype=torch.long)
        step = self._cached_steps(B, up) if cached else self._naive_steps(out, up)
        prev = torch.full((B,), self.silence_class, dtype=torch.long)
        for t in range(T):
            logits = step(t, prev)
            prev = self._draw(logits, temperature, gen)
            out[:, t] = prev
            if progress is not None and (t + 1) % 1000 == 0:
                progress(t + 1)
        return mu_law_decode(out, self.classes)

    def _draw(self, logits, temperature: float, gen):
        u = torch.rand(logits.shape[0], generator=gen, dtype=torch.float64).to(logits.dtype)
        return draw(logits, u, torch.full((logits.shape[0],), max(temperature, 1e-6), dtype=logits.dtype))

    def _naive_steps(self, out, up):
        rf = self.receptive_field

        def step(t, prev):
            # the stack's inputs at positions lo..t: the class of the sample before each (silence before 0)
            lo = max(0, t - rf + 1)
            if lo == 0:
                inputs = torch.cat([torch.full_like(prev[:, None], self.silence_class), out[:, :t]], dim=1)
            else:
                inputs = out[:, lo - 1 : t]
            return self._stack(self.embed(inputs).transpose(1, 2), up[:, :, lo : t + 1])[:, :, -1]

        return step

    def _cached_steps(self, B, up, chunk: int = 1000):
        """One sample per call: each layer's kernel-2 conv reads its input `dilation` samples ago from a ring
        buffer (zeros at the start, as the causal padding of `forward`) and stores the current one. The
        layers' conditioning is projected `chunk` samples at a time (all of it at once would take
        B x layers x gate_channels floats a sample)."""
        r, g = self.residual_channels, self.gate_channels
        dtype = self.embed.weight.dtype
        queues = [torch.zeros(d, B, r, dtype=dtype) for d in self.dilations]
        # kernel-2 conv as one matmul over [input at t - d, input at t]: weight (G, R, 2) -> (2R, G)
        weights = [torch.cat([c.weight[:, :, 0], c.weight[:, :, 1]], dim=1).t().contiguous() for c in self.dilated]
        cond_w = torch.cat([c.weight[:, :, 0] for c in self.cond]).t().contiguous()  # (C, L * G)
        cond_b = torch.cat([c.bias + d.bias for c, d in zip(self.cond, self.dilated)])
        rs_w = [m.weight[:, :, 0].t().contiguous() for m in self.res_skip]
        rs_b = [m.bias for m in self.res_skip]
        h1_w, h1_b = self.head1.weight[:, :, 0].t().contiguous(), self.head1.bias
        h2_w, h2_b = self.head2.weight[:, :, 0].t().contiguous(), self.head2.bias
        up_t = up.permute(2, 0, 1)  # (T, B, C)
        block = {}

        def step(t, prev):
            if t % chunk == 0:  # (chunk, B, L * G): every layer's conditioning and conv bias for the next samples
                block["c"] = torch.addmm(cond_b, up_t[t : t + chunk].reshape(-1, up_t.shape[2]),
                                         cond_w).reshape(-1, B, cond_w.shape[1])
            x = self.embed(prev)
            c = block["c"][t % chunk]
            skip = 0
            for i, d in enumerate(self.dilations):
                q = queues[i]
                h = torch.addmm(c[:, i * g : (i + 1) * g], torch.cat([q[t % d], x], dim=1), weights[i])
                q[t % d] = x
                a, b = h.chunk(2, dim=1)
                o = torch.addmm(rs_b[i], torch.tanh(a) * torch.sigmoid(b), rs_w[i])
                x = x + o[:, :r]
                skip = skip + o[:, r:]
            return torch.addmm(h2_b, F.relu(torch.addmm(h1_b, F.relu(skip), h1_w)), h2_w)

        return step


def draw(logits, u, temperature):
    """One class a row by inverse CDF: logits (B, classes), u (B,) uniform in [0, 1), temperature (B,) > 0 ->
    int64 (B,), the number of classes whose cumulative softmax(logits / temperature) is at most u (times the
    total, so rounding of the sum does not matter): a class without mass is never drawn, even for u = 0.
    Tensor operations only: the step graph samples in-graph."""
    cdf = torch.cumsum(torch.softmax(logits / temperature[:, None], dim=-1), dim=-1)
    k = (cdf <= u[:, None] * cdf[:, -1:]).to(torch.int64).sum(dim=-1)
    return torch.clamp(k, max=logits.shape[-1] - 1)


class WaveNetConditioning(nn.Module):
    """Graph `conditioning`: mel (B, frames, n_mels) -> upsampled (B, cond_channels, frames * hop)."""

    def __init__(self, model: WaveNet):
        super().__init__()
        self.model = model

    def forward(self, mel):
        return self.model.upsampled(mel)


def queue_offsets(dilations) -> list[int]:
    """Where layer i's entries start in the step graph's one `queues` state (layer after layer)."""
    return [int(o) for o in np.cumsum([0] + list(dilations[:-1]))]


def split_queues(queues, dilations) -> list:
    """The step graph's `queues` (B, sum(dilations), R) -> one (B, d_i, R) view a layer, oldest first."""
    return [queues[:, o : o + d] for o, d in zip(queue_offsets(dilations), dilations)]


class WaveNetStep(nn.Module):
    """Graph `step`: one sample, the layer queues as explicit state (shift registers, not ring buffers, so the
    graph needs no position input).

    forward(prev_class (B,) int64, cond (B, cond_channels) the upsampled conditioning at this sample,
    u (B,) uniform draws, temperature (B,), queues (B, sum(dilations), R): layer after layer, layer i's
    inputs of the last d_i samples, oldest first) -> (sample (B,) int64, logits (B, classes), new_queues).

    A sample is a few hundred tiny operations, so the time goes to dispatching them (measured in
    benchmarks/results/wavenet-generation.md); the graph is laid out to need fewer:
    - every layer's conditioning projection (and conv bias) is one matrix, the skip connections one matrix
      over the layers' gated outputs at the end;
    - the past half of each layer's kernel-2 conv reads only entries the step does not change (the oldest of
      each queue), so it is one gather and one batched matmul for all layers before the layer loop;
    - all queues are one tensor, (B, entries, R) so that each entry is a contiguous row: the shift of every
      queue and the push of every layer's new input is one concat and one gather with a constant index
      (one tensor a layer took some 40% more time through ONNX Runtime: benchmarks/results/
      wavenet-generation-zen3.md)."""

    def __init__(self, model: WaveNet):
        super().__init__()
        self.model = model
        dil = model.dilations
        offsets, total = queue_offsets(dil), sum(dil)
        # new_queues = cat([queues, layer inputs (B, L, R)], dim 1)[:, shift]: each queue drops its oldest entry
        # and takes its layer's input at the end
        shift = []
        for i, (o, d) in enumerate(zip(offsets, dil)):
            shift += list(range(o + 1, o + d)) + [total + i]
        self.register_buffer("oldest", torch.tensor(offsets, dtype=torch.long), persistent=False)
        self.register_buffer("shift", torch.tensor(shift, dtype=torch.long), persistent=False)
        with torch.no_grad():
            self.register_buffer("cond_w", torch.cat([c.weight[:, :, 0] for c in model.cond]), persistent=False)
            self.register_buffer("cond_b", torch.cat([c.bias + d.bias for c, d in zip(model.cond, model.dilated)]),
                                 persistent=False)
            # tap 0 reads the input d samples ago (L, R, G), tap 1 the current one (L, G, R)
            self.register_buffer("past_w", torch.stack([d.weight[:, :, 0].t() for d in model.dilated]),
                                 persistent=False)
            self.register_buffer("cur_w", torch.stack([d.weight[:, :, 1] for d in model.dilated]), persistent=False)
            r = model.residual_channels
            self.register_buffer("res_w", torch.stack([m.weight[:r, :, 0] for m in model.res_skip]), persistent=False)
            self.register_buffer("res_b", torch.stack([m.bias[:r] for m in model.res_skip]), persistent=False)
            self.register_buffer("skip_w", torch.cat([m.weight[r:, :, 0] for m in model.res_skip], dim=1),
                                 persistent=False)
            self.register_buffer("skip_b", sum(m.bias[r:] for m in model.res_skip), persistent=False)

    def forward(self, prev_class, cond, u, temperature, queues):
        m = self.model
        g, half, layers = m.gate_channels, m.gate_channels // 2, len(m.dilations)
        b = prev_class.shape[0]
        x = m.embed(prev_class)
        past = queues.index_select(1, self.oldest).transpose(0, 1)  # (L, B, R)
        pre = torch.matmul(past, self.past_w).transpose(0, 1).reshape(b, layers * g) + \
            F.linear(cond, self.cond_w, self.cond_b)  # (B, L * G): all but the current input's tap
        gated, inputs = [], []
        for i, pre_i in enumerate(pre.split(g, dim=1)):
            inputs.append(x)
            h = F.linear(x, self.cur_w[i]) + pre_i
            z = torch.tanh(h[:, :half]) * torch.sigmoid(h[:, half:])
            gated.append(z)
            if i + 1 < layers:  # the last layer's residual output feeds nothing
                x = x + F.linear(z, self.res_w[i], self.res_b[i])
        pushed = torch.cat(inputs, dim=1).reshape(b, layers, -1)  # (B, L, R)
        new_queues = torch.cat([queues, pushed], dim=1).index_select(1, self.shift)
        skip = F.linear(torch.cat(gated, dim=1), self.skip_w, self.skip_b)
        logits = F.linear(F.relu(F.linear(F.relu(skip), m.head1.weight[:, :, 0], m.head1.bias)),
                          m.head2.weight[:, :, 0], m.head2.bias)
        return draw(logits, u, temperature), logits, new_queues


def training_segments(model: WaveNet, audio: torch.Tensor, mel: torch.Tensor, frames: int, rng, count: int):
    """`count` random (classes (frames * hop,), mel (frames, n_mels)) crops of one utterance, frame aligned;
    audio past the end is silence."""
    hop = model.hop_length
    total = mel.shape[0]
    out = []
    for _ in range(count):
        f0 = rng.randrange(0, max(1, total - frames + 1))
        m = mel[f0 : f0 + frames]
        if m.shape[0] < frames:  # a short utterance: pad with its last frame (silence at the end)
            m = torch.cat([m, m[-1:].expand(frames - m.shape[0], -1)])
        a = audio[f0 * hop : (f0 + frames) * hop]
        a = F.pad(a, (0, frames * hop - a.shape[0]))
        out.append((mu_law_encode(a, model.classes), m))
    return out


__all__ = ["WaveNet", "WaveNetConditioning", "WaveNetStep", "draw", "mu_law_encode", "mu_law_decode", "queue_offsets",
           "split_queues", "training_segments"]
