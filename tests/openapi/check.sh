#!/usr/bin/env bash
# Checks the OpenAPI documents protogate generates with real tools, outside cargo:
#
#   1. openapi-spec-validator on the committed generated-example/openapi.json (OpenAPI 3.1), on
#      the documents of the OpenAPI test fixture and of the echo test API, on the example's with
#      whole captures (`protogate openapi --whole-captures`), and on the example's, the
#      fixture's and the echo API's in OpenAPI 3.0.3 (`--openapi-version 3.0`);
#   2. the example proxy (generated-example) over the example upstream, both started here on
#      loopback ports: it serves the committed document at /openapi.json, `--openapi-path` moves
#      it and `--no-openapi` turns it off;
#   3. schemathesis, a property-based API fuzzer, against that proxy from the served document
#      (its captures spelled out, so the multi-segment routes are reached: schemathesis, like
#      client generators, never sends a `/` inside a path parameter): no 5xx, and every
#      response matches its declared status, content type and schema. Bounded: a fixed seed, a
#      few examples per operation, a time limit.
#
# Installs its Python tools (pinned) into target/openapi-venv. Run from anywhere; CI runs it
# after the cargo tests (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=target/openapi-venv
WORK=target/openapi-check
TOOLS=("openapi-spec-validator==0.9.0" "schemathesis==4.32.5")
# Per schemathesis run: examples per operation and a hard time limit (seconds).
MAX_EXAMPLES=${OPENAPI_CHECK_MAX_EXAMPLES:-25}
TIME_LIMIT=${OPENAPI_CHECK_TIME_LIMIT:-300}

passed=0
failed=0
step() { echo "== openapi: $*"; }
ok() {
    passed=$((passed + 1))
    echo "ok: $*"
}
fail() {
    failed=$((failed + 1))
    echo "FAILED: $*"
}

step "installing ${TOOLS[*]} into $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${TOOLS[@]}"

step "building protogate, the example proxy and the example upstream"
cargo build --quiet --locked -p protogate -p protogate-example -p protogate-example-upstream
BIN=${CARGO_TARGET_DIR:-target}/debug
rm -rf "$WORK"
mkdir -p "$WORK"

EXAMPLE_PROTOS=(--proto examples/proto/helloworld/v1/greeter.proto
    --proto examples/proto/library/v1/library.proto -I examples/proto)
"$BIN/protogate" openapi "${EXAMPLE_PROTOS[@]}" --title protogate-example --whole-captures \
    --out "$WORK/example-whole.json" 2>/dev/null
"$BIN/protogate" openapi --proto codegen/tests/fixtures/openapi/openapi.proto \
    -I codegen/tests/fixtures/openapi --out "$WORK/fixture.json" 2>/dev/null
"$BIN/protogate" openapi --proto tests/proto/echo/v1/echo.proto -I tests/proto \
    --out "$WORK/echo.json" 2>/dev/null
"$BIN/protogate" openapi "${EXAMPLE_PROTOS[@]}" --title protogate-example --openapi-version 3.0 \
    --out "$WORK/example-3.0.json" 2>/dev/null
"$BIN/protogate" openapi --proto codegen/tests/fixtures/openapi/openapi.proto --openapi-version 3.0 \
    -I codegen/tests/fixtures/openapi --out "$WORK/fixture-3.0.json" 2>/dev/null
"$BIN/protogate" openapi --proto tests/proto/echo/v1/echo.proto -I tests/proto --openapi-version 3.0 \
    --out "$WORK/echo-3.0.json" 2>/dev/null

step "validating with openapi-spec-validator"
for doc in generated-example/openapi.json "$WORK/example-whole.json" "$WORK/fixture.json" \
    "$WORK/echo.json" "$WORK/example-3.0.json" "$WORK/fixture-3.0.json" "$WORK/echo-3.0.json"; do
    version=$("$VENV/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["openapi"])' "$doc")
    if "$VENV/bin/openapi-spec-validator" "$doc"; then
        echo
        ok "valid OpenAPI $version: $doc"
    else
        echo
        fail "invalid OpenAPI: $doc"
    fi
done

free_port() {
    "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

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

# Starts the example proxy on a free port with extra flags; sets URL to its base URL.
start_proxy() {
    local port
    port=$(free_port)
    "$BIN/protogate-example" --listen "127.0.0.1:$port" --upstream "http://127.0.0.1:$UPSTREAM_PORT" \
        "$@" >>"$WORK/proxy.log" 2>&1 &
    pids+=($!)
    URL="http://127.0.0.1:$port"
    wait_for "$URL/"
}

status_of() { curl -s -o /dev/null -w '%{http_code}' "$1"; }

step "starting the example upstream and proxy"
UPSTREAM_PORT=$(free_port)
EXAMPLE_UPSTREAM_LISTEN="127.0.0.1:$UPSTREAM_PORT" "$BIN/example-upstream" >"$WORK/upstream.log" 2>&1 &
pids+=($!)
start_proxy
PROXY=$URL
start_proxy --openapi-path /docs/openapi.json
MOVED=$URL
start_proxy --no-openapi
OFF=$URL

if curl -s "$PROXY/openapi.json" | cmp -s - generated-example/openapi.json; then
    ok "the proxy serves generated-example/openapi.json at /openapi.json"
else
    fail "the proxy does not serve generated-example/openapi.json at /openapi.json"
fi
if [ "$(status_of "$MOVED/docs/openapi.json")" = 200 ] && [ "$(status_of "$MOVED/openapi.json")" = 404 ]; then
    ok "--openapi-path /docs/openapi.json moves it"
else
    fail "--openapi-path does not move the document"
fi
if [ "$(status_of "$OFF/openapi.json")" = 404 ]; then
    ok "--no-openapi turns it off"
else
    fail "--no-openapi does not turn the document off"
fi

# Runs schemathesis with the given schema location and extra arguments.
fuzz() {
    local name=$1
    shift
    step "schemathesis: $name"
    if timeout "$TIME_LIMIT" "$VENV/bin/schemathesis" run "$@" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --max-examples "$MAX_EXAMPLES" --seed 20261121 --workers 1 --request-timeout 10 \
        --suppress-health-check filter_too_much --no-color >"$WORK/schemathesis-$name.log" 2>&1; then
        tail -n 12 "$WORK/schemathesis-$name.log"
        ok "schemathesis ($name): no 5xx, responses match the document"
    else
        cat "$WORK/schemathesis-$name.log"
        fail "schemathesis ($name); the log is $WORK/schemathesis-$name.log"
    fi
}

# schemathesis cannot read NDJSON or Server-Sent Events: check the streams here, every line of
# every GET stream in the document against the schema the document gives it.
step "streams: every NDJSON line and SSE event matches the document"
if "$VENV/bin/python" - "$PROXY" generated-example/openapi.json <<'PY'; then
import json
import sys
import urllib.request

import jsonschema

base, path = sys.argv[1], sys.argv[2]
doc = json.load(open(path))


def validator(pointer):
    # The document is the root, so `#/components/...` references resolve.
    return jsonschema.Draft202012Validator({**doc, "$ref": pointer})


def escape(key):
    return key.replace("~", "~0").replace("/", "~1")


def fill(key, op):
    for p in op.get("parameters", []):
        if p["in"] == "path":
            pattern = p["schema"].get("pattern", "^[^/]+$")
            value = pattern.strip("^$").replace("[^/]+(/[^/]+)*", "a/b").replace("[^/]+", "1")
            key = key.replace("{" + p["name"] + "}", value.replace("\\", ""))
    return key


lines = events = 0
for key, item in doc["paths"].items():
    op = item.get("get")
    content = (op or {}).get("responses", {}).get("200", {}).get("content", {})
    if "application/x-ndjson" not in content:
        continue
    ndjson = validator(
        "#/paths/" + escape(key) + "/get/responses/200/content/application~1x-ndjson/schema"
    )
    message = validator(
        "#/paths/" + escape(key)
        + "/get/responses/200/content/application~1x-ndjson/schema/oneOf/0/properties/result"
    )
    status = validator("#/components/schemas/google.rpc.Status")
    url = base + fill(key, op)
    with urllib.request.urlopen(url) as reply:
        assert reply.headers["content-type"].startswith("application/x-ndjson"), reply.headers
        for line in reply.read().decode().splitlines():
            ndjson.validate(json.loads(line))
            lines += 1
    request = urllib.request.Request(url, headers={"Accept": "text/event-stream"})
    with urllib.request.urlopen(request) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream"), reply.headers
        event = "message"
        for line in reply.read().decode().splitlines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data = json.loads(line.split(":", 1)[1])
                (status if event == "error" else message).validate(data)
                events += 1
            elif not line:
                event = "message"
    print(f"GET {key}: {url}")
if lines == 0 or events == 0:
    sys.exit(f"no stream lines checked ({lines} NDJSON lines, {events} events)")
print(f"{lines} NDJSON lines and {events} events match the document")
PY
    ok "streams match the document"
else
    fail "a stream does not match the document"
fi

fuzz served "$PROXY/openapi.json"

echo "openapi checks: $passed passed, $failed failed"
[ "$failed" = 0 ]
