#!/usr/bin/env bash
# The CLI demo: ingest digits, train a CNN, promote it, evaluate it, export it; prints where things are.
set -euo pipefail
mp=".venv/bin/modelplane"
export MODELPLANE_HOME="${MODELPLANE_HOME:-$PWD/.modelplane}"
echo "== modelplane home: $MODELPLANE_HOME"
$mp data add digits --from builtin:digits
if ! $mp models show digits-cnn@production >/dev/null 2>&1; then
  $mp train --data digits --model cnn --epochs 12
  $mp models alias digits-cnn@1 production
fi
$mp models list
$mp eval digits-cnn@production --data digits --split test
$mp export digits-cnn@production --format onnx -o "$MODELPLANE_HOME/exports"
echo "== database:  $MODELPLANE_HOME/modelplane.db"
echo "== artifacts: $MODELPLANE_HOME/artifacts"
echo "== exports:   $MODELPLANE_HOME/exports"
