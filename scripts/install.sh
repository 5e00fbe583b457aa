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
say() { echo "install: $*" >&2; }

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    # Another apt (unattended upgrades on a fresh machine) may hold the lock: wait for it
    # instead of failing.
    lock=(-o DPkg::Lock::Timeout=900)
    say "system packages: ${missing[*]} (apt-get; waits up to 15 min for a busy package manager)"
    $sudo apt-get "${lock[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get "${lock[@]}" install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: install ${missing[*]} with your package manager (card previews fall back to a basic font)" >&2
  fi
fi

[ -x .venv/bin/python ] || { say "a virtualenv in .venv"; python3 -m venv .venv; }
.venv/bin/pip install -q --upgrade pip
if [ "$want_test" = 1 ]; then
  say "Python packages: the platform and its test tools (.venv)"
  .venv/bin/pip install -q -e '.[test]'
else
  say "Python packages: the platform (.venv)"
  .venv/bin/pip install -q -e .
fi
