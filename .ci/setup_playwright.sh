#!/usr/bin/env bash
# Installs playwright-core (npm) into scripts/node_modules for the headless FiftyOne App screenshot
# (scripts/fiftyone_screenshot.js drives the system Chromium from .ci/setup_chromium.sh with it).
# Idempotent: does nothing when playwright-core is already there. Installs node and npm from Debian
# when missing (needs root and apt-get); the npm registry must be reachable.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -d scripts/node_modules/playwright-core ]; then
    echo "setup_playwright: playwright-core is already in scripts/node_modules"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "setup_playwright: needs npm (or root and apt-get to install it); skipping" >&2
        exit 0
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

npm install --prefix scripts --no-audit --no-fund --silent
echo "setup_playwright: playwright-core $(node -p "require('./scripts/node_modules/playwright-core/package.json').version")"
