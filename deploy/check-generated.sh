#!/usr/bin/env bash
# Regenerates the gateway's generated code from Services/Gateway/openapi.yaml and fails when the
# committed files differ (the document is the contract; generated code must never be edited by hand).
# Builds swift-openapi-generator 1.14.3 once from the machine's package mirror into the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
version=1.14.3
cache="${XDG_CACHE_HOME:-$HOME/.cache}/paz-machine/openapi-generator-$version"
generator="$cache/.build/release/swift-openapi-generator"
if [ ! -x "$generator" ]; then
  source="${SWIFT_OPENAPI_GENERATOR_SOURCE:-/opt/swift-packages/apple/swift-openapi-generator.git}"
  rm -rf "$cache" && mkdir -p "$(dirname "$cache")"
  git clone -q "$source" "$cache"
  git -C "$cache" checkout -q "$version"
  echo "building swift-openapi-generator $version (once)" >&2
  swift build -c release --package-path "$cache" --product swift-openapi-generator >"$cache.log" 2>&1 \
    || { tail -30 "$cache.log" >&2; exit 1; }
fi
Services/Gateway/validate-openapi.sh >/dev/null  # the document itself: valid OpenAPI 3.1, examples valid
SWIFT_OPENAPI_GENERATOR="$generator" Shared/GatewayAPI/generate.sh >/dev/null
if ! git diff --quiet -- Shared/GatewayAPI/Generated Services/Gateway/API; then
  echo "generated code differs from what Services/Gateway/openapi.yaml generates:" >&2
  git diff --stat -- Shared/GatewayAPI/Generated Services/Gateway/API >&2
  echo "run Shared/GatewayAPI/generate.sh and commit the result" >&2
  exit 1
fi
echo "generated code matches openapi.yaml" >&2
