#!/usr/bin/env bash
# Installs what Hongyan needs on a fresh Debian/Ubuntu machine: system packages (a CJK font
# for card previews; Chromium for the browser tests with --test), then a virtualenv in .venv.
# Usage: scripts/install.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_packages=(fonts-wqy-zenhei fontconfig)
[ "$want_test" = 1 ] && apt_packages+=(chromium)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: install ${missing[*]} with your package manager (card previews fall back to a basic font)" >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
if [ "$want_test" = 1 ]; then
  .venv/bin/pip install -q -e '.[test]'
else
  .venv/bin/pip install -q -e .
fi
