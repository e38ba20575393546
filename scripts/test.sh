#!/usr/bin/env bash
# The whole test suite: set up, lint (ruff), type-check (mypy), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Debian's Chromium (and CJK fonts) for the browser tests: installed if missing (root, as in CI)
bash scripts/browser.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/ruff format --check bot intents kb_index adapters
.venv/bin/mypy
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
