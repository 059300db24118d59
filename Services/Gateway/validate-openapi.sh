#!/usr/bin/env bash
# Validates the gateway's OpenAPI document (Services/Gateway/openapi.yaml):
#   1. openapi-spec-validator: the document is valid OpenAPI 3.1;
#   2. check_openapi_examples.py: every example validates (strictly) against its schema, every
#      operation has a unique operationId, every POST takes Idempotency-Key, shared errors are used.
#   3. optional: if SWIFT_OPENAPI_GENERATOR names a swift-openapi-generator binary, it generates
#      types, client and server from the document and fails on any warning or error.
# Installs the Python packages it needs with pip if they are missing. Exits non-zero on any error.
# Usage: [SWIFT_OPENAPI_GENERATOR=path] Services/Gateway/validate-openapi.sh [path/to/openapi.yaml]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
document="${1:-$here/openapi.yaml}"
python="${PYTHON:-python3}"

need=()
"$python" -c 'import openapi_spec_validator' 2>/dev/null || need+=("openapi-spec-validator>=0.7")
"$python" -c 'import jsonschema, referencing' 2>/dev/null || need+=("jsonschema>=4.18")
"$python" -c 'import yaml' 2>/dev/null || need+=("PyYAML")
"$python" -c 'import rfc3339_validator' 2>/dev/null || need+=("rfc3339-validator")
if ((${#need[@]})); then
    echo "Installing ${need[*]} with pip" >&2
    "$python" -m pip install --quiet "${need[@]}"
fi

echo "== openapi-spec-validator"
"$python" -m openapi_spec_validator "$document"
echo "== examples and conventions"
"$python" "$here/check_openapi_examples.py" "$document"

if [[ -n "${SWIFT_OPENAPI_GENERATOR:-}" ]]; then
    echo "== swift-openapi-generator"
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    printf 'generate: [types, client, server]\nnamingStrategy: idiomatic\n' > "$scratch/config.yaml"
    "$SWIFT_OPENAPI_GENERATOR" generate "$document" --config "$scratch/config.yaml" \
        --output-directory "$scratch/out" > "$scratch/log" 2>&1 || { cat "$scratch/log" >&2; exit 1; }
    if grep -iE '(warning|error):' "$scratch/log" >&2; then
        echo "swift-openapi-generator reported problems" >&2
        exit 1
    fi
    echo "generated $(ls "$scratch/out" | wc -l) files without warnings"
fi
