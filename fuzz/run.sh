#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/README.md) one after another, with cargo-fuzz on the default
# toolchain: AddressSanitizer is a nightly (-Z) flag, which RUSTC_BOOTSTRAP=1 lets a stable
# toolchain take, so no second toolchain is needed.
#
#   fuzz/run.sh --ci          each target for FUZZ_CI_SECONDS (default 20) from the committed
#                             corpus; fails on the first crash, hang or leak. CI's check.
#   fuzz/run.sh --long [N]    each target to N executions (default 10,000,000), at the lowest
#                             CPU priority, then a table: executions, exec/s, coverage (cov, ft),
#                             crashes, wall time. Goes on after a crash, to report every target.
#                             FUZZ_MAX_SECONDS caps each target's time (then it reports the
#                             executions it reached).
#   fuzz/run.sh ... TARGET…   only these targets.
#
# New inputs go to fuzz/target/corpus/<target> (the committed corpus stays as it is: merge the
# worthwhile ones with `cargo fuzz cmin`); crashes to fuzz/artifacts/<target>/. Logs are in
# fuzz/target/logs/ (ci-<target>.log, long-<target>.log: a CI check beside a long run keeps both).
# cargo-fuzz is installed when missing.
set -euo pipefail
cd "$(dirname "$0")"

mode=${1:-}
shift || true
runs=10000000
if [[ $mode == --long && ${1:-} =~ ^[0-9]+$ ]]; then
    runs=$1
    shift
fi
case $mode in
    --ci | --long) ;;
    *)
        echo "usage: fuzz/run.sh --ci | --long [N] [TARGET…]" >&2
        exit 2
        ;;
esac

export CARGO_INCREMENTAL=0 RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz@0.13.2
fi

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo fuzz list)
fi

# Release with debug assertions and overflow checks, AddressSanitizer (and its leak checker):
# cargo-fuzz's defaults. Built once for every target.
mkdir -p target/logs
build_log=target/logs/${mode#--}-build.log
echo "fuzz: building the targets (log: fuzz/$build_log)"
if ! cargo fuzz build >"$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    exit 1
fi

status=0
rows=()
for target in "${targets[@]}"; do
    new=target/corpus/$target
    mkdir -p "$new" "corpus/$target" "artifacts/$target"
    args=(-timeout=10 -max_len=4096 -print_final_stats=1)
    [[ $mode == --long && -n ${FUZZ_MAX_SECONDS:-} ]] && args+=(-max_total_time="$FUZZ_MAX_SECONDS")
    [[ -f dict/$target.dict ]] && args+=("-dict=dict/$target.dict")
    log=target/logs/${mode#--}-$target.log
    before=$(find "artifacts/$target" -type f | wc -l)
    start=$(date +%s)
    if [[ $mode == --ci ]]; then
        echo "fuzz: $target for ${FUZZ_CI_SECONDS:-20} s"
        if ! cargo fuzz run "$target" "$new" "corpus/$target" -- \
            "${args[@]}" -max_total_time="${FUZZ_CI_SECONDS:-20}" >"$log" 2>&1; then
            tail -n 60 "$log" >&2
            echo "fuzz: $target failed; the input is in fuzz/artifacts/$target/ (log: fuzz/$log)" >&2
            exit 1
        fi
    else
        echo "fuzz: $target to $runs executions"
        nice -n 19 cargo fuzz run "$target" "$new" "corpus/$target" -- \
            "${args[@]}" -runs="$runs" >"$log" 2>&1 || status=1
    fi
    wall=$(($(date +%s) - start))
    crashes=$(($(find "artifacts/$target" -type f | wc -l) - before))
    # libFuzzer's last status line (`#N DONE cov: C ft: F … exec/s: E`) and final stats.
    last=$(grep -aE '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(grep -aoP 'stat::number_of_executed_units: *\K[0-9]+' "$log" | tail -n 1 || true)
    speed=$(grep -aoP 'stat::average_exec_per_sec: *\K[0-9]+' "$log" | tail -n 1 || true)
    cov=$(grep -oP 'cov: \K[0-9]+' <<<"$last" || true)
    ft=$(grep -oP 'ft: \K[0-9]+' <<<"$last" || true)
    rows+=("$(printf '%-16s %12s %8s %7s %8s %8s %7ss' "$target" "${execs:-?}" "${speed:-?}" \
        "${cov:-?}" "${ft:-?}" "$crashes" "$wall")")
    if [[ $crashes -gt 0 ]]; then
        status=1
        echo "fuzz: $target found $crashes input(s) in fuzz/artifacts/$target/ (log: fuzz/$log)" >&2
    fi
done

printf '%-16s %12s %8s %7s %8s %8s %8s\n' target executions exec/s cov ft crashes wall
printf '%s\n' "${rows[@]}"
exit $status
