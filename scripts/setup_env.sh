#!/usr/bin/env bash
# Creates .venv (if missing) and installs tfmtl with the given extras.
# Usage: scripts/setup_env.sh [EXTRA ...]   e.g. scripts/setup_env.sh test
# TensorFlow comes from the `gpu` extra when nvidia-smi sees a GPU, else from
# the `cpu` extra (never both: see setup.cfg).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
tf_extra=cpu
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  tf_extra=gpu
fi
extras=$(IFS=,; echo "$tf_extra${*:+,$*}")
stamp=".venv/.tfmtl-installed-$extras-$(cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  touch "$stamp"
fi
