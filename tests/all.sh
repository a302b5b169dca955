#!/usr/bin/env bash
# Every test of the project, as CI runs it (after its formatting and lint checks):
#   - the prerequisites (tests/prerequisites.sh: Debian's chromium for the browser test);
#   - cargo test: the generator, the generated proxy end to end, the example upstream, and the
#     check that the committed generated-example/ is what the generator writes;
#   - protobuf's conformance suite against the generated ProtoJSON (tests/conformance/run.sh);
#   - the OpenAPI documents against a validator and schemathesis (tests/openapi/check.sh);
#   - the Kubernetes manifests and the Dockerfile (docs/kubernetes/validate.sh).
# The last three install their tools under target/ on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

tests/prerequisites.sh
cargo test --workspace --locked
tests/conformance/run.sh
tests/openapi/check.sh
docs/kubernetes/validate.sh
