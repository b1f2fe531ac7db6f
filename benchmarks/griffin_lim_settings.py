"""How much of a TTS model's round-trip WER is the Griffin-Lim vocoder's settings (issue 12's bars).

    .venv/bin/python benchmarks/griffin_lim_settings.py --models zoo:fastspeech zoo:tacotron2 \
        --out benchmarks/results/griffin-lim-settings

Every bar of issue 12 reads the round trip through Griffin-Lim, and the vocoder alone (Griffin-Lim of the
true mel of espeak-ng's own audio) already costs about two points over the floor (the ASR on the own audio).
This synthesizes each model's mels for the evaluation sentences once, then vocodes the same mels, and the
own audio's true mels, with each Griffin-Lim setting in turn (iterations, momentum) and each way of turning
the 80-bin mel back into a 513-bin magnitude, and has the same ASR (zoo:crnn-ctc, greedy) hear them all:
- `pinv`: the library's (`MelExtractor.mel_to_linear`), the filterbank's pseudo-inverse clamped at 0;
- `nnls`: non-negative least squares from there (100 multiplicative updates, Lee and Seung 2001), the
  magnitude whose mel is closest to the given one (librosa's `mel_to_stft` solves the same problem);
- `power:P`: the pseudo-inverse's magnitude to the power P (> 1 sharpens formants; the Tacotron paper
  raised its predicted magnitudes to 1.5 before Griffin-Lim).
The last two live only here: they are tried, not offered. One process, one thread.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch


def parse_settings(text: str) -> list[tuple[int, float]]:
    """'32:0.99,128:0.99' -> [(32, 0.99), (128, 0.99)] (iterations:momentum)."""
    out = []
    for item in text.split(","):
        n, _, m = item.partition(":")
        out.append((int(n), float(m or 0.99)))
    return out


@contextlib.contextmanager
def mel_inversion(name: str):
    """Replace `MelExtractor.mel_to_linear` while the block runs (see the module's docstring)."""
    from speechopt.audio import mel as mel_module

    library = mel_module.MelExtractor.mel_to_linear

    def nnls(self, mel, iters: int = 100):
        target = torch.exp(self.config.denormalize_value(mel))  # (T, n_mels) = magnitude (T, n_freq) @ fb
        fb = self.filterbank  # (n_freq, n_mels)
        s, numerator, gram = library(self, mel).clamp(min=1e-8), target @ fb.T, fb @ fb.T
        for _ in range(iters):
            s = s * numerator / (s @ gram + 1e-10)
        return s

    def power(self, mel):
        return library(self, mel).pow(float(name.split(":")[1]))

    chosen = {"pinv": library, "nnls": nnls}.get(name, power if name.startswith("power:") else None)
    if chosen is None:
        raise SystemExit(f"unknown inversion {name!r} (pinv, nnls, power:P)")
    mel_module.MelExtractor.mel_to_linear = chosen
    try:
        yield
    finally:
        mel_module.MelExtractor.mel_to_linear = library


def main(argv=None) -> None:
    from speechopt.artifact import load_artifact
    from speechopt.bench.machine import cpu_label, machine_description
    from speechopt.models.tts.griffin_lim import GriffinLimSettings
    from speechopt.tasks import task_of
    from speechopt.zoo import resolve

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["zoo:fastspeech", "zoo:tacotron2"])
    p.add_argument("--data", default="zoo:tts-eval")
    p.add_argument("--settings", default="32:0.99,64:0.99,128:0.99,32:0",
                   help="Griffin-Lim settings to compare, iterations:momentum, comma-separated")
    p.add_argument("--inversions", default="pinv", help="mel -> magnitude inversions, comma-separated: pinv, "
                   "nnls, power:P (each with every setting)")
    p.add_argument("--max-utterances", type=int)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    settings = [GriffinLimSettings(n, m) for n, m in parse_settings(args.settings)]
    rows, floor = [], None
    for name in args.models:
        art = load_artifact(resolve(name))
        task = task_of(art)
        data = task.load_data(art, resolve(args.data), max_items=args.max_utterances)
        t0 = time.perf_counter()
        with task.driver(art, "cpu", 1) as driver:
            outputs = task.run(driver, data, progress=False)
        synth_s = time.perf_counter() - t0
        for inversion, gl in [(i, g) for i in args.inversions.split(",") for g in settings]:
            t0 = time.perf_counter()
            with mel_inversion(inversion):
                r = task.score(outputs, data, art, griffin_lim=gl, threads=1)
            floor = r["floor"]
            rows.append({"model": name, "inversion": inversion, "n_iter": gl.n_iter, "momentum": gl.momentum,
                         "wer": r["wer"],
                         "cer": r["cer"], "copy_wer": r["vocoder_only"]["wer"], "copy_cer": r["vocoder_only"]["cer"],
                         "floor_wer": floor["wer"], "sentences": r["sentences"],
                         "score_s": time.perf_counter() - t0, "synthesis_s": synth_s})
            print(f"{name} {inversion}, GL {gl.n_iter} it, m {gl.momentum}: round trip {r['wer']:.2%} (copy of own audio "
                  f"{r['vocoder_only']['wer']:.2%}, floor {floor['wer']:.2%})", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = machine_description(1)
    out.with_suffix(".json").write_text(json.dumps({"machine": machine, "data": args.data, "rows": rows},
                                                   indent=1) + "\n")
    lines = ["# The round trip through Griffin-Lim, by Griffin-Lim's settings", "",
             f"`benchmarks/griffin_lim_settings.py`, {cpu_label(machine)}, one thread; {args.data}, "
             f"{rows[0]['sentences']} sentences; greedy `zoo:crnn-ctc`. Floor (the ASR on the own audio): "
             f"{floor['wer']:.2%} WER.", "",
             "| model | inversion | iterations | momentum | round trip WER / CER | copy of own audio WER / CER |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| `{r['model']}` | {r['inversion']} | {r['n_iter']} | {r['momentum']:g} | {r['wer']:.2%} / {r['cer']:.2%} | "
                     f"{r['copy_wer']:.2%} / {r['copy_cer']:.2%} |")
    lines += ["", "Command: `" + " ".join(["benchmarks/griffin_lim_settings.py", *(sys.argv[1:] if argv is None else argv)]) + "`"]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
