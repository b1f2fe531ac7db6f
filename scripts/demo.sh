#!/usr/bin/env bash
# The demo: recipes/demo.yaml on the bundled CRNN-CTC model and evaluation set. No training, no downloads.
# Measured: 1 min 35 s on a quiet 2-core AMD EPYC (family 23 model 1), 4.5 min when the same machine was busy.
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
