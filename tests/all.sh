#!/usr/bin/env bash
# Every test of the project, as CI runs it (after its formatting and lint checks):
#   - the prerequisites (tests/prerequisites.sh: Debian's chromium for the browser tests);
#   - the supply-chain policy of deny.toml: licenses, duplicate versions, sources
#     (tests/supply_chain.sh, cargo-deny);
#   - each runtime feature alone builds and lints clean (tests/runtime_features.sh);
#   - cargo test: the generator, the generated proxy end to end, the example upstream, and the
#     check that the committed generated-example/ is what the generator writes;
#   - the real-API sweep's CI sample (tests/realworld/sweep.sh --ci);
#   - protobuf's conformance suite against the generated ProtoJSON (tests/conformance/run.sh);
#   - the OpenAPI documents against a validator and schemathesis (tests/openapi/check.sh);
#   - generated OpenAPI clients (openapi-python-client, openapi-typescript + openapi-fetch)
#     calling every example operation through the proxy (tests/openapi/clients.sh);
#   - the Kubernetes manifests and the Dockerfile (docs/kubernetes/validate.sh);
#   - each fuzz target for 10 s from its committed corpus (fuzz/run.sh --ci, fuzz/README.md).
# The last five install their tools under target/ (cargo-fuzz with cargo) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

tests/prerequisites.sh
tests/supply_chain.sh
tests/runtime_features.sh
cargo test --workspace --locked
# Real APIs (tests/realworld/README.md), with the generator cargo test built: one googleapis file
# per API and grpc-gateway's examples generated, a small crate built without a warning. Raise
# SWEEP_MIN_OK as main generates more.
SWEEP_MIN_OK=296 SWEEP_FAIL_ON_PANIC=1 SWEEP_FAIL_ON_BUILD=1 tests/realworld/sweep.sh --ci
tests/conformance/run.sh
tests/openapi/check.sh
tests/openapi/clients.sh
docs/kubernetes/validate.sh
FUZZ_CI_SECONDS=10 fuzz/run.sh --ci
