#!/usr/bin/env bash
# Compares two or more builds of the bench proxy side by side, under the same machine conditions:
# one upstream, and for each round each build in turn runs every scenario, started afresh for
# each run, with the proxy pinned to core 0 and the upstream and the load client to core 1, as
# in the benchmark. Uses the upstream and the load client bench/run.sh built (run it first).
#
#   bench/ab.sh PROXY_BIN_A PROXY_BIN_B [...]
#
# e.g. with the proxy of bench/run.sh saved before a change and rebuilt after it:
#   cp target/bench/release/protogate-bench-proxy /tmp/proxy-before
#   ... the change, then BENCH_SKIP_SYNTH=1 BENCH_ROUNDS=1 BENCH_DURATION=1 bench/run.sh ...
#   bench/ab.sh /tmp/proxy-before target/bench/release/protogate-bench-proxy
#
# Settings (environment): BENCH_AB_SCENARIOS ("get echo"), BENCH_AB_MODE (http1 or h2c: http1),
# BENCH_AB_ROUNDS (3), BENCH_AB_DURATION seconds measured per run (4), BENCH_AB_WARMUP seconds
# per run (1), BENCH_CONNECTIONS (32), BENCH_STREAM_COUNT (100), BENCH_PROXY_CORE (0),
# BENCH_OTHER_CORE (1). Prints, per build and scenario, the medians over the rounds and each
# build's req/s and proxy CPU per request relative to the first build's.
# Output: target/bench-results/ab-<time>/ (results.jsonl, logs, summary.md).
set -euo pipefail
# The builds are named relative to the caller's directory.
binaries=()
for arg in "$@"; do
  binaries+=("$(readlink -f -- "$arg" 2>/dev/null || echo "$arg")")
done
cd "$(dirname "$0")/.."
root=$PWD
bench_name=bench/ab.sh
# shellcheck source=bench/lib.sh
source bench/lib.sh

scenarios=${BENCH_AB_SCENARIOS:-get echo}
mode=${BENCH_AB_MODE:-http1}
rounds=${BENCH_AB_ROUNDS:-3}
duration=${BENCH_AB_DURATION:-4}
warmup=${BENCH_AB_WARMUP:-1}
connections=${BENCH_CONNECTIONS:-32}
stream_count=${BENCH_STREAM_COUNT:-100}
proxy_core=${BENCH_PROXY_CORE:-0}
other_core=${BENCH_OTHER_CORE:-1}

((${#binaries[@]} >= 2)) || die "usage: bench/ab.sh PROXY_BIN_A PROXY_BIN_B [...]"
for binary in "${binaries[@]}"; do
  [[ -f $binary && -x $binary ]] || die "$binary is not an executable file"
done
[[ $mode == http1 || $mode == h2c ]] || die "BENCH_AB_MODE must be http1 or h2c"
[[ -n ${scenarios// /} ]] || die "BENCH_AB_SCENARIOS is empty"
for scenario in $scenarios; do
  [[ $scenario == get || $scenario == echo || $scenario == stream ]] ||
    die "BENCH_AB_SCENARIOS: unknown scenario '$scenario' (get, echo, stream)"
done
is_uint "$rounds" && ((rounds >= 1 && rounds <= 50)) || die "BENCH_AB_ROUNDS must be 1..50"
is_uint "$connections" && ((connections >= 1 && connections <= 1000)) ||
  die "BENCH_CONNECTIONS must be 1..1000"
[[ $duration =~ ^[0-9]+(\.[0-9]+)?$ && $warmup =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
  die "BENCH_AB_DURATION and BENCH_AB_WARMUP are seconds"

need taskset util-linux
need getconf libc-bin
need python3 python3

bin="$root/target/bench/release"
for program in bench-upstream bench-load; do
  [[ -x $bin/$program ]] || die "$bin/$program is missing: run bench/run.sh first"
done
out="$root/target/bench-results/ab-$(date +%Y%m%dT%H%M%S)"
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
clk_tck=$(getconf CLK_TCK)

# Stops one process of pids (SIGTERM: the proxy finishes what is in flight, which is nothing once
# the load client has exited; SIGKILL after 10 s) and forgets it.
stop() { # PID
  local pid=$1 other _ rest=()
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for other in "${pids[@]}"; do
    [[ $other == "$pid" ]] || rest+=("$other")
  done
  pids=("${rest[@]}")
}

up_port=$(free_port)
echo "==> starting the upstream on core $other_core"
taskset -c "$other_core" "$bin/bench-upstream" --listen "127.0.0.1:$up_port" \
  2>"$out/upstream.log" &
up_pid=$!
pids+=("$up_pid")
wait_for_line "$out/upstream.log" "listening" "$up_pid"

labels=(A B C D E F G H I J K L M N O P Q R S T U V W X Y Z)
((${#binaries[@]} <= ${#labels[@]})) || die "at most ${#labels[@]} builds"
for i in "${!binaries[@]}"; do
  echo "    ${labels[i]}: ${binaries[i]}"
done
echo "==> $rounds rounds x {${labels[*]:0:${#binaries[@]}}} x {$scenarios} over $mode: ${warmup}s warm-up + ${duration}s each, proxy on core $proxy_core"
for round in $(seq 1 "$rounds"); do
  for i in "${!binaries[@]}"; do
    for scenario in $scenarios; do
      kill -0 "$up_pid" 2>/dev/null || die "the upstream died: see $out/upstream.log"
      px_port=$(free_port)
      for _ in 1 2 3 4 5; do
        [[ $px_port != "$up_port" ]] && break
        px_port=$(free_port)
      done
      # The run's log, appended to the build's log (proxy-A.log, ...) when the proxy has stopped.
      log="$out/proxy.log"
      # RUST_LOG=info is the binary's default; set so that the caller's environment cannot change it.
      RUST_LOG=info taskset -c "$proxy_core" "${binaries[i]}" --listen "127.0.0.1:$px_port" \
        --upstream "http://127.0.0.1:$up_port" 2>"$log" &
      px_pid=$!
      pids+=("$px_pid")
      wait_for_line "$log" "ready to serve" "$px_pid"
      line=$(taskset -c "$other_core" "$bin/bench-load" --mode "$mode" --scenario "$scenario" \
        --target "127.0.0.1:$px_port" --connections "$connections" --duration "$duration" \
        --warmup "$warmup" --stream-count "$stream_count" --proxy-pid "$px_pid" \
        --upstream-pid "$up_pid" --clk-tck "$clk_tck" --round "$round" \
        2>>"$out/load.log") || echo "    (run failed: see $out/load.log)"
      kill -0 "$px_pid" 2>/dev/null || die "proxy ${labels[i]} died: see $log"
      hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$px_pid/status")
      stop "$px_pid"
      { echo "--- round $round, $scenario" && cat "$log"; } >>"$out/proxy-${labels[i]}.log"
      rm -f "$log"
      if [[ -n $line ]]; then
        python3 -c '
import json, sys
r = json.loads(sys.argv[1])
r.update(build=sys.argv[2], binary=sys.argv[3], proxy_vmhwm_kib=int(sys.argv[4]))
with open(sys.argv[5], "a") as results:
    results.write(json.dumps(r) + "\n")
print("    round %(round)s %(build)s %(scenario)-6s %(rps)10.0f req/s  p50 %(p50_us)6d us  p99 %(p99_us)6d us  errors %(errors)d  proxy %(proxy_cpu_us_per_req)s us/req  upstream %(upstream_cpu_us_per_req)s us/req" % r)
' "$line" "${labels[i]}" "${binaries[i]}" "$hwm" "$results"
      fi
    done
  done
done
cleanup

# The table: medians over the rounds per build and scenario, then each build against the first.
# shellcheck disable=SC2016 # Python, not shell
summary='
import json, statistics, sys
results, mode, load_start, load_end = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
builds = sys.argv[5:]  # label=path, in order
runs = [json.loads(line) for line in open(results) if line.strip()]
scenarios = []
for r in runs:
    if r["scenario"] not in scenarios:
        scenarios.append(r["scenario"])

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def fmt(value, spec):
    return "–" if value is None else format(value, spec)

figures = {}
for build in builds:
    label = build.split("=", 1)[0]
    for scenario in scenarios:
        rs = [r for r in runs if r["build"] == label and r["scenario"] == scenario]
        ratios = [r["proxy_cpu_us_per_req"] / r["upstream_cpu_us_per_req"]
                  for r in rs if r["proxy_cpu_us_per_req"] and r["upstream_cpu_us_per_req"]]
        hwm = [r["proxy_vmhwm_kib"] for r in rs if r.get("proxy_vmhwm_kib")]
        figures[label, scenario] = {
            "rps": median([r["rps"] for r in rs]),
            "p50": median([r["p50_us"] for r in rs]),
            "p99": median([r["p99_us"] for r in rs]),
            "proxy_cpu": median([r["proxy_cpu_us_per_req"] for r in rs]),
            "upstream_cpu": median([r["upstream_cpu_us_per_req"] for r in rs]),
            "cpu_ratio": median(ratios),
            "hwm_mib": max(hwm) / 1024 if hwm else None,
            "errors": sum(r["errors"] for r in rs),
            "rounds": [r["rps"] for r in sorted(rs, key=lambda r: r["round"])],
        }

print("## Builds side by side: %s, %d connections, medians of %d rounds"
      % (mode, runs[0]["connections"] if runs else 0,
         max((r["round"] for r in runs), default=0)))
print()
for build in builds:
    label, path = build.split("=", 1)
    print("- %s: `%s`" % (label, path))
print("- load average: %s at the start, %s at the end" % (load_start, load_end))
print()
print("| build | scenario | req/s | p50 µs | p99 µs | proxy CPU µs/req | upstream CPU µs/req "
      "| proxy ÷ upstream CPU | proxy VmHWM MiB | errors | req/s per round |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for scenario in scenarios:
    for build in builds:
        label = build.split("=", 1)[0]
        f = figures[label, scenario]
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s |" % (
            label, scenario, fmt(f["rps"], ",.0f"), fmt(f["p50"], ",.0f"),
            fmt(f["p99"], ",.0f"), fmt(f["proxy_cpu"], ".1f"), fmt(f["upstream_cpu"], ".1f"),
            fmt(f["cpu_ratio"], ".2f"), fmt(f["hwm_mib"], ".1f"), f["errors"],
            " ".join(format(v, ",.0f") for v in f["rounds"]) or "–"))
print()
first = builds[0].split("=", 1)[0]
print("### Relative to %s (ratio of the medians)" % first)
print()
print("| scenario | build | req/s ÷ %s | proxy CPU µs/req ÷ %s |" % (first, first))
print("|---|---|---:|---:|")
for scenario in scenarios:
    base = figures[first, scenario]
    for build in builds[1:]:
        label = build.split("=", 1)[0]
        f = figures[label, scenario]
        def ratio(key):
            a, b = f[key], base[key]
            return "–" if a is None or not b else "%.3f" % (a / b)
        print("| %s | %s | %s | %s |" % (scenario, label, ratio("rps"), ratio("proxy_cpu")))
'
builds=()
for i in "${!binaries[@]}"; do
  builds+=("${labels[i]}=${binaries[i]}")
done
echo
python3 -c "$summary" "$results" "$mode" "$loadavg_start" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "${builds[@]}" | tee "$out/summary.md"
echo
echo "Raw results: $out"
