#!/usr/bin/env bash
# Installs what the test suite needs besides a Rust toolchain, explicitly, so that running the
# tests never changes the machine: Debian's chromium for the browser tests (with apt-get, as
# root; elsewhere it says what to install). The other checks install their own tools under
# target/ (Python virtual environments, protobuf's conformance runner).
set -euo pipefail
cd "$(dirname "$0")/.."

chromium=$(tests/browser/install-chromium.sh)
echo "prerequisites: chromium is $chromium"
