#!/usr/bin/env bash
# Generates the example proxy from examples/proto, starts the example gRPC upstream and the
# proxy in front of it, makes a few REST calls, and leaves both running until Ctrl-C.
#
#   examples/demo.sh            # proxy on 127.0.0.1:8080, upstream on 127.0.0.1:50051
#   PROXY_PORT=9000 UPSTREAM_PORT=50052 examples/demo.sh
#
# When either server fails to start (a port in use, say), it prints that server's log and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

proxy_addr="127.0.0.1:${PROXY_PORT:-8080}"
# Where cargo puts the binaries (CARGO_TARGET_DIR moves them).
bin="${CARGO_TARGET_DIR:-target}/debug"
upstream_addr="127.0.0.1:${UPSTREAM_PORT:-50051}"

echo "==> generating the proxy crate into generated-example/"
cargo run --quiet -p protogate -- generate \
  --proto examples/proto/helloworld/v1/greeter.proto \
  --proto examples/proto/library/v1/library.proto \
  -I examples/proto \
  --out generated-example --crate-name protogate-example --runtime path=../runtime

echo "==> building the upstream and the proxy"
cargo build --quiet -p protogate-example-upstream -p protogate-example

logs=$(mktemp -d)
cleanup() {
  kill "${proxy_pid:-}" "${upstream_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until `name`'s log (started as `pid`) has `line`; when the process exits first, or takes
# longer than 30 s, prints its log and fails.
wait_for() {
  local name=$1 pid=$2 log=$3 line=$4
  for _ in $(seq 1 300); do
    if grep -q "$line" "$log" 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "error: the $name exited before it was ready; its log:" >&2
      cat "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "error: the $name was not ready after 30 s; its log:" >&2
  cat "$log" >&2
  exit 1
}

"$bin/example-upstream" --listen "$upstream_addr" 2>"$logs/upstream.log" &
upstream_pid=$!
wait_for upstream "$upstream_pid" "$logs/upstream.log" "listening on"
"$bin/protogate-example" --listen "$proxy_addr" --upstream "http://$upstream_addr" 2>"$logs/proxy.log" &
proxy_pid=$!
wait_for proxy "$proxy_pid" "$logs/proxy.log" "ready to serve"

run() {
  echo
  echo "\$ $(printf '%q ' "$@")"
  "$@"
  echo
}
run curl -s "http://$proxy_addr/v1/greeter/world"
run curl -s "http://$proxy_addr/v1/shelves/1/books/1"
run curl -s "http://$proxy_addr/v1/shelves/1/books?filter.author=le%20guin&pageSize=10"
run curl -s -X POST "http://$proxy_addr/v1/shelves" -H 'content-type: application/json' -d '{"theme":"Poetry"}'
run curl -s -i "http://$proxy_addr/v1/shelves/42"
# A server-streaming RPC: one NDJSON line per book, then Server-Sent Events for the same stream.
run curl -s -N "http://$proxy_addr/v1/shelves/1/books:stream"
run curl -s -N -H 'accept: text/event-stream' "http://$proxy_addr/v1/shelves/2/books:stream"

echo "The proxy is serving on http://$proxy_addr (upstream on $upstream_addr). Try:"
echo "  curl -s http://$proxy_addr/v1/greeter/you"
echo "  curl -s -N http://$proxy_addr/v1/shelves/1/books:stream"
echo "Press Ctrl-C to stop."
wait "$proxy_pid"
