#!/usr/bin/env bash
# protogate's soak test (issue 18): builds the example proxy and the example upstream in
# release, starts them on free loopback ports, and runs `bench-load soak` against the proxy:
# SOAK_DURATION seconds of mixed traffic (unary GET/POST/PATCH/PUT/DELETE, server streams as
# NDJSON, Server-Sent Events, over h2c and WebSocket, native gRPC, gRPC-Web and Connect calls,
# requests that must fail, clients that leave mid-stream) while the proxy's RSS and open fds are
# sampled. It prints the requests and errors of each kind and the slope of RSS and fds over the
# second half of the run, and exits 1 when a check fails. Method: bench/README.md.
#
#   bench/soak.sh                     # ten minutes
#   SOAK_DURATION=60 bench/soak.sh    # the short form: one minute
#
# Settings (environment): SOAK_DURATION seconds of load (600), SOAK_PACE_MS pause of each client
# between two operations (10), SOAK_STREAM_BOOKS messages per stream (100), SOAK_MAX_RSS_SLOPE
# KiB/min (64), SOAK_MAX_FD_SLOPE fds/min (1), SOAK_WORKER_THREADS the proxy's (its default: one
# per CPU), SOAK_CLIENTS which clients run (all; e.g. "gets,disconnects": `bench-load soak --help`).
#
# Loopback only. Every loop is bounded in count and time; the servers it starts are stopped on
# exit, also on Ctrl-C. Results go to target/soak-results/<time>/ (report.txt, summary.json,
# samples.csv, the servers' logs).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bench_name=bench/soak.sh
# shellcheck source=bench/lib.sh
source bench/lib.sh

duration=${SOAK_DURATION:-600}
pace_ms=${SOAK_PACE_MS:-10}
stream_books=${SOAK_STREAM_BOOKS:-100}
max_rss_slope=${SOAK_MAX_RSS_SLOPE:-64}
max_fd_slope=${SOAK_MAX_FD_SLOPE:-1}
worker_threads=${SOAK_WORKER_THREADS:-}
clients=${SOAK_CLIENTS:-}

is_uint "$duration" && ((duration >= 10 && duration <= 86400)) ||
  die "SOAK_DURATION must be 10..86400 seconds"
is_uint "$pace_ms" && ((pace_ms <= 10000)) || die "SOAK_PACE_MS must be 0..10000"
is_uint "$stream_books" && ((stream_books >= 1 && stream_books <= 10000)) ||
  die "SOAK_STREAM_BOOKS must be 1..10000"
[[ $max_rss_slope =~ ^[0-9]+(\.[0-9]+)?$ && $max_fd_slope =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
  die "SOAK_MAX_RSS_SLOPE and SOAK_MAX_FD_SLOPE are numbers"
[[ -z $worker_threads ]] || is_uint "$worker_threads" || die "SOAK_WORKER_THREADS is a number"
[[ $clients =~ ^[a-z0-9,]*$ ]] || die "SOAK_CLIENTS is a comma-separated list of client names"

need python3 python3
command -v cargo >/dev/null 2>&1 || die "cargo is missing: install a Rust toolchain"

out="$root/target/soak-results/$(date +%Y%m%dT%H%M%S)"
mkdir -p "$out"

echo "==> building the example proxy, the example upstream and the load client (release)"
cargo build --quiet --release --locked \
  -p protogate-example -p protogate-example-upstream -p protogate-bench-load
bin="${CARGO_TARGET_DIR:-$root/target}/release"

upstream_port=$(free_port)
proxy_port=$(free_port)
[[ $upstream_port != "$proxy_port" ]] || proxy_port=$(free_port)

"$bin/example-upstream" --listen "127.0.0.1:$upstream_port" 2>"$out/upstream.log" &
upstream_pid=$!
pids+=("$upstream_pid")
wait_for_line "$out/upstream.log" "listening on" "$upstream_pid" 30

proxy_args=(--listen "127.0.0.1:$proxy_port" --upstream "http://127.0.0.1:$upstream_port")
[[ -z $worker_threads ]] || proxy_args+=(--worker-threads "$worker_threads")
"$bin/protogate-example" "${proxy_args[@]}" 2>"$out/proxy.log" &
proxy_pid=$!
pids+=("$proxy_pid")
wait_for_line "$out/proxy.log" "ready to serve" "$proxy_pid" 30

{
  echo "started $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "machine: $(nproc) CPUs, load average at start $(cut -d' ' -f1-3 /proc/loadavg), nice $(nice)"
  echo "proxy pid $proxy_pid on 127.0.0.1:$proxy_port, upstream pid $upstream_pid on 127.0.0.1:$upstream_port"
} | tee "$out/report.txt"

soak_args=()
[[ -z $clients ]] || soak_args+=(--clients "$clients")
status=0
"$bin/bench-load" soak "${soak_args[@]}" \
  --target "127.0.0.1:$proxy_port" \
  --proxy-pid "$proxy_pid" \
  --upstream-pid "$upstream_pid" \
  --duration "$duration" \
  --pace-ms "$pace_ms" \
  --stream-books "$stream_books" \
  --max-rss-slope "$max_rss_slope" \
  --max-fd-slope "$max_fd_slope" \
  --samples-out "$out/samples.csv" \
  --summary-out "$out/summary.json" | tee -a "$out/report.txt" || status=$?

echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/report.txt"
if ! kill -0 "$proxy_pid" 2>/dev/null; then
  echo "$bench_name: the proxy exited; the end of its log:" >&2
  tail -n 20 "$out/proxy.log" >&2
  status=1
fi
echo "results: ${out#"$root"/}/"
exit "$status"
