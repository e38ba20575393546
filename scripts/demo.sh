#!/usr/bin/env bash
# The main job on embedded defaults: set up, import the bundled sample KB, build the index,
# and open the terminal chat. No tokens, no network, SQLite under ./data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/hisbot kb import kb
.venv/bin/hisbot kb build
exec .venv/bin/hisbot chat
