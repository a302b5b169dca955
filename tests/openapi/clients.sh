#!/usr/bin/env bash
# Generated clients against the example proxy, outside cargo: two mainstream OpenAPI client
# generators, pinned, each given the document the proxy serves at /openapi.json, must
#
#   1. generate without a warning: openapi-python-client (PyPI) and openapi-typescript, whose
#      types openapi-fetch (npm) calls through;
#   2. call every operation of the example API through the running proxy (generated-example)
#      against the example upstream, with the answers checked: tests/openapi/clients/
#      python_driver.py and driver.ts (compiled by tsc, strict, so a call the document does not
#      describe fails the build). The custom SEARCH binding, which OpenAPI cannot name, is
#      listed as missing from both clients, not failed.
#
# Each client gets a fresh upstream, as the drivers create and delete what they check. Installs
# its tools (pinned: tests/openapi/clients/requirements.txt, package.json and package-lock.json)
# into target/openapi-clients on first use. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/../.."

CLIENTS=tests/openapi/clients
TOOLS=target/openapi-clients
VENV=$TOOLS/venv
NODE=$TOOLS/node
WORK=$TOOLS/work

passed=0
failed=0
step() { echo "== openapi clients: $*"; }
ok() {
    passed=$((passed + 1))
    echo "ok: $*"
}
fail() {
    failed=$((failed + 1))
    echo "FAILED: $*"
}

step "installing openapi-python-client into $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$CLIENTS/requirements.txt"

step "installing openapi-typescript, openapi-fetch and typescript into $NODE"
mkdir -p "$NODE"
# npm ci starts from scratch: only when the pinned set changed.
if ! cmp -s "$CLIENTS/package-lock.json" "$NODE/package-lock.json" || [ ! -d "$NODE/node_modules" ]; then
    cp "$CLIENTS/package.json" "$CLIENTS/package-lock.json" "$NODE/"
    (cd "$NODE" && npm ci --no-audit --no-fund --loglevel=error)
fi

step "building the example proxy and the example upstream"
cargo build --quiet --locked -p protogate-example -p protogate-example-upstream
BIN=${CARGO_TARGET_DIR:-target}/debug
rm -rf "$WORK"
mkdir -p "$WORK"

free_port() {
    "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pids=()
stop() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
trap stop EXIT

# Waits until `url` answers (any status), at most ten seconds.
wait_for() {
    for _ in $(seq 100); do
        if curl -s -o /dev/null "$1"; then
            return 0
        fi
        sleep 0.1
    done
    echo "no answer from $1" >&2
    return 1
}

# Starts a fresh example upstream and the example proxy before it; sets URL to the proxy's.
start() {
    stop
    local upstream proxy
    upstream=$(free_port)
    proxy=$(free_port)
    EXAMPLE_UPSTREAM_LISTEN="127.0.0.1:$upstream" "$BIN/example-upstream" >>"$WORK/upstream.log" 2>&1 &
    pids+=($!)
    "$BIN/protogate-example" --listen "127.0.0.1:$proxy" --upstream "http://127.0.0.1:$upstream" \
        >>"$WORK/proxy.log" 2>&1 &
    pids+=($!)
    URL="http://127.0.0.1:$proxy"
    wait_for "$URL/"
}

# Runs a generator, its output in `log`; a failure or a warning fails the step.
generate() {
    local name=$1 log=$2
    shift 2
    if ! "$@" >"$log" 2>&1; then
        cat "$log"
        fail "$name: generation failed"
        return 1
    fi
    if grep -qi 'warn' "$log"; then
        cat "$log"
        fail "$name: warnings while generating"
        return 1
    fi
    ok "$name: generated without a warning"
}

# Runs a driver, printing its lines; its closing `N passed, N failed` line is added to ours.
drive() {
    local name=$1
    shift
    local output
    output=$("$@" 2>&1) || true
    echo "$output"
    local line
    line=$(echo "$output" | grep -E '^[a-z]+ client: [0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -z "$line" ]; then
        fail "$name: the driver did not finish"
        return
    fi
    passed=$((passed + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
    failed=$((failed + $(echo "$line" | sed -E 's/.*, ([0-9]+) failed$/\1/')))
}

start
curl -sf "$URL/openapi.json" -o "$WORK/openapi.json"
ok "fetched the served document ($URL/openapi.json)"

step "openapi-python-client: generating and calling every operation"
if generate openapi-python-client "$WORK/python-generate.log" \
    "$VENV/bin/openapi-python-client" generate --path "$WORK/openapi.json" \
    --output-path "$WORK/python/library_client" --meta none --config "$CLIENTS/python-client.yaml"; then
    drive python "$VENV/bin/python" "$CLIENTS/python_driver.py" "$URL" "$WORK/openapi.json" "$WORK/python"
fi

step "openapi-typescript + openapi-fetch: generating, compiling and calling every operation"
if generate openapi-typescript "$WORK/typescript-generate.log" \
    "$NODE/node_modules/.bin/openapi-typescript" "$WORK/openapi.json" -o "$NODE/schema.d.ts"; then
    cp "$CLIENTS/driver.ts" "$CLIENTS/tsconfig.json" "$NODE/"
    rm -rf "$NODE/out"
    if (cd "$NODE" && node_modules/.bin/tsc -p tsconfig.json); then
        ok "tsc: the driver type-checks against the generated paths"
        start
        drive ts node "$NODE/out/driver.js" "$URL" "$WORK/openapi.json"
    else
        fail "tsc: the driver does not type-check against the generated paths"
    fi
fi

echo "openapi clients: $passed passed, $failed failed"
[ "$failed" = 0 ]
