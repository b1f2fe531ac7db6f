"""Does a changed ASR model still hear the same? Export validation and quantization agreement.

Export validation runs source and candidate through the same kind of driver, on real utterances one at a
time and in padded batches (manifest order: mixed lengths make real padding, which masking must handle),
and fails on a log-prob difference over the tolerance (valid frames only) or any differing transcript.
"""

from __future__ import annotations

import numpy as np

from speechopt.errors import SpeechoptError

VALIDATION_BATCH = 8


def _compare(source, candidate, data, tok, batches) -> dict:
    from speechopt.tasks.asr.decode import ctc_greedy

    max_diff, total, count, worst, mismatches = 0.0, 0.0, 0, None, []
    for idx in batches:
        inputs = data.items[idx[0]] if len(idx) == 1 else data.batch(idx)
        ref, out = source(inputs), candidate(inputs)
        ref_lp, ref_len, lp, out_len = ref["log_probs"], ref["out_lengths"], out["log_probs"], out["out_lengths"]
        if lp.shape != ref_lp.shape or not np.array_equal(out_len, ref_len):
            raise SpeechoptError(f"validation failed: exported model output shape {lp.shape} / lengths "
                                 f"{out_len.tolist()} differ from the source's {ref_lp.shape} / {ref_len.tolist()}; "
                                 "no artifact written")
        for j, i in enumerate(idx):
            diff = np.abs(lp[j, : ref_len[j]].astype(np.float64) - ref_lp[j, : ref_len[j]])
            d = float(diff.max()) if diff.size else 0.0
            if (np.isnan(d) or d > max_diff) and not np.isnan(max_diff):  # a NaN sticks as the worst
                max_diff, worst = d, i
            total += float(diff.sum())
            count += diff.size
        for j, (a, b) in enumerate(zip(ctc_greedy(ref_lp, ref_len, tok), ctc_greedy(lp, out_len, tok))):
            if a != b:
                mismatches.append((idx[j], a, b))
    return {"max_abs_diff": max_diff, "mean_abs_diff": total / max(count, 1), "worst": worst,
            "mismatches": mismatches, "sum": total, "count": count}


def validate_export(task, source, candidate, data, atol: float, threads=None) -> dict:
    """Compare the exported `candidate` with its pytorch `source` on `data` (AsrData)."""
    from speechopt.tasks.asr.data import tokenizer

    tok = tokenizer(source)
    n = len(data)
    per_utterance = [[i] for i in range(n)]
    padded = [list(range(i, min(i + VALIDATION_BATCH, n))) for i in range(0, n, VALIDATION_BATCH)]
    with task.driver(source, "cpu", threads) as ref, task.driver(candidate, "cpu", threads) as exported:
        single = _compare(ref, exported, data, tok, per_utterance)
        batched = _compare(ref, exported, data, tok, padded)
    for name, result in (("one utterance at a time", single), (f"padded batches of {VALIDATION_BATCH}", batched)):
        if not result["max_abs_diff"] <= atol:
            raise SpeechoptError(f"validation failed: exported model differs from the source by up to "
                                 f"{result['max_abs_diff']:.3g} in log-prob (atol {atol:g}) on "
                                 f"{data.names[result['worst']]}, {name}; no artifact written")
        if result["mismatches"]:
            i, a, b = result["mismatches"][0]
            raise SpeechoptError(f"validation failed: {len(result['mismatches'])} of {n} transcripts differ from the "
                                 f"source ({name}; first {data.names[i]}: {a!r} vs {b!r}); no artifact written")
    return {
        "passed": True,
        "utterances": n,
        "atol": atol,
        "max_abs_diff": max(single["max_abs_diff"], batched["max_abs_diff"]),
        "mean_abs_diff": (single["sum"] + batched["sum"]) / max(single["count"] + batched["count"], 1),
        "per_utterance": {"max_abs_diff": single["max_abs_diff"], "mean_abs_diff": single["mean_abs_diff"]},
        "padded_batches": {"batch_size": VALIDATION_BATCH, "max_abs_diff": batched["max_abs_diff"],
                           "mean_abs_diff": batched["mean_abs_diff"]},
        "transcripts_equal": f"{n}/{n}",
        "compared": "log-probs over valid frames and greedy CTC transcripts vs the source pytorch model",
    }


def agreement(parent: list[np.ndarray], child: list[np.ndarray], tok) -> dict:
    """Agreement of a quantized model with its parent on the same utterances (per-utterance log-probs)."""
    from speechopt.tasks.asr.decode import ctc_greedy

    diffs, same = [], 0
    for a, b in zip(parent, child):
        if not np.all(np.isfinite(b)):
            raise SpeechoptError("the quantized model produced non-finite outputs")
        diffs.append(float(np.abs(a - b).max()) if a.shape == b.shape else float("inf"))
        ta = ctc_greedy(a[None], np.array([len(a)]), tok)[0]
        tb = ctc_greedy(b[None], np.array([len(b)]), tok)[0]
        same += ta == tb
    return {"utterances": len(parent), "max_abs_diff": max(diffs), "mean_max_abs_diff": float(np.mean(diffs)),
            "identical_transcripts": same / len(parent)}
