#!/usr/bin/env bash
# Makes Debian's `chromium` available for the browser tests (tests/tests/cors.rs and
# docs_page.rs) and prints the path of its binary on standard output. Installs it with apt-get
# when it is missing (as root; tests/prerequisites.sh runs it so); exits non-zero with the reason
# on standard error otherwise. With `--find-only` it only looks: the tests call it so, and fail
# saying what to run when there is no browser. They never pass without one.
set -euo pipefail

find_chromium() {
    for name in chromium chromium-browser; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

if find_chromium; then
    exit 0
fi
# `--find-only`: say where chromium is, never install it (what the test itself does).
if [ "${1:-}" = "--find-only" ]; then
    echo "chromium is not installed: run tests/prerequisites.sh (it installs Debian's chromium with apt-get)" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "chromium is not installed, and installing it needs root (apt-get install chromium)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is not installed, and there is no apt-get to install it with" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Several test processes may get here at once; apt-get waits for the dpkg lock.
apt-get update -qq >&2
apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends chromium >&2
find_chromium || {
    echo "apt-get install chromium succeeded but no chromium binary is on PATH" >&2
    exit 1
}
