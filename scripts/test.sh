#!/usr/bin/env bash
# The whole test suite: set up, lint (ruff), type-check (mypy), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/ruff format --check bot intents kb_index adapters
.venv/bin/mypy
.venv/bin/pytest -q "$@"
