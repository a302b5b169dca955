#!/usr/bin/env bash
# Generates the example proxy from examples/proto, starts the example gRPC upstream and the
# proxy in front of it, makes a few REST calls, and leaves both running until Ctrl-C.
#
#   examples/demo.sh            # proxy on 127.0.0.1:8080, upstream on 127.0.0.1:50051
#   PROXY_PORT=9000 examples/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

proxy_addr="127.0.0.1:${PROXY_PORT:-8080}"
upstream_addr="127.0.0.1:${UPSTREAM_PORT:-50051}"

echo "==> generating the proxy crate into generated-example/"
cargo run --quiet -p protogate -- generate \
  --proto examples/proto/helloworld/v1/greeter.proto \
  --proto examples/proto/library/v1/library.proto \
  -I examples/proto \
  --out generated-example --crate-name protogate-example

echo "==> building the upstream and the proxy"
cargo build --quiet -p protogate-example-upstream -p protogate-example

logs=$(mktemp -d)
cleanup() {
  kill "${proxy_pid:-}" "${upstream_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

target/debug/example-upstream --listen "$upstream_addr" 2>"$logs/upstream.log" &
upstream_pid=$!
target/debug/protogate-example --listen "$proxy_addr" --upstream "http://$upstream_addr" 2>"$logs/proxy.log" &
proxy_pid=$!

for _ in $(seq 1 100); do
  if grep -q "ready to serve" "$logs/proxy.log" 2>/dev/null; then break; fi
  if ! kill -0 "$proxy_pid" 2>/dev/null; then cat "$logs/proxy.log"; exit 1; fi
  sleep 0.1
done

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

echo "The proxy is serving on http://$proxy_addr (logs in $logs). Try:"
echo "  curl -s http://$proxy_addr/v1/greeter/you"
echo "  curl -s -N http://$proxy_addr/v1/shelves/1/books:stream"
echo "Press Ctrl-C to stop."
wait "$proxy_pid"
