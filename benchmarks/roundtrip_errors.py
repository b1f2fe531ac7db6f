"""Where a TTS model's round-trip word errors are: in a few broken sentences, or thinly in all (issue 12).

    .venv/bin/python benchmarks/roundtrip_errors.py --model zoo:tacotron2 --out benchmarks/results/tacotron2-roundtrip-errors

`speechopt eval` gives one corpus figure. This splits it per sentence, for three audios of each sentence of
the evaluation set, all heard by the same ASR (zoo:crnn-ctc): the model's synthesis through its vocoder
(Griffin-Lim unless the artifact is a pipeline), the vocoder on the true mel of the synthesizer's own audio,
and that own audio (the floor). A sentence's excess is its word errors in synthesis minus those in the
vocoder's copy of the own audio: what the acoustic model adds. If the excess sits in a few sentences, the
model breaks (attention skips, babble) and alignment work pays; if it is spread, its mels are blurred
everywhere and only better mels pay. Each figure with the greedy decoder and with the lexicon decoder (only
words of the corpus vocabulary), which separates misspellings from words the ASR did not hear at all,
and (greedy) with `--pad-ms` of silence added at both ends of every audio alike: the ASR hears the first
and last word of a clip cut tight at the speech worse, which costs synthesis more than the own audio.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from speechopt.text import normalize_text


def word_errors(ref: str, hyp: str) -> int:
    """One sentence's word errors, by the ASR task's own scoring (its normalization)."""
    from speechopt.tasks.asr.metrics import error_rates

    if not normalize_text(ref):  # error_rates skips an empty reference: every heard word is an insertion
        return len(normalize_text(hyp).split())
    return error_rates([ref], [hyp])["word_errors"]


def edge_misses(refs, hyps) -> tuple[int, int]:
    """(sentences whose first word was not heard as the first word, the same for the last word)."""
    first = last = 0
    for ref, hyp in zip(refs, hyps):
        r, h = normalize_text(ref).split(), normalize_text(hyp).split()
        first += not h or h[0] != r[0]
        last += not h or h[-1] != r[-1]
    return first, last


def concentration(excess: np.ndarray, share: float) -> float:
    """The part of the total positive excess found in the worst `share` of sentences."""
    pos = np.clip(excess, 0, None)
    if pos.sum() == 0:
        return 0.0
    k = max(1, int(round(share * len(pos))))
    return float(np.sort(pos)[::-1][:k].sum() / pos.sum())


def main(argv=None) -> None:
    import torch

    from speechopt.artifact import load_artifact
    from speechopt.audio.io import load_audio
    from speechopt.audio.mel import MelExtractor
    from speechopt.bench.machine import cpu_label, machine_description
    from speechopt.models.tts.artifact import mel_config_of
    from speechopt.tasks import task_of
    from speechopt.tasks.tts.scoring import DEFAULT_ASR, transcribe_audio
    from speechopt.zoo import resolve

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="zoo:tacotron2")
    p.add_argument("--data", default="zoo:tts-eval")
    p.add_argument("--max-utterances", type=int)
    p.add_argument("--pad-ms", type=float, default=100.0,
                   help="also score every audio with this much silence added at both ends (0: not)")
    p.add_argument("--worst", type=int, default=8, help="worst sentences shown in the table")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    art = load_artifact(resolve(args.model))
    task = task_of(art)
    acoustic, voc = task.parts(art)
    cfg = mel_config_of(acoustic)
    data = task.load_data(art, resolve(args.data), max_items=args.max_utterances)
    if any(p is None for p in data.audio_paths):
        raise SystemExit(f"{args.data}: every sentence needs its own audio")
    with task.driver(art, "cpu", 1) as driver:
        outputs = task.run(driver, data)
    synth = voc.many([o["mel"] for o in outputs], 1, linears=[o.get("linear") for o in outputs])
    own = [load_audio(path, cfg.sample_rate, allow_silent=True) for path in data.audio_paths]
    extractor = MelExtractor(cfg)
    linears = None
    if any("linear" in o for o in outputs):  # Tacotron inverts its linear magnitude: copy that path
        from speechopt.data.tts_dataset import log_magnitude

        linears = [log_magnitude(extractor, a, cfg).numpy() for a in own]
    copy = voc.many([extractor(a).numpy() for a in own], 1, linears=linears)

    audios = {"synthesis": synth, "vocoder copy": copy, "own audio": own}
    heard, errors = {}, {}
    conditions = {"greedy": ("greedy", 0), "lexicon": ("lexicon", 0)}
    if args.pad_ms > 0:
        conditions[f"greedy, {args.pad_ms:g} ms pads"] = ("greedy", args.pad_ms)
    for label, (decoder, pad_ms) in conditions.items():
        pad = np.zeros(int(pad_ms * cfg.sample_rate / 1000), np.float32)
        for name, wavs in audios.items():
            wavs = [np.concatenate([pad, w, pad]) for w in wavs] if len(pad) else wavs
            hyps, _ = transcribe_audio(wavs, cfg.sample_rate, DEFAULT_ASR, decoder, threads=1)
            heard[name, label] = hyps
            errors[name, label] = np.array([word_errors(t, h) for t, h in zip(data.texts, hyps)])
    words = np.array([len(normalize_text(t).split()) for t in data.texts])
    total = int(words.sum())
    rows = []
    for decoder in conditions:  # a label: the decoder, and the silence added where it says so
        excess = errors["synthesis", decoder] - errors["vocoder copy", decoder]
        rows.append({
            "decoder": decoder,
            **{f"wer_{n.replace(' ', '_')}": float(errors[n, decoder].sum() / total) for n in audios},
            "excess_points": float(excess.sum() / total),
            "sentences_with_excess": int((excess > 0).sum()),
            "worst_10pct_share": concentration(excess, 0.10),
            "worst_25pct_share": concentration(excess, 0.25),
            "sentences_half_wrong": int((errors["synthesis", decoder] >= 0.5 * words).sum()),
            "first_word_missed": {n: edge_misses(data.texts, heard[n, decoder])[0] for n in audios},
            "last_word_missed": {n: edge_misses(data.texts, heard[n, decoder])[1] for n in audios},
        })
        print(json.dumps(rows[-1]), flush=True)
    excess = errors["synthesis", "greedy"] - errors["vocoder copy", "greedy"]
    worst = np.argsort(-excess, kind="stable")[: args.worst]
    examples = [{"text": data.texts[i], "words": int(words[i]), "excess": int(excess[i]),
                 "heard_greedy": heard["synthesis", "greedy"][i], "heard_lexicon": heard["synthesis", "lexicon"][i],
                 "copy_heard": heard["vocoder copy", "greedy"][i]} for i in worst]
    thirds = np.array_split(np.argsort(words, kind="stable"), 3)
    by_length = [{"words": f"{words[t].min()}-{words[t].max()}", "sentences": len(t),
                  "wer_synthesis": float(errors["synthesis", "greedy"][t].sum() / words[t].sum()),
                  "wer_vocoder_copy": float(errors["vocoder copy", "greedy"][t].sum() / words[t].sum())}
                 for t in thirds]

    m = machine_description(1)
    n = len(data.texts)
    lines = [f"# Where `{args.model}`'s round-trip word errors are", "",
             f"Measured {time.strftime('%Y-%m-%d')} with `benchmarks/roundtrip_errors.py --model {args.model}` on "
             f"{cpu_label(m)}, 1 thread: `{args.data}`, {n} sentences, {total} words; vocoder {voc.name}; ASR "
             f"{DEFAULT_ASR}. Excess: a sentence's word errors in synthesis minus those in the vocoder's copy of "
             "the own audio (what the acoustic model adds), summed over the sentences where it is positive for "
             "the shares. A row with pads adds that much silence at both ends of every audio, the own audio's "
             "too.", "",
             "| scoring | WER synthesis | vocoder copy | own audio | excess (points) | sentences with excess "
             "| worst 10% hold | worst 25% hold | sentences >= half wrong |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['decoder']} | {r['wer_synthesis']:.2%} | {r['wer_vocoder_copy']:.2%} | "
                     f"{r['wer_own_audio']:.2%} | {100 * r['excess_points']:+.2f} | {r['sentences_with_excess']} of {n} | "
                     f"{r['worst_10pct_share']:.0%} | {r['worst_25pct_share']:.0%} | {r['sentences_half_wrong']} |")
    lines += ["", "Sentences whose first (last) word was not heard as such, of " + str(n) + ":", "",
              "| scoring | " + " | ".join(audios) + " |", "|---|" + "---:|" * len(audios)]
    lines += [f"| {r['decoder']} | " + " | ".join(f"{r['first_word_missed'][a]} ({r['last_word_missed'][a]})"
                                                   for a in audios) + " |" for r in rows]
    lines += ["", "By sentence length (greedy), shortest third first:", "",
              "| words | sentences | WER synthesis | vocoder copy |", "|---|---:|---:|---:|"]
    lines += [f"| {b['words']} | {b['sentences']} | {b['wer_synthesis']:.2%} | {b['wer_vocoder_copy']:.2%} |"
              for b in by_length]
    lines += ["", f"The {args.worst} sentences with the most excess errors (greedy):", "",
              "| text | excess | heard (greedy) | heard (lexicon) |", "|---|---:|---|---|"]
    lines += [f"| {e['text']} | {e['excess']} of {e['words']} | {e['heard_greedy']} | {e['heard_lexicon']} |"
              for e in examples]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    per_sentence = [{"text": t, "words": int(words[i]),
                     **{f"{name}_{dec}": int(errors[name, dec][i]) for name in audios for dec in conditions},
                     **{f"heard_{name.replace(' ', '_')}_greedy": heard[name, "greedy"][i] for name in audios}} for i, t in enumerate(data.texts)]
    out.with_suffix(".json").write_text(json.dumps({"machine": m, "model": args.model, "data": args.data,
                                                    "rows": rows, "by_length": by_length, "worst": examples,
                                                    "sentences": per_sentence}, indent=1) + "\n")
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
