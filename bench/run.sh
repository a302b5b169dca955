#!/usr/bin/env bash
# protogate's benchmark (issue 6): one command builds everything in release, generates the bench
# proxy, runs every scenario over HTTP/1.1, h2c and direct gRPC for several rounds with the proxy
# pinned to one core and the upstream and the load client to the other, times the generator on a
# synthetic API of 1,000 methods, and prints the table. Method and results: bench/README.md.
#
#   bench/run.sh                                   # the full run (about an hour on 2 cores)
#   BENCH_ROUNDS=3 BENCH_DURATION=5 bench/run.sh   # shorter
#   BENCH_SKIP_SYNTH=1 bench/run.sh                # load scenarios only
#   BENCH_SKIP_LOAD=1 bench/run.sh                 # generator figures only
#
# Settings (environment): BENCH_ROUNDS (5), BENCH_DURATION seconds measured per run (10),
# BENCH_WARMUP seconds per run (2), BENCH_CONNECTIONS (32), BENCH_STREAM_COUNT (100),
# BENCH_SCENARIOS ("get echo stream"), BENCH_MODES ("http1 h2c grpc"), BENCH_PROXY_CORE (0),
# BENCH_OTHER_CORE (1), BENCH_SYNTH_SERVICES (50, x 20 methods), BENCH_SYNTH_REPEAT (3),
# BENCH_SYNTH_PROFILES ("dev"; add "release" to also time a release rebuild).
#
# Loopback only. Every loop is bounded in count and time; the servers it starts are stopped on
# exit. Results go to target/bench-results/<time>/ (results.jsonl, logs, summary.md).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bench_name=bench/run.sh
# shellcheck source=bench/lib.sh
source bench/lib.sh

rounds=${BENCH_ROUNDS:-5}
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-2}
connections=${BENCH_CONNECTIONS:-32}
stream_count=${BENCH_STREAM_COUNT:-100}
scenarios=${BENCH_SCENARIOS:-get echo stream}
modes=${BENCH_MODES:-http1 h2c grpc}
proxy_core=${BENCH_PROXY_CORE:-0}
other_core=${BENCH_OTHER_CORE:-1}
synth_services=${BENCH_SYNTH_SERVICES:-50}
synth_repeat=${BENCH_SYNTH_REPEAT:-3}
synth_profiles=${BENCH_SYNTH_PROFILES:-dev}
skip_synth=${BENCH_SKIP_SYNTH:-0}
skip_load=${BENCH_SKIP_LOAD:-0}

is_uint "$rounds" && ((rounds >= 1 && rounds <= 50)) || die "BENCH_ROUNDS must be 1..50"
is_uint "$synth_repeat" && ((synth_repeat >= 1 && synth_repeat <= 20)) ||
  die "BENCH_SYNTH_REPEAT must be 1..20"
is_uint "$connections" && ((connections >= 1 && connections <= 1000)) ||
  die "BENCH_CONNECTIONS must be 1..1000"
[[ $duration =~ ^[0-9]+(\.[0-9]+)?$ && $warmup =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
  die "BENCH_DURATION and BENCH_WARMUP are seconds"

# --- tools ---------------------------------------------------------------------------------
need taskset util-linux
need getconf libc-bin
need python3 python3
command -v cargo >/dev/null 2>&1 || die "cargo is missing: install a Rust toolchain (1.85+)"

out="$root/target/bench-results/$(date +%Y%m%dT%H%M%S)"
mkdir -p "$out"
results="$out/results.jsonl"
meta="$out/meta.env"
: >"$results"
: >"$meta"
note() { printf '%s=%s\n' "$1" "$2" >>"$meta"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Runs cargo offline first (the versions of the workspace's Cargo.lock are usually cached), and
# online when that fails for lack of a download.
cargo_build() { # DIR ARGS...
  local dir=$1 log
  shift
  log=$(mktemp)
  if (cd "$dir" && cargo build --quiet --offline "$@") 2>"$log"; then
    rm -f "$log"
    return 0
  fi
  if grep -q -i "offline" "$log"; then
    rm -f "$log"
    (cd "$dir" && cargo build --quiet "$@")
  else
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
}

# A generated crate is standalone; inside this repository cargo would take it for a workspace
# member, so it gets an empty [workspace] table, and the workspace's Cargo.lock for the same
# dependency versions (as codegen/tests/standalone.rs does).
prepare_crate() { # DIR
  printf '\n# Added by bench/run.sh: not a member of the repository workspace.\n[workspace]\n' \
    >>"$1/Cargo.toml"
  cp "$root/Cargo.lock" "$1/Cargo.lock"
}

# --- build ----------------------------------------------------------------------------------
export CARGO_TARGET_DIR="$root/target/bench"
bin="$CARGO_TARGET_DIR/release"
# The proxy, the upstream and the load client are built alike. Debug line tables do not change
# the code; they let `perf` and callgrind (bench/profile.sh) name inlined frames.
build_env=(CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
  CARGO_PROFILE_RELEASE_DEBUG=line-tables-only)
note build_env "${build_env[*]}"
note rustc "$(rustc --version)"
note kernel "$(uname -sr)"
note cpus "$(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
note loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
note settings "rounds=$rounds duration=${duration}s warmup=${warmup}s connections=$connections stream_count=$stream_count proxy_core=$proxy_core other_core=$other_core"

echo "==> building the generator (release, as \`cargo install --path codegen\` builds it)"
cargo_build "$root" --release -p protogate
echo "==> building the upstream and the load client (release, ${build_env[*]})"
(
  export "${build_env[@]}"
  cargo_build "$root" --release -p protogate-bench-upstream -p protogate-bench-load
)

proxy_dir="$root/target/bench-proxy"
proxy_bin="$bin/protogate-bench-proxy"
if [[ $skip_load != 1 ]]; then
  echo "==> generating the bench proxy into target/bench-proxy"
  # Into a fresh directory, which replaces the previous one only when it differs, so that an
  # unchanged proxy is not rebuilt (a fat-LTO build takes minutes).
  rm -rf "$proxy_dir.new"
  "$bin/protogate" generate --proto bench/proto/bench/v1/bench.proto -I bench/proto \
    --out "$proxy_dir.new" --crate-name protogate-bench-proxy 2>"$out/generate-proxy.log" ||
    { cat "$out/generate-proxy.log" >&2; die "generating the bench proxy failed"; }
  prepare_crate "$proxy_dir.new"
  # (cargo prunes Cargo.lock to the crate's dependencies; a fresh copy does not force a rebuild.)
  if diff -r -q -x Cargo.lock "$proxy_dir.new" "$proxy_dir" >/dev/null 2>&1; then
    cp "$proxy_dir.new/Cargo.lock" "$proxy_dir/Cargo.lock"
    rm -rf "$proxy_dir.new"
  else
    rm -rf "$proxy_dir"
    mv "$proxy_dir.new" "$proxy_dir"
  fi
  echo "==> building the bench proxy (release, ${build_env[*]})"
  (
    export "${build_env[@]}"
    cargo_build "$proxy_dir" --release
  )
fi

# --- load scenarios -------------------------------------------------------------------------
if [[ $skip_load != 1 ]]; then
  clk_tck=$(getconf CLK_TCK)
  up_port=$(free_port)
  px_port=$(free_port)
  for _ in 1 2 3 4 5; do
    [[ $px_port != "$up_port" ]] && break
    px_port=$(free_port)
  done

  echo "==> starting the upstream on core $other_core and the proxy on core $proxy_core"
  taskset -c "$other_core" "$bin/bench-upstream" --listen "127.0.0.1:$up_port" \
    2>"$out/upstream.log" &
  up_pid=$!
  pids+=("$up_pid")
  wait_for_line "$out/upstream.log" "listening" "$up_pid"
  # RUST_LOG=info is the binary's default; set so that the caller's environment cannot change it.
  RUST_LOG=info taskset -c "$proxy_core" "$proxy_bin" --listen "127.0.0.1:$px_port" \
    --upstream "http://127.0.0.1:$up_port" 2>"$out/proxy.log" &
  px_pid=$!
  pids+=("$px_pid")
  wait_for_line "$out/proxy.log" "ready to serve" "$px_pid"
  note proxy_rss_idle_kib "$(awk '/^VmRSS:/ {print $2}' "/proc/$px_pid/status")"

  # Probes: a few requests of each scenario through the proxy must succeed before the rounds.
  probe() { # SCENARIO -> prints the first error, or nothing when every request succeeded
    # bench-load exits 1 when no request succeeded, after printing its line.
    { taskset -c "$other_core" "$bin/bench-load" --mode http1 --scenario "$1" \
      --target "127.0.0.1:$px_port" --connections 1 --warmup 0 --duration 0.5 \
      --max-requests 3 --stream-count 1 2>/dev/null || true; } |
      python3 -c 'import json,sys; r=json.loads(sys.stdin.read() or "{}"); print("" if r.get("requests") and not r.get("errors") else (r.get("first_error") or "no answer"))'
  }
  for scenario in get echo; do
    failure=$(probe "$scenario")
    [[ -z $failure ]] || die "the $scenario scenario fails through the proxy: $failure"
  done
  stream_skip=""
  if [[ " $scenarios " == *" stream "* ]]; then
    failure=$(probe stream)
    if [[ -n $failure ]]; then
      reason=$(grep -m1 "StreamItems" "$out/generate-proxy.log" | sed 's/^note: //' || true)
      stream_skip="GET /v1/items:stream through the proxy: ${failure}${reason:+ — the generator said: $reason}"
      note stream_skipped "$stream_skip"
      echo "    stream scenario skipped: $stream_skip"
    fi
  fi

  echo "==> $rounds rounds x {$scenarios} x {$modes}: ${warmup}s warm-up + ${duration}s each"
  for round in $(seq 1 "$rounds"); do
    for scenario in $scenarios; do
      if [[ $scenario == stream && -n $stream_skip ]]; then
        continue
      fi
      for mode in $modes; do
        target="127.0.0.1:$px_port"
        [[ $mode == grpc ]] && target="127.0.0.1:$up_port"
        kill -0 "$px_pid" 2>/dev/null || die "the proxy died: see $out/proxy.log"
        kill -0 "$up_pid" 2>/dev/null || die "the upstream died: see $out/upstream.log"
        line=$(taskset -c "$other_core" "$bin/bench-load" --mode "$mode" --scenario "$scenario" \
          --target "$target" --connections "$connections" --duration "$duration" \
          --warmup "$warmup" --stream-count "$stream_count" --proxy-pid "$px_pid" \
          --upstream-pid "$up_pid" --clk-tck "$clk_tck" --round "$round" \
          2>>"$out/load.log") || echo "    (run failed: see $out/load.log)"
        if [[ -n $line ]]; then
          echo "$line" >>"$results"
          python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("    round %(round)s %(scenario)-6s %(mode)-5s %(rps)10.0f req/s  p50 %(p50_us)6d us  p99 %(p99_us)6d us  errors %(errors)d  proxy %(proxy_cpu_us_per_req)s us/req  upstream %(upstream_cpu_us_per_req)s us/req" % r)' "$line"
        fi
      done
    done
  done
  note proxy_vmhwm_kib "$(awk '/^VmHWM:/ {print $2}' "/proc/$px_pid/status")"
  note upstream_vmhwm_kib "$(awk '/^VmHWM:/ {print $2}' "/proc/$up_pid/status")"
  cleanup
fi

# --- generator figures ------------------------------------------------------------------------
if [[ $skip_synth != 1 ]]; then
  synth="$root/target/bench-synth"
  echo "==> synthetic API: $synth_services services x 20 methods (bench/gen_api.py)"
  rm -rf "$synth"
  mkdir -p "$synth"
  python3 bench/gen_api.py "$synth/proto" --services "$synth_services" >"$synth/files.txt"
  gen_args=()
  while read -r file; do
    gen_args+=(--proto "$synth/proto/$file")
  done <"$synth/files.txt"
  gen_args+=(-I "$synth/proto" --out "$synth/crate" --crate-name protogate-bench-synth)
  note synth_methods "$(cat "$synth"/proto/synth/*/v1/*.proto | grep -c '^  rpc ')"

  times=()
  for _ in $(seq 1 "$synth_repeat"); do
    rm -rf "$synth/crate"
    start=$(now_ms)
    "$bin/protogate" generate "${gen_args[@]}" 2>"$out/generate-synth.log" ||
      { cat "$out/generate-synth.log" >&2; die "generating the synthetic API failed"; }
    times+=($(($(now_ms) - start)))
  done
  note synth_generate_ms "${times[*]}"
  note synth_lines "$(cat "$synth"/crate/src/*.rs "$synth"/crate/protogate-runtime/src/*.rs | wc -l)"
  echo "    generate: ${times[*]} ms"

  times=()
  for _ in $(seq 1 "$synth_repeat"); do
    start=$(now_ms)
    "$bin/protogate" generate --check "${gen_args[@]}" >"$out/check-synth.log" 2>&1 ||
      { cat "$out/check-synth.log" >&2; die "--check found a difference right after generate"; }
    times+=($(($(now_ms) - start)))
  done
  note synth_check_ms "${times[*]}"
  echo "    --check:  ${times[*]} ms"

  prepare_crate "$synth/crate"
  # The dependencies are built first, untimed, from a copy of the crate's manifest and lock file
  # with empty sources; then the crate itself is built, timed. Incremental compilation is off
  # (it is on for this crate in the dev profile), so a second run also compiles all of the
  # generated code rather than reusing the first run's work.
  export CARGO_INCREMENTAL=0
  note synth_build_env "CARGO_INCREMENTAL=0"
  deps="$synth/deps-only"
  rm -rf "$deps"
  mkdir -p "$deps/src"
  # Under another name: cargo would otherwise take the stub's build for the crate's.
  sed 's/protogate-bench-synth/protogate-bench-synth-deps/g' "$synth/crate/Cargo.toml" \
    >"$deps/Cargo.toml"
  cp "$synth/crate/Cargo.lock" "$deps/"
  [[ -f $synth/crate/build.rs ]] && cp "$synth/crate/build.rs" "$deps/"
  : >"$deps/src/lib.rs"
  echo 'fn main() {}' >"$deps/src/main.rs"
  for profile in $synth_profiles; do
    flag=()
    [[ $profile == release ]] && flag=(--release)
    echo "    building the dependencies of its crate ($profile), untimed"
    start=$(now_ms)
    cargo_build "$deps" "${flag[@]}"
    note "synth_${profile}_deps_build_ms" "$(($(now_ms) - start))"
    # Timed BENCH_SYNTH_REPEAT times (the median counts): the first build, then rebuilds of
    # the crate alone (its sources touched; the dependencies stay built).
    times=()
    for _ in $(seq 1 "$synth_repeat"); do
      touch "$synth/crate/src/lib.rs" "$synth/crate/src/main.rs"
      start=$(now_ms)
      cargo_build "$synth/crate" "${flag[@]}"
      times+=($(($(now_ms) - start)))
    done
    note "synth_${profile}_build_ms" "${times[*]}"
    echo "    building the generated crate ($profile): ${times[*]} ms"
  done
fi

note loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 bench/report.py "$out" | tee "$out/summary.md"
echo
echo "Raw results: $out"
