#!/usr/bin/env bash
# Runs a Node.js script that drives Debian's chromium with Playwright: installs playwright-core
# (pinned; only the library, never a browser of its own) into target/playwright on first use,
# then runs `node SCRIPT ARGS…` with PLAYWRIGHT_DIR set to it. The browser tests call it
# (tests/tests/docs_page.rs); they find chromium with install-chromium.sh --find-only.
set -euo pipefail

VERSION=1.65.2
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${CARGO_TARGET_DIR:-$root/target}/playwright
installed=$(node -p "require('$dir/node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$VERSION" ]; then
    mkdir -p "$dir"
    # npm checks the tarball against the registry's integrity; nothing is saved outside $dir.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$dir" --no-save --no-package-lock \
        --no-audit --no-fund --loglevel=error "playwright-core@$VERSION" >&2
fi
PLAYWRIGHT_DIR=$dir exec node "$@"
