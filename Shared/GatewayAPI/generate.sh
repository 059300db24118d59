#!/usr/bin/env bash
# Regenerates the gateway API code from Services/Gateway/openapi.yaml (the contract).
# Types and client go to Shared/GatewayAPI/Generated (module PazGatewayAPI, used by the CLI and tests);
# the server stubs go to Services/Gateway/API/Server.swift. Generated code is committed so builds
# do not need the generator; rerun this after every change to openapi.yaml.
# Needs swift-openapi-generator 1.14 (build it from /opt/swift-packages/apple/swift-openapi-generator.git
# or point SWIFT_OPENAPI_GENERATOR at a binary).
set -euo pipefail
cd "$(dirname "$0")/../.."
generator=${SWIFT_OPENAPI_GENERATOR:-swift-openapi-generator}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$generator" generate Services/Gateway/openapi.yaml --mode types --mode client --mode server \
  --access-modifier package --naming-strategy idiomatic --output-directory "$out" >"$out/log" 2>&1 \
  || { cat "$out/log" >&2; exit 1; }
rm "$out/log"
rm -f Shared/GatewayAPI/Generated/*.swift
mv "$out"/Server.swift Services/Gateway/API/Server.swift
mv "$out"/*.swift Shared/GatewayAPI/Generated/
echo "regenerated from Services/Gateway/openapi.yaml"
