#!/usr/bin/env bash
# Optimum's ORTQuantizer presets as peers of speechopt's int8 (issue 14), then every variant side by side:
#   benchmarks/optimum_peers.sh [MODEL] [OUT]     (defaults: zoo:crnn-ctc, benchmarks/results/crnn-ctc-peers)
# EXTRA (default zoo:crnn-ctc-pruned25): more artifacts measured beside them, each also made into
# EXTRA_VARIANTS (default onnx-int8-dynamic); static variants calibrate on CALIBRATION (default: the eval set).
# Optimum gets a venv of its own ($OPTIMUM_VENV, default .venv-optimum): optimum-onnx pins transformers<4.58.
# torch is installed first and explicitly (CPU build), as in the Makefile.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-zoo:crnn-ctc}
OUT=${2:-benchmarks/results/crnn-ctc-peers}
VENV=${OPTIMUM_VENV:-.venv-optimum}
WORK=${WORK:-$(mktemp -d /tmp/speechopt-peers.XXXXXX)}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch==2.13.0
  "$VENV/bin/pip" install -q 'optimum-onnx[onnxruntime]'
fi
.venv/bin/speechopt export "$MODEL" --to onnx -o "$WORK/onnx" --overwrite
"$VENV/bin/python" benchmarks/optimum_peers.py quantize --onnx "$WORK/onnx/model.onnx" --work "$WORK/optimum"
.venv/bin/python benchmarks/optimum_peers.py adopt --source "$WORK/onnx" --work "$WORK/optimum" \
  --out-prefix "$WORK/optimum"
.venv/bin/python benchmarks/cpu_variants.py --model "$MODEL" --variants onnx,onnx-int8-dynamic-default,onnx-int8-dynamic \
  --extra "$WORK/optimum-avx2" "$WORK/optimum-avx512_vnni" ${EXTRA:-zoo:crnn-ctc-pruned25} \
  --extra-variants "${EXTRA_VARIANTS:-onnx-int8-dynamic}" ${CALIBRATION:+--calibration-data "$CALIBRATION"} \
  --threads 1,2 --repeats "${REPEATS:-2}" --out "$OUT"
