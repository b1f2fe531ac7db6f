#!/usr/bin/env bash
# The demo: recipes/demo.yaml on the bundled CRNN-CTC model and evaluation set. No training, no downloads.
# Measured: 53 s on a quiet 2-core AMD EPYC (family 25 model 17, 2026-12-02), 1 min 35 s on family 23 model 1;
# minutes when another process holds a core (2 threads then fight it: run with threads 1 on a busy machine).
set -euo pipefail
SO=${SPEECHOPT:-speechopt}
OUT=${DEMO_OUT:-demo-out}
RECIPE=${DEMO_RECIPE:-recipes/demo.yaml}
rm -rf "$OUT"
echo "== bundled models and data"
$SO zoo list
echo
echo "== $RECIPE: export (validated against PyTorch), quantize, then bench on CPU"
$SO run "$RECIPE" -o "$OUT"
echo
echo "== text to speech: recipes/demo-tts.yaml (FastSpeech) and recipes/demo-tacotron2.yaml (Tacotron 2)"
echo "   exported to ONNX (validated), benched against PyTorch; listen: $OUT/tts-*/report.html (WAVs in report-audio/)"
$SO run recipes/demo-tts.yaml -o "$OUT/tts-fastspeech"
$SO run recipes/demo-tacotron2.yaml -o "$OUT/tts-tacotron2"
