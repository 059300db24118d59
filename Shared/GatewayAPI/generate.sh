#!/usr/bin/env bash
# Regenerates the gateway API code from Services/Gateway/openapi.yaml (the contract).
# Types and client go to Shared/GatewayAPI/Generated (module PazGatewayAPI, used by the CLI and tests);
# the server stubs go to Services/Gateway/API/Server.swift, who may call each operation to
# Services/Gateway/API/OperationAccess.swift (generate-access.py). Generated code is committed so builds
# do not need the generator; rerun this after every change to openapi.yaml.
# Needs swift-openapi-generator 1.14 (build it from /opt/swift-packages/apple/swift-openapi-generator.git
# or point SWIFT_OPENAPI_GENERATOR at a binary).
set -euo pipefail
cd "$(dirname "$0")/../.."
generator=${SWIFT_OPENAPI_GENERATOR:-swift-openapi-generator}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
generate() {  # generate <output dir> <generator options…>
  "$generator" generate Services/Gateway/openapi.yaml --access-modifier package --naming-strategy idiomatic \
    --output-directory "$@" >"$out/log" 2>&1 || { cat "$out/log" >&2; exit 1; }
}
mkdir -p "$out/shared" "$out/server"
generate "$out/shared" --mode types --mode client
generate "$out/server" --mode server --additional-import PazGatewayAPI
rm -f Shared/GatewayAPI/Generated/*.swift
mv "$out"/shared/*.swift Shared/GatewayAPI/Generated/
mv "$out"/server/Server.swift Services/Gateway/API/Server.swift
python3 Shared/GatewayAPI/generate-access.py
echo "regenerated from Services/Gateway/openapi.yaml"
