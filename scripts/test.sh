#!/usr/bin/env bash
# The whole test suite: set up, lint (ruff), type-check (mypy), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Debian's Chromium (and CJK fonts) for the browser tests: installed if missing (root, as in CI)
bash scripts/browser.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# Bytecode caches on, even where the image sets PYTHONDONTWRITEBYTECODE (CI's does): without
# them every xdist worker compiles the project again and pytest re-rewrites the asserts of every
# test module (~7 s of CPU a worker). One collection run writes them, on the core mypy leaves
# idle, while the linters run.
unset PYTHONDONTWRITEBYTECODE
.venv/bin/pytest --collect-only -q -p no:cacheprovider -p no:xdist >/dev/null 2>&1 &
warm=$!
.venv/bin/ruff check .
.venv/bin/ruff format --check bot intents kb_index adapters
.venv/bin/mypy
wait "$warm" || true  # a collection error shows in the real run below
# PostgreSQL for the PG cases of the ticket-store tests: a throwaway cluster from Debian's
# package, installed and started by scripts/postgres.sh (needs root, as in CI).
if [ -z "${HISBOT_TEST_PG_URL:-}" ]; then
  HISBOT_TEST_PG_URL="$(bash scripts/postgres.sh)"
fi
export HISBOT_TEST_PG_URL
# Three workers on CI's two cores: a third of the test time is spent waiting (subprocesses,
# Chromium, PostgreSQL, a platform's whole-second retry_after), which a third worker fills
# (README, "How the suite runs"). The browser tests share one Chromium: they are one xdist
# group (tests/browser/conftest.py), the rest is dealt out test by test.
.venv/bin/pytest -q -n 3 --dist loadgroup "$@"
