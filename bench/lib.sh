# shellcheck shell=bash
# Helpers shared by bench/run.sh, bench/profile.sh and bench/ab.sh; sourced, not run. The script
# that sources it runs under `set -euo pipefail` and sets bench_name, the prefix of its messages
# (e.g. bench/run.sh). Sourcing it also installs the exit trap that stops the processes in pids.

# shellcheck disable=SC2154 # bench_name is set by the script that sources this file
die() {
  echo "$bench_name: $*" >&2
  exit 1
}
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

apt_updated=0
need() { # need COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || die "$1 is missing (Debian package $2)"
  echo "==> installing $2 (for $1)"
  if ((apt_updated == 0)); then
    apt-get update -qq >/dev/null || true
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null || die "cannot install $2"
}

# The servers and clients started in the background: stopped on exit, also on Ctrl-C.
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for_line() { # LOG PATTERN PID [SECONDS (10)]
  local _ seconds=${4:-10}
  for _ in $(seq 1 $((seconds * 20))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { cat "$1" >&2; die "process $3 exited before '$2'"; }
    sleep 0.05
  done
  cat "$1" >&2
  die "no '$2' after $seconds s"
}
