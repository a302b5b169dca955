#!/usr/bin/env bash
# Installs what the test suite needs besides a Rust toolchain, explicitly, so that running the
# tests never changes the machine: Debian's chromium for the browser tests and curl for the
# compression tests (with apt-get, as root; elsewhere it says what to install). The other checks
# install their own tools under target/ (Python virtual environments, protobuf's conformance
# runner).
set -euo pipefail
cd "$(dirname "$0")/.."

chromium=$(tests/browser/install-chromium.sh)
echo "prerequisites: chromium is $chromium"

# curl with its own zlib, brotli and zstd decodes the proxy's compressed replies
# (tests/tests/compression.rs).
if ! curl -V 2>/dev/null | grep -q '^Features:.* brotli .*zstd'; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        apt-get install -y --no-install-recommends curl >&2
    else
        echo "prerequisites: install curl with brotli and zstd support (Debian's curl has both)" >&2
        exit 1
    fi
fi
echo "prerequisites: $(curl -V | head -1)"
