#!/usr/bin/env bash
# The demo: recipes/demo.yaml on the bundled CRNN-CTC model and evaluation set. No training, no downloads;
# about three minutes on 2 cores.
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
