"""Where an ASR model's WER on mixed-synthesizer audio comes from: each set split by synthesizer (issue 14).

    .venv/bin/python benchmarks/hard_audio_breakdown.py --models zoo:crnn-ctc runs/crnn-ctc-mix \
        --data zoo:eval-hard corpus/eval-hard-clean --out benchmarks/results/crnn-hard-audio

For every model and set: greedy WER/CER on the whole set and on its espeak-ng and Festival utterances
apart (the manifest's `synth` field). A set and its undegraded source (`corpus/eval-hard-clean`, made by
recipes/train-reference-models.sh) side by side tell unheard voices from noise and reverberation. WER does
not depend on the machine. Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from speechopt.data.manifest import read_manifest
from speechopt.evaluate import evaluate_artifact
from speechopt.zoo import resolve


def split_by_synth(manifest: Path, folder: Path) -> dict[str, Path]:
    """{"all", "espeak-ng", "Festival"} -> manifest; rows keep their fields, paths made absolute."""
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    utts = read_manifest(manifest)
    out = {"all": manifest}
    for name, festival in (("espeak-ng", False), ("Festival", True)):
        part = folder / f"{manifest.parent.name}-{name}.jsonl"
        chosen = [{**r, "audio_filepath": str(u.audio_filepath)} for r, u in zip(rows, utts)
                  if (r.get("synth") == "festival") == festival]
        if chosen:
            part.write_text("".join(json.dumps(r) + "\n" for r in chosen))
            out[name] = part
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--data", nargs="+", default=["zoo:eval-hard"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="speechopt-breakdown-") as tmp:
        for data in args.data:
            manifest = Path(resolve(data))
            manifest = (manifest / "manifest.jsonl" if manifest.is_dir() else manifest).resolve()
            parts = split_by_synth(manifest, Path(tmp))
            for model in args.models:
                row = {"model": model, "data": data}
                for name, part in parts.items():
                    r = evaluate_artifact(str(resolve(model)), str(part), threads=args.threads)
                    row[name] = {"wer": r["wer"], "cer": r["cer"], "utterances": r["utterances"]}
                rows.append(row)
                print(f"{model} on {data}: " + ", ".join(f"{k} {v['wer']:.2%}" for k, v in row.items()
                                                         if isinstance(v, dict)))
    lines = ["# ASR on mixed-synthesizer audio, split by synthesizer", "",
             "Greedy WER (CER) per set and per synthesizer; `benchmarks/hard_audio_breakdown.py`.", "",
             "| model | data | all | espeak-ng | Festival |", "|---|---|---:|---:|---:|"]
    for r in rows:
        cells = [f"{r[k]['wer']:.2%} ({r[k]['cer']:.2%})" if k in r else "-" for k in ("all", "espeak-ng", "Festival")]
        lines.append(f"| `{r['model']}` | `{r['data']}` | " + " | ".join(cells) + " |")
    lines += ["", "Command: `benchmarks/hard_audio_breakdown.py --models " + " ".join(args.models) + " --data "
              + " ".join(args.data) + f" --out {args.out}`"]
    Path(args.out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    Path(args.out).with_suffix(".json").write_text(json.dumps({"rows": rows, "argv": vars(args)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
