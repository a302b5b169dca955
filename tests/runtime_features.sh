#!/usr/bin/env bash
# The runtime's features one by one and together: each combination builds and lints clean (a
# program pays only for what it uses, so each must stand alone), and the pool without TLS
# refuses an https:// upstream with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

for features in "" server pool tls server,tls pool,tls compression otel cli docs-ui; do
    echo "runtime features: [${features}]"
    cargo clippy --quiet --locked -p protogate-runtime --lib --no-default-features \
        --features "$features" -- -D warnings
done
# gzip alone without `compression`; br and zstd with it.
cargo test --quiet --locked -p protogate-runtime --lib --no-default-features compression::
cargo test --quiet --locked -p protogate-runtime --lib --no-default-features --features pool \
    pool::tests
