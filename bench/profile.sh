#!/usr/bin/env bash
# Profiles the bench proxy in one scenario (default: GET over HTTP/1.1, 32 connections) with the
# binaries bench/run.sh built (run it first), the proxy pinned to core 0 and the upstream and the
# load client to core 1, as in the benchmark.
#
#   bench/profile.sh              # perf: cpu-clock samples of the proxy, user and kernel
#   bench/profile.sh callgrind    # valgrind: exact instruction counts, user space only
#
# Settings: BENCH_PROFILE_SCENARIO (get), BENCH_PROFILE_MODE (http1 or h2c), BENCH_CONNECTIONS
# (32), BENCH_PROFILE_DURATION (seconds profiled: 15, or 30 under callgrind), BENCH_PROFILE_TOP
# (entries printed, 25). perf needs no hardware counters (cpu-clock is a software event).
# Output: target/bench-results/profile-<tool>-<time>/ (report.txt and the raw profile).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bench_name=bench/profile.sh
# shellcheck source=bench/lib.sh
source bench/lib.sh

tool=${1:-perf}
scenario=${BENCH_PROFILE_SCENARIO:-get}
mode=${BENCH_PROFILE_MODE:-http1}
connections=${BENCH_CONNECTIONS:-32}
top=${BENCH_PROFILE_TOP:-25}
case $tool in
perf) duration=${BENCH_PROFILE_DURATION:-15} ;;
callgrind) duration=${BENCH_PROFILE_DURATION:-30} ;;
*) die "usage: bench/profile.sh [perf|callgrind]" ;;
esac
[[ $duration =~ ^[0-9]+$ ]] && ((duration >= 1 && duration <= 600)) ||
  die "BENCH_PROFILE_DURATION must be 1..600 seconds"
[[ $mode == http1 || $mode == h2c ]] || die "BENCH_PROFILE_MODE must be http1 or h2c"

need taskset util-linux
need python3 python3
if [[ $tool == perf ]]; then
  need perf linux-perf
else
  need valgrind valgrind
fi

bin="$root/target/bench/release"
for program in bench-upstream bench-load protogate-bench-proxy; do
  [[ -x $bin/$program ]] || die "$bin/$program is missing: run bench/run.sh first"
done
out="$root/target/bench-results/profile-$tool-$(date +%Y%m%dT%H%M%S)"
mkdir -p "$out"

up_port=$(free_port)
px_port=$(free_port)
taskset -c 1 "$bin/bench-upstream" --listen "127.0.0.1:$up_port" 2>"$out/upstream.log" &
up_pid=$!
pids+=("$up_pid")
wait_for_line "$out/upstream.log" "listening" "$up_pid" 60

proxy=("$bin/protogate-bench-proxy" --listen "127.0.0.1:$px_port" --upstream "http://127.0.0.1:$up_port")
if [[ $tool == callgrind ]]; then
  # Instrumentation starts after the warm-up (callgrind_control -i on); the profile is written when
  # the proxy exits on SIGINT.
  RUST_LOG=info taskset -c 0 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$out/callgrind.out" "${proxy[@]}" 2>"$out/proxy.log" &
else
  RUST_LOG=info taskset -c 0 "${proxy[@]}" 2>"$out/proxy.log" &
fi
px_pid=$!
pids+=("$px_pid")
wait_for_line "$out/proxy.log" "ready to serve" "$px_pid" 60

warmup=3
[[ $tool == callgrind ]] && warmup=10
echo "==> $scenario over $mode, $connections connections: ${warmup}s warm-up, ${duration}s profiled ($tool)"
taskset -c 1 "$bin/bench-load" --mode "$mode" --scenario "$scenario" --target "127.0.0.1:$px_port" \
  --connections "$connections" --warmup "$warmup" --duration "$duration" --proxy-pid "$px_pid" \
  --upstream-pid "$up_pid" --clk-tck "$(getconf CLK_TCK)" >"$out/load.jsonl" 2>"$out/load.log" &
load_pid=$!
pids+=("$load_pid")
sleep "$warmup"
if [[ $tool == perf ]]; then
  perf record -e cpu-clock -F 1999 -p "$px_pid" -o "$out/perf.data" -- sleep "$duration" \
    2>"$out/perf-record.log"
else
  callgrind_control -i on "$px_pid" >/dev/null 2>&1
  sleep "$duration"
  callgrind_control -i off "$px_pid" >/dev/null 2>&1
fi
wait "$load_pid" || true
requests=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read())["requests"])' "$out/load.jsonl" 2>/dev/null || echo 0)
echo "    load: $(cat "$out/load.jsonl")"
if [[ $tool == callgrind ]]; then
  # valgrind writes the profile when the proxy exits (SIGINT: graceful shutdown).
  kill -INT "$px_pid" 2>/dev/null || true
  for _ in $(seq 1 600); do
    kill -0 "$px_pid" 2>/dev/null || break
    sleep 0.1
  done
  wait "$px_pid" 2>/dev/null || true
fi

# Sums callgrind_annotate's per-file:function lines by function (debug line tables split one
# function into one line per source file of its inlined code) and prints the top ones.
aggregate='
import re, sys
from collections import defaultdict
totals, grand = defaultdict(int), None
for line in sys.stdin:
    m = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$", line)
    if not m:
        continue
    count, rest = int(m.group(1).replace(",", "")), m.group(2).strip()
    if rest == "PROGRAM TOTALS":
        grand = count
        continue
    rest = re.sub(r"\s+\[[^\]]*\]$", "", rest)
    fm = re.match(r"^(\S+?):(?!:)(.*)$", rest)
    totals[fm.group(2) if fm else rest] += count
requests, top = int(sys.argv[1]), int(sys.argv[2])
grand = grand or sum(totals.values()) or 1
for function, count in sorted(totals.items(), key=lambda kv: -kv[1])[:top]:
    per = "%9s/req" % format(count // requests, ",") if requests else ""
    print("%6.2f%%  %s  %s" % (100 * count / grand, per, function))
'

{
  # `head` closes pipes early: a profiler's SIGPIPE is no failure here.
  set +o pipefail
  echo "# $tool profile of the bench proxy: $scenario over $mode, $connections connections, ${duration}s"
  echo "# requests in the profiled window: $requests"
  if [[ $tool == perf ]]; then
    report() { # perf report options; prints the non-empty, non-comment lines, trimmed
      perf report -i "$out/perf.data" --stdio --no-children "$@" 2>/dev/null |
        grep -v '^#' | grep -v '^$' |
        sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//'
    }
    perf report -i "$out/perf.data" --stdio 2>/dev/null | grep -m1 '^# Samples' || true
    echo "## by shared object"
    report --sort dso | head -10
    echo "## top symbols (self)"
    report --sort dso,symbol | head -"$top"
  else
    total=$(callgrind_annotate --auto=no "$out/callgrind.out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
    if [[ -n $total && $requests -gt 0 ]]; then
      echo "# instructions per request: $((total / requests))"
    fi
    echo "## top functions (self instructions; inlined code counted in the function it was inlined into)"
    callgrind_annotate --auto=no --threshold=100 "$out/callgrind.out" 2>/dev/null |
      python3 -c "$aggregate" "$requests" "$top"
  fi
} | tee "$out/report.txt"
echo "Profile: $out"
