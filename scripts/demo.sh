#!/usr/bin/env bash
# The demo: the bundled CRNN-CTC model taken through export and measured on CPU against itself.
# No training and no downloads; about two minutes on 2 cores.
set -euo pipefail
MODEL=${DEMO_MODEL:-zoo:crnn-ctc}
SO=${SPEECHOPT:-speechopt}
OUT=${DEMO_OUT:-demo-out}
rm -rf "$OUT"
mkdir -p "$OUT"
echo "== bundled models and data"
$SO zoo list
echo
echo "== export: TorchScript and ONNX, each validated against PyTorch on real utterances"
$SO export "$MODEL" --to torchscript -o "$OUT/model.torchscript"
$SO export "$MODEL" --to onnx -o "$OUT/model.onnx"
$SO quantize "$OUT/model.onnx" --method dynamic -o "$OUT/model.onnx-int8"
echo
echo "== bench on CPU against the PyTorch original (accuracy on all of zoo:eval, one utterance at a time)"
$SO bench "$MODEL" "$OUT/model.torchscript" "$OUT/model.onnx" "$OUT/model.onnx-int8" \
  --backend cpu --data zoo:eval --threads 2 --batch-sizes 1,16 --min-seconds 2 \
  --json "$OUT/bench.json" --markdown "$OUT/bench.md" --html "$OUT/bench.html" \
  --max-wer-drift 1.0
echo
echo "reports: $OUT/bench.json  $OUT/bench.md  $OUT/bench.html"
