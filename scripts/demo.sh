#!/usr/bin/env bash
# The main job on embedded defaults: set up, import the bundled sample KB, build the index,
# and run the bot with its web console on http://127.0.0.1:8080/ (KB pages, tickets, reports,
# and a chat playground that talks to the same pipeline as Telegram and Slack). No tokens, no
# network, SQLite under ./data. Prints the demo engineer's login and a demo hospital link.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/hisbot kb import kb
.venv/bin/hisbot kb build
.venv/bin/hisbot web demo
exec .venv/bin/hisbot run
