#!/usr/bin/env bash
# The real-API sweep: protogate against API definitions nobody here wrote.
#
#   tests/realworld/sweep.sh           the full run: every googleapis file with HttpRules, the
#                                      grpc-gateway examples, and the four sample crates built
#   tests/realworld/sweep.sh --ci      the CI sample: one file of each googleapis API, the
#                                      grpc-gateway examples, one small crate built
#
# One generator run per file, in parallel, each with a timeout; every run is classified (ok,
# error by kind, panic, crash, timeout) and the figures go to target/realworld/<mode>/summary.json
# and results.tsv, with each run's stderr under logs/. The snapshots are unpacked from
# ../shared/realworld/ (beside the repository) into target/realworld/. Extra generator flags:
# SWEEP_GENERATE_FLAGS="--skip-invalid-methods" or after `--`. Thresholds, for CI:
# --fail-on-panic (SWEEP_FAIL_ON_PANIC=1), --min-ok N (SWEEP_MIN_OK=N), --fail-on-build
# (SWEEP_FAIL_ON_BUILD=1). `--help` lists every option; tests/realworld/README.md has the figures.
#
# Exit status: 0 done (thresholds met), 1 a threshold failed, 2 bad usage or setup.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v python3 >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "sweep: installing python3" >&2
        apt-get update -qq && apt-get install -y -qq python3 >/dev/null
    else
        echo "sweep: needs python3 (3.9 or newer)" >&2
        exit 2
    fi
fi
exec python3 tests/realworld/sweep.py "$@"
