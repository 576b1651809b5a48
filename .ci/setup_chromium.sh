#!/usr/bin/env bash
# Installs Debian's Chromium (/usr/bin/chromium) for headless screenshots of the FiftyOne App.
# Idempotent: does nothing when chromium already runs. Needs root and Debian's apt archive.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && chromium --version >/dev/null 2>&1; then
    echo "setup_chromium: $(chromium --version 2>/dev/null) is already installed"
    exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_chromium: needs root and apt-get to install Debian's chromium; skipping" >&2
    exit 0
fi

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null
echo "setup_chromium: $(chromium --version 2>/dev/null)"
