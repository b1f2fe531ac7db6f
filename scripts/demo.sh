#!/usr/bin/env bash
# The demo: what speechopt does, on the bundled CRNN-CTC model and evaluation set. No training, no downloads.
set -euo pipefail
SO=${SPEECHOPT:-speechopt}
OUT=${DEMO_OUT:-demo-out}
mkdir -p "$OUT"
echo "== bundled models and data"
$SO zoo list
echo
echo "== accuracy of the bundled CRNN-CTC on the bundled evaluation set (held-out voices)"
$SO eval zoo:crnn-ctc --data zoo:eval --json "$OUT/eval-crnn-ctc.json"
echo
echo "results written under $OUT/"
