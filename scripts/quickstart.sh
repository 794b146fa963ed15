#!/usr/bin/env bash
# Sets up .venv and trains + evaluates the quick-start model on the built-in
# synthetic data (a few minutes on 2 CPU cores). Extra arguments are passed to
# `python -m tfmtl.train` (e.g. --gin.TRAIN_STEPS=100).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh
MODEL_DIR=${MODEL_DIR:-/tmp/tfmtl/quickstart}
exec .venv/bin/python -m tfmtl.train \
  --gin_file=gin_configs/quickstart.gin \
  --gin.MODEL_DIR="'$MODEL_DIR'" \
  --mode=train_and_evaluate "$@"
