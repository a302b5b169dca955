#!/usr/bin/env bash
# What each client protocol costs the proxy: the same unary calls (the `get` and `echo`
# scenarios) as REST/JSON, Connect (unary JSON), gRPC-Web (binary) and native gRPC through the
# proxy (passed through), all over one HTTP/2 connection, and gRPC straight to the upstream as
# the reference. One upstream and one proxy, pinned as in the benchmark (proxy on core 0, the
# upstream and the load client on core 1). Uses the proxy, upstream and load client that
# bench/run.sh built (run it first; `BENCH_SKIP_SYNTH=1 BENCH_ROUNDS=1 BENCH_DURATION=1
# bench/run.sh` is enough).
#
#   bench/protocols.sh
#
# Settings (environment): BENCH_PROTOCOL_ROUNDS (3), BENCH_PROTOCOL_DURATION seconds measured per
# run (4), BENCH_PROTOCOL_WARMUP seconds per run (1), BENCH_CONNECTIONS (32), BENCH_PROXY_CORE
# (0), BENCH_OTHER_CORE (1). Prints per protocol and scenario the medians over the rounds, and
# the proxy's CPU per request relative to REST's.
# Output: target/bench-results/protocols-<time>/ (results.jsonl, logs, summary.md).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bench_name=bench/protocols.sh
# shellcheck source=bench/lib.sh
source bench/lib.sh

rounds=${BENCH_PROTOCOL_ROUNDS:-3}
duration=${BENCH_PROTOCOL_DURATION:-4}
warmup=${BENCH_PROTOCOL_WARMUP:-1}
connections=${BENCH_CONNECTIONS:-32}
proxy_core=${BENCH_PROXY_CORE:-0}
other_core=${BENCH_OTHER_CORE:-1}
is_uint "$rounds" && ((rounds >= 1 && rounds <= 50)) || die "BENCH_PROTOCOL_ROUNDS must be 1..50"
is_uint "$connections" && ((connections >= 1 && connections <= 1000)) ||
  die "BENCH_CONNECTIONS must be 1..1000"
[[ $duration =~ ^[0-9]+(\.[0-9]+)?$ && $warmup =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
  die "BENCH_PROTOCOL_DURATION and BENCH_PROTOCOL_WARMUP are seconds"

need taskset util-linux
need getconf libc-bin
need python3 python3

bin="$root/target/bench/release"
for program in bench-upstream bench-load protogate-bench-proxy; do
  [[ -x $bin/$program ]] || die "$bin/$program is missing: run bench/run.sh first"
done
out="$root/target/bench-results/protocols-$(date +%Y%m%dT%H%M%S)"
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
clk_tck=$(getconf CLK_TCK)

up_port=$(free_port)
taskset -c "$other_core" "$bin/bench-upstream" --listen "127.0.0.1:$up_port" \
  2>"$out/upstream.log" &
up_pid=$!
pids+=("$up_pid")
wait_for_line "$out/upstream.log" "listening" "$up_pid"
px_port=$(free_port)
RUST_LOG=info taskset -c "$proxy_core" "$bin/protogate-bench-proxy" \
  --listen "127.0.0.1:$px_port" --upstream "http://127.0.0.1:$up_port" 2>"$out/proxy.log" &
px_pid=$!
pids+=("$px_pid")
wait_for_line "$out/proxy.log" "ready to serve" "$px_pid"

# name mode rpc target
variants=(
  "rest h2c rest $px_port"
  "connect h2c connect $px_port"
  "grpc-web h2c grpc-web $px_port"
  "grpc-proxied grpc rest $px_port"
  "grpc-direct grpc rest $up_port"
)
echo "==> $rounds rounds x {rest connect grpc-web grpc-proxied grpc-direct} x {get echo}: ${warmup}s warm-up + ${duration}s each"
for round in $(seq 1 "$rounds"); do
  for variant in "${variants[@]}"; do
    read -r name mode rpc port <<<"$variant"
    for scenario in get echo; do
      kill -0 "$px_pid" 2>/dev/null || die "the proxy died: see $out/proxy.log"
      proxy_pid_args=(--proxy-pid "$px_pid")
      [[ $port == "$up_port" ]] && proxy_pid_args=()
      line=$(taskset -c "$other_core" "$bin/bench-load" --mode "$mode" --rpc "$rpc" \
        --scenario "$scenario" --target "127.0.0.1:$port" --connections "$connections" \
        --duration "$duration" --warmup "$warmup" "${proxy_pid_args[@]}" \
        --upstream-pid "$up_pid" --clk-tck "$clk_tck" --round "$round" \
        2>>"$out/load.log") || echo "    (run failed: see $out/load.log)"
      if [[ -n $line ]]; then
        python3 -c '
import json, sys
r = json.loads(sys.argv[1])
r["protocol"] = sys.argv[2]
with open(sys.argv[3], "a") as results:
    results.write(json.dumps(r) + "\n")
print("    round %(round)s %(protocol)-12s %(scenario)-5s %(rps)9.0f req/s  p50 %(p50_us)5d us  p99 %(p99_us)6d us  errors %(errors)d  proxy %(proxy_cpu_us_per_req)s us/req  upstream %(upstream_cpu_us_per_req)s us/req" % r)
' "$line" "$name" "$results"
      fi
    done
  done
done
cleanup

# shellcheck disable=SC2016 # Python, not shell
summary='
import json, statistics, sys
results, load_start, load_end = sys.argv[1:4]
runs = [json.loads(line) for line in open(results) if line.strip()]
protocols = []
for r in runs:
    if r["protocol"] not in protocols:
        protocols.append(r["protocol"])

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def fmt(value, spec):
    return "–" if value is None else format(value, spec)

print("## What each protocol costs the proxy: h2c (gRPC: one channel), %d streams, medians of %d rounds"
      % (runs[0]["connections"] if runs else 0, max((r["round"] for r in runs), default=0)))
print()
print("- load average: %s at the start, %s at the end" % (load_start, load_end))
print()
print("| scenario | protocol | req/s | p50 µs | p99 µs | proxy CPU µs/req | ÷ REST | upstream CPU µs/req | errors |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for scenario in ("get", "echo"):
    rest = median([r["proxy_cpu_us_per_req"] for r in runs
                   if r["protocol"] == "rest" and r["scenario"] == scenario])
    for protocol in protocols:
        rs = [r for r in runs if r["protocol"] == protocol and r["scenario"] == scenario]
        if not rs:
            continue
        cpu = median([r["proxy_cpu_us_per_req"] for r in rs])
        ratio = cpu / rest if cpu is not None and rest else None
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %d |" % (
            scenario, protocol,
            fmt(median([r["rps"] for r in rs]), ".0f"),
            fmt(median([r["p50_us"] for r in rs]), ".0f"),
            fmt(median([r["p99_us"] for r in rs]), ".0f"),
            fmt(cpu, ".1f"), fmt(ratio, ".2f"),
            fmt(median([r["upstream_cpu_us_per_req"] for r in rs]), ".1f"),
            sum(r["errors"] for r in rs)))
'
python3 -c "$summary" "$results" "$loadavg_start" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  | tee "$out/summary.md"
echo "==> $out"
