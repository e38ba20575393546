#!/usr/bin/env bash
# The browser for tests/browser: Debian's own Chromium (/usr/bin/chromium) and the Noto CJK fonts
# (Chinese glyphs in the screenshots), driven by Playwright for Python with executable_path —
# Playwright never downloads a browser here. Idempotent and silent when both are installed;
# otherwise installs them with apt-get (non-interactive, no recommends), which needs root (CI).
#
#   bash scripts/browser.sh
set -euo pipefail

CHROMIUM=/usr/bin/chromium

log() { echo "browser.sh: $*" >&2; }

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
if command -v dpkg-query >/dev/null 2>&1 && ! installed fonts-noto-cjk; then
  missing+=(fonts-noto-cjk)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  if [ ! -x "$CHROMIUM" ]; then
    log "$CHROMIUM is missing and installing it needs root: run 'sudo bash scripts/browser.sh'"
    log "(or 'apt-get install --no-install-recommends chromium fonts-noto-cjk' as root)"
    exit 1
  fi
  log "fonts-noto-cjk is missing (Chinese text in screenshots shows as boxes); install it as root"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "apt-get not found: install Chromium at $CHROMIUM and the Noto CJK fonts by hand"
  exit 1
fi

log "installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt_install() {
  apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
}
if ! apt_install 2>/dev/null; then
  # a fresh image has no package lists yet
  apt-get update -qq </dev/null >/dev/null
  apt_install
fi

if ! "$CHROMIUM" --version >/dev/null 2>&1; then
  log "$CHROMIUM was installed but does not run"
  exit 1
fi
log "ready: $("$CHROMIUM" --version 2>/dev/null)"
