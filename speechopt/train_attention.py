"""The attention models' pieces of TTS training (Tacotron 2 and Tacotron): losses and validation. The loop,
schedule, checkpoints and resume are `speechopt.train_tts`'s.

- Loss: L1 on the mel before and after the postnet (real frames only) + stop-gate BCE (positive from a
  sentence's last decoder step on, padding steps included, positives weighted by `gate_pos_weight`) +
  `guided_weight` x guided-attention loss.
- Scheduled sampling (`feedback`, default 0): each step of each sentence is fed the model's
  own previous frame instead of the true one with this probability (what free running feeds back).
- Guided attention (Tachibana et al. 2017, "DCTTS"): the attention mass of each decoder step t is penalised
  by W[t, n] = 1 - exp(-((n - c_t)/N)^2 / (2 g^2)), g = `guided_sigma`, averaged over real steps as the
  per-step share of mass off the prior. The prior's centre c_t comes from espeak-ng's word events (the
  corpus's `words`: each word's first character starts at its event's time; positions in between are
  interpolated linearly in time, the EOS token sits at the end), so the prior follows pauses at commas;
  an utterance without word timings gets the straight diagonal c_t = (t + 0.5)/S * N.
- `select_on` "roundtrip" adds, per validation, the round-trip WER/CER of the free-running sentences
  (Griffin-Lim, then zoo:crnn-ctc) and keeps the checkpoint with the lowest CER: teacher-forced L1 does not
  see what free running does (zoo:tacotron2: 24.7% WER teacher forced, 96.2% free running). The CER
  alone decides: a sentence that does not stop or loses its alignment already costs its round trip, and
  the share of monotonic alignments, counted on 32 sentences, moves by a sentence between validations
  (zoo:tacotron's cycle: 88% at CER 59%, then 84% at CER 48%). With "l1", the alignment health (the lower
  of the two shares) decides first and the L1 second, since teacher-forced L1 cannot see it.
- Validation: teacher-forced mel L1 (after the postnet) on the whole validation set, and free-running
  inference on `val_infer` validation sentences (prenet dropout from a fixed seed): share whose stop gate fired before the cap, share with monotonic
  attention, mean diagonality, generated/true length ratio (`speechopt.models.tts.alignment`).
"""

from __future__ import annotations

import random

import numpy as np

from speechopt.audio.mel import MelConfig
from speechopt.data.tts_dataset import TtsDataset, make_batches


def tts_losses(model, batch, settings):
    """Returns (total loss, dict of float parts)."""
    import torch
    from torch.nn import functional as F

    from speechopt.models.tts.layers import guided_attention_prior, lengths_to_mask

    tokens, tl, mels, fl, gate_t, sl, centers, *linear = batch
    fmask = lengths_to_mask(fl, mels.shape[1]).unsqueeze(-1).float()
    denom = fmask.sum() * mels.shape[2]
    feedback = settings.feedback if model.training else 0.0
    if linear:  # Tacotron: the post-net predicts the log linear magnitude (its L1 is "l1_post")
        mel, post, gate, align = model(tokens, tl, mels, mel_lengths=fl, feedback=feedback)
        target = linear[0]
        l1_post = ((post - target).abs() * fmask).sum() / (fmask.sum() * target.shape[2])
    else:
        mel, post, gate, align = model(tokens, tl, mels, feedback=feedback) if feedback else model(tokens, tl, mels)
        l1_post = ((post - mels).abs() * fmask).sum() / denom
    l1 = ((mel - mels).abs() * fmask).sum() / denom
    gate_loss = F.binary_cross_entropy_with_logits(gate, gate_t, pos_weight=torch.tensor(settings.gate_pos_weight))
    smask = lengths_to_mask(sl, gate.shape[1]).float()
    loss = l1 + l1_post + gate_loss
    parts = {"l1": l1.item(), "l1_post": l1_post.item(), "gate": gate_loss.item()}
    if settings.guided_weight > 0:
        w = guided_attention_prior(tl, align.shape[1], align.shape[2], centers, settings.guided_sigma)
        ga = ((align * w).sum(-1) * smask).sum() / smask.sum()
        loss = loss + settings.guided_weight * ga
        parts["guided"] = ga.item()
    parts["loss"] = loss.item()
    return loss, parts


def validate_attention(model, data: TtsDataset, settings, batch_size: int = 32) -> dict:
    """Teacher-forced L1 on all of `data`; free-running inference on the first `settings.val_infer`."""
    import torch

    from speechopt.models.tts.alignment import alignment_health

    model.eval()
    totals, n = {}, 0
    with torch.no_grad():
        for idx in make_batches(data.frames, batch_size, random.Random(0), shuffle=False):
            _, parts = tts_losses(model, data.batch(idx), settings)
            for k, v in parts.items():
                totals[k] = totals.get(k, 0.0) + v * len(idx)
            n += len(idx)
        out = {f"val_{k}": v / n for k, v in totals.items()}
        k = min(settings.val_infer, len(data))
        fired = mono = 0
        diag, ratio, free_mels = [], [], []
        r = data.reduction
        for idx in make_batches(data.frames[:k], 16, random.Random(0), shuffle=False):
            tokens, tl, _, fl, _, sl, *_ = data.batch(idx)
            cap = int(sl.max() * 2 + 20)
            res = model.infer(tokens, tl, max_steps=cap, gate_threshold=settings.gate_threshold, prenet_seed=0)
            for j in range(len(idx)):
                steps = int(res["steps"][j])
                h = alignment_health(res["alignments"][j].numpy(), int(tl[j]), steps)
                fired += bool(res["gate_fired"][j])
                mono += h["monotonic"]
                free_mels.append((idx[j], res["mel"][j, : int(res["mel_lengths"][j])].numpy(),
                                  res["linear"][j, : int(res["mel_lengths"][j])].numpy() if "linear" in res else None))
                diag.append(h["diagonality"])
                ratio.append(steps * r / int(fl[j]))
        out.update({"gate_fired": fired / k, "monotonic": mono / k, "diagonality": float(np.mean(diag)),
                    "length_ratio": float(np.median(ratio)), "val_infer": k})
        if settings.select_on == "roundtrip":
            out.update(free_running_roundtrip(free_mels, data, settings))
    model.train()
    return out


def free_running_roundtrip(free_mels, data: TtsDataset, settings) -> dict:
    """What free running sounds like to the bundled ASR: Griffin-Lim of the free-running mels (or Tacotron's
    linear magnitude), then zoo:crnn-ctc, against the validation texts: `roundtrip_wer`, `roundtrip_cer`."""
    from speechopt.models.tts.griffin_lim import griffin_lim
    from speechopt.tasks.tts.scoring import roundtrip_scores
    from speechopt.tasks.tts.scoring import DEFAULT_ASR

    cfg = MelConfig(**settings.mel)
    audios = [griffin_lim(mel, cfg, threads=None, linear=lin) if len(mel) >= 2 else np.zeros(0, np.float32)
              for _, mel, lin in free_mels]
    r = roundtrip_scores(audios, cfg.sample_rate, [data.texts[i] for i, _, _ in free_mels], DEFAULT_ASR)
    return {"roundtrip_wer": r["wer"], "roundtrip_cer": r["cer"]}


def validation_score(metrics: dict, select_on: str) -> list:
    """Best checkpoint first (higher is better; see `select_on` above)."""
    if select_on == "roundtrip":
        return [-metrics["roundtrip_cer"]]
    return [round(min(metrics["gate_fired"], metrics["monotonic"]), 3), -metrics["val_l1_post"]]
