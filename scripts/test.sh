#!/usr/bin/env bash
# Sets up .venv with the test tools, checks formatting and lint, and runs the
# test suite in two tiers: the fast one, then the tests marked `large`
# (end-to-end runs, multi-process jobs, long searches; tests/conftest.py
# skips them unless pytest gets --run_large). Extra arguments go to pytest,
# in both tiers. TFMTL_TIERS=fast runs only the fast tier, =large only the
# large one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh test vertex
.venv/bin/ruff format --check tfmtl tests scripts
.venv/bin/ruff check tfmtl tests scripts
tiers=${TFMTL_TIERS:-fast large}
pytest=(.venv/bin/python -m pytest -n 2 --dist loadfile -q --durations=15)
status=0
for tier in $tiers; do
  case $tier in
    fast) args=() ;;
    large) args=(--run_large -m large) ;;
    *) echo "test.sh: unknown tier '$tier' (fast, large)" >&2; exit 2 ;;
  esac
  echo "=== $tier tier ==="
  start=$SECONDS
  rc=0
  "${pytest[@]}" "${args[@]}" "$@" || rc=$?
  # 5: no test collected (e.g. a -k that selects no test of this tier).
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then status=$rc; fi
  echo "=== $tier tier: exit status $rc, $((SECONDS - start)) s ==="
done
exit "$status"
