"""Peers for the compression study: Hugging Face Optimum's ORTQuantizer dynamic presets, as a Hugging Face
user applies them, on speechopt's exported ONNX (issue 14).

Optimum (optimum-onnx) pins transformers below what speechopt's venv has, so it lives in a venv of its own
(benchmarks/optimum_peers.sh makes it) and only quantizes there; the results come back into speechopt as
artifacts (`speechopt.steps.quantize.adopt_quantized`: validated against the float parent on real
utterances) and are benched beside speechopt's own variants by cpu_variants.py --extra.

    # in the optimum venv: AutoQuantizationConfig.avx2 / .avx512_vnni (is_static=False, library defaults)
    venv-optimum/bin/python benchmarks/optimum_peers.py quantize --onnx ART/model.onnx --work WORK
    # in speechopt's venv: WORK/<preset>/ -> artifacts OUT-<preset>
    .venv/bin/python benchmarks/optimum_peers.py adopt --source ART --work WORK --out-prefix OUT
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

PRESETS = ("avx2", "avx512_vnni")


def quantize_with_optimum(onnx: Path, work: Path, presets=PRESETS) -> None:
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    import optimum

    for preset in presets:
        config = getattr(AutoQuantizationConfig, preset)(is_static=False)  # the presets' own defaults otherwise
        with tempfile.TemporaryDirectory() as tmp:  # ORTQuantizer reads a folder holding one .onnx
            shutil.copyfile(onnx, Path(tmp) / "model.onnx")
            out = work / preset
            ORTQuantizer.from_pretrained(tmp, file_name="model.onnx").quantize(save_dir=out,
                                                                              quantization_config=config)
        (out / "speechopt-peer.json").write_text(json.dumps({
            "preset": f"AutoQuantizationConfig.{preset}(is_static=False)",
            "optimum_version": getattr(optimum, "__version__", None),
            "config": {k: str(v) for k, v in config.__dict__.items()}}, indent=1) + "\n")
        print(f"{preset}: {out}", flush=True)


def adopt(source: str, work: Path, out_prefix: str, validation_data: str | None) -> list[Path]:
    from speechopt.artifact import load_artifact
    from speechopt.steps.quantize import adopt_quantized

    src = load_artifact(source)
    if list(src.graphs) != ["model"]:
        raise SystemExit(f"{source}: one-graph ASR artifacts only (this one has {', '.join(src.graphs)})")
    made = []
    for preset_dir in sorted(p for p in work.iterdir() if (p / "speechopt-peer.json").is_file()):
        peer = json.loads((preset_dir / "speechopt-peer.json").read_text())
        onnx = next(preset_dir.glob("*.onnx"))
        info = {"method": "dynamic", "engine": "optimum.onnxruntime.ORTQuantizer", "preset": peer["preset"],
                "optimum_version": peer["optimum_version"], "optimum_config": peer["config"]}
        art = adopt_quantized(src, {"model": onnx}, f"{out_prefix}-{preset_dir.name}", info, validation_data,
                              overwrite=True)
        print(f"{preset_dir.name}: {art.path} ({art.manifest['validation']})", flush=True)
        made.append(art.path)
    return made


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quantize", help="in the optimum venv: the presets on one ONNX file")
    q.add_argument("--onnx", type=Path, required=True)
    q.add_argument("--work", type=Path, required=True)
    q.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    a = sub.add_parser("adopt", help="in speechopt's venv: the quantized files as validated artifacts")
    a.add_argument("--source", required=True, help="the float ONNX artifact they were made from")
    a.add_argument("--work", type=Path, required=True)
    a.add_argument("--out-prefix", required=True)
    a.add_argument("--validation-data", default=None)
    args = p.parse_args(argv)
    if args.cmd == "quantize":
        quantize_with_optimum(args.onnx, args.work, args.presets)
    else:
        adopt(args.source, args.work, args.out_prefix, args.validation_data)


if __name__ == "__main__":
    main()
