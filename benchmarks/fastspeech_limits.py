"""What limits FastSpeech's round trip: its durations or its mels (issue 12's "say what limits it").

    .venv/bin/python benchmarks/fastspeech_limits.py --model zoo:fastspeech --out benchmarks/results/fastspeech-limits

On the bundled evaluation sentences, the same ASR (zoo:crnn-ctc) and the same Griffin-Lim (32 iterations)
hear three things: the model's mels with its own predicted durations (what `synth` does), its mels with
espeak-ng's true durations (the duration predictor taken out), and the true mels of espeak's audio (the
model taken out). The gaps say where the round-trip WER goes. Also the mel L1 and MCD to the true mel.
With --bands (mel bin ranges, `0:20,20:40`), the true-duration mels again with one band of bins replaced
by the true mel's: which part of the spectrum carries the error the ASR hears.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    import torch

    from speechopt.artifact import load_artifact
    from speechopt.audio.features import mel_band_edges
    from speechopt.bench.machine import cpu_label, machine_description
    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.models.tts.artifact import mel_config_of, tokenizer_of
    from speechopt.models.tts.griffin_lim import griffin_lim
    from speechopt.tasks.tts.metrics import mcd, mel_l1
    from speechopt.tasks.tts.scoring import DEFAULT_ASR, roundtrip_scores
    from speechopt.train_fastspeech import FastSpeechDataset
    from speechopt.zoo import resolve

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="zoo:fastspeech")
    p.add_argument("--data", default="zoo:tts-eval")
    p.add_argument("--bands", default="", help="mel bin ranges lo:hi, comma-separated, each swapped in alone")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    bands = [tuple(int(x) for x in b.split(":")) for b in args.bands.split(",") if b]
    torch.set_num_threads(1)
    art = load_artifact(resolve(args.model))
    model = load_pytorch_model(art).eval()
    cfg = mel_config_of(art)
    ds = FastSpeechDataset(resolve(args.data), cfg, tokenizer_of(art), None, lambda m: None, "evaluation")
    edges = mel_band_edges(cfg.n_mels, cfg.f_min, cfg.f_max)  # a filter's centre is edges[bin + 1]
    band_names = [f"true durations, bins {lo}-{hi - 1} (centres {edges[lo + 1]:.0f}-{edges[hi]:.0f} Hz) true"
                  for lo, hi in bands]
    audio = {"predicted durations": [], "true durations": [], **{b: [] for b in band_names}, "true mel": []}
    dist = {"predicted durations": [], "true durations": [], **{b: [] for b in band_names}}
    for i in range(len(ds)):
        tokens, tl, mels, fl, *_ = ds.batch([i])
        true = mels[0, : int(fl[0])].numpy()
        with torch.no_grad():
            runs = {"predicted durations": model.infer(tokens, tl),
                    "true durations": model.infer(tokens, tl, durations=ds.durations[i][None])}
        outs = {key: r["mel"][0, : int(r["mel_lengths"][0])].numpy() for key, r in runs.items()}
        n = min(len(true), len(outs["true durations"]))  # true durations: the frames align with the true mel
        for name, (lo, hi) in zip(band_names, bands):
            swapped = outs["true durations"][:n].copy()
            swapped[:, lo:hi] = true[:n, lo:hi]
            outs[name] = swapped
        for key, mel in outs.items():
            audio[key].append(griffin_lim(mel, cfg, threads=1) if len(mel) >= 2 else np.zeros(0, np.float32))
            dist[key].append((mel_l1(true, mel), mcd(true, mel, cfg)["mcd_db"]))
        audio["true mel"].append(griffin_lim(true, cfg, threads=1))
    rows = []
    for key, audios in audio.items():
        r = roundtrip_scores(audios, cfg.sample_rate, ds.texts, DEFAULT_ASR, threads=1)
        d = dist.get(key)
        rows.append({"what": key, "wer": r["wer"], "cer": r["cer"],
                     "mel_l1": float(np.mean([x for x, _ in d])) if d else 0.0,
                     "mcd_db": float(np.mean([y for _, y in d])) if d else 0.0})
        print(f"{key}: WER {r['wer']:.2%} CER {r['cer']:.2%}", flush=True)
    m = machine_description(1)
    lines = ["# What limits FastSpeech's round trip", "",
             f"Measured {time.strftime('%Y-%m-%d')} with `benchmarks/fastspeech_limits.py --model {args.model}` on "
             f"{cpu_label(m)}, on `{args.data}` ({len(ds)} sentences); round trip = Griffin-Lim (32 iterations), "
             f"then {DEFAULT_ASR}. Mel L1 and MCD (c1..c13, DTW) against the true mel of espeak-ng's audio.", "",
             "| mels | round-trip WER | CER | mel L1 | MCD dB |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['wer']:.2%} | {r['cer']:.2%} | {r['mel_l1']:.3f} | {r['mcd_db']:.2f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"machine": m, "model": args.model, "rows": rows}, indent=1) + "\n")
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
