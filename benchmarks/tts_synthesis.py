"""Synthesis time of every TTS model on CPU: acoustic model and vocoder, per sentence, at each thread count.

    .venv/bin/python benchmarks/tts_synthesis.py --models zoo:tacotron2 zoo:tacotron zoo:fastspeech \
        --sentences 20 --repeats 3 --threads 1,2 --wavenet zoo:wavenet --wavenet-sentences 3 \
        --out benchmarks/results/tts-synthesis

`speechopt synth` (the library function, `speechopt.tasks.tts.synth.synthesize`) on the first
`--sentences` sentences of zoo:tts-eval with Griffin-Lim (32 iterations), `--repeats` times per model and
thread count, in this one process, one after another; the figures are medians over repeats of the
per-run totals: acoustic seconds, vocoder seconds, and the real-time factor as `synth` prints it (audio
seconds per wall second: higher is faster). The WaveNet vocoder is timed on fewer sentences (it is
~1,000x slower than Griffin-Lim) behind the first model. Absolute times are this machine's only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def run(model, texts, threads, vocoder=None) -> dict:
    from speechopt.tasks.tts.synth import synthesize

    with tempfile.TemporaryDirectory() as tmp:
        r = synthesize(model, texts=texts, out=Path(tmp) / "wavs", threads=threads, vocoder=vocoder)
    return {"acoustic": sum(x["acoustic_seconds"] for x in r["results"]),
            "vocoder": sum(x["vocoder_seconds"] for x in r["results"]), "total": r["total_seconds"],
            "audio": r["audio_seconds"], "capped": r["capped"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--data", default="zoo:tts-eval")
    p.add_argument("--sentences", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--wavenet", default=None, help="a WaveNet vocoder artifact, timed behind the first model")
    p.add_argument("--wavenet-sentences", type=int, default=3)
    p.add_argument("--out", required=True)
    a = p.parse_args()

    import torch

    from speechopt.bench.machine import cpu_label, machine_description
    from speechopt.data.tts_corpus import read_tts_manifest
    from speechopt.zoo import resolve

    texts = [r["text"] for r in read_tts_manifest(resolve(a.data))[: a.sentences]]
    threads = [int(t) for t in a.threads.split(",")]
    jobs = [(m, None, texts) for m in a.models]
    if a.wavenet:
        jobs.append((a.models[0], a.wavenet, texts[: a.wavenet_sentences]))
    rows = []
    for model, vocoder, sentences in jobs:
        for t in threads:
            runs = [run(model, sentences, t, vocoder) for _ in range(a.repeats)]
            med = {k: statistics.median(r[k] for r in runs) for k in ("acoustic", "vocoder", "total", "audio")}
            rows.append({"model": model, "vocoder": vocoder or "griffin-lim", "threads": t, "sentences": len(sentences),
                         "runs": runs, **{f"median_{k}_seconds": v for k, v in med.items()},
                         "rtf": med["audio"] / med["total"], "capped": runs[0]["capped"]})
            print(f"{model} + {vocoder or 'griffin-lim'} @ {t} thread(s): acoustic {med['acoustic']:.2f} s, vocoder "
                  f"{med['vocoder']:.2f} s for {med['audio']:.1f} s of audio", file=sys.stderr)
    machine = machine_description(max(threads))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"machine": machine, "rows": rows, "command": " ".join(sys.argv),
                                                    "torch": torch.__version__}, indent=1) + "\n")
    lines = ["# TTS synthesis time on CPU", "",
             f"Measured {time.strftime('%Y-%m-%d')} with `benchmarks/tts_synthesis.py` on {cpu_label(machine)}, torch "
             f"{torch.__version__}: the first sentences of `{a.data}`, PyTorch eager, one sentence at a time, medians "
             f"of {a.repeats} runs. Real-time factor: audio seconds per wall second (higher is faster).", "",
             "| model | vocoder | threads | sentences | audio s | acoustic s | vocoder s | real-time factor |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| `{r['model']}` | {Path(r['vocoder']).name if r['vocoder'] != 'griffin-lim' else 'griffin-lim'} | "
                     f"{r['threads']} | {r['sentences']} | {r['median_audio_seconds']:.1f} | "
                     f"{r['median_acoustic_seconds']:.2f} | {r['median_vocoder_seconds']:.2f} | {r['rtf']:.2f} |")
    lines += ["", f"Command: `{' '.join(sys.argv)}`", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
