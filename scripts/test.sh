#!/usr/bin/env bash
# Sets up .venv with the test tools, checks formatting and lint, and runs the
# whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh test vertex
.venv/bin/ruff format --check tfmtl tests scripts
.venv/bin/ruff check tfmtl tests scripts
exec .venv/bin/python -m pytest -n 2 --dist loadfile -q --durations=15 "$@"
