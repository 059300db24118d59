#!/usr/bin/env bash
# Fuzzes the gateway with schemathesis (pinned, from PyPI) against a real local stack on loopback:
# every phase (examples, coverage, fuzzing, stateful) and every check, with the tenant token, with the
# admin token, and with each where the document asks for it. Any failure fails the run. Bounded:
# SCHEMATHESIS_MAX_TIME seconds per run (default 100). Called by deploy/test.sh; needs the debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
version=4.32.5
venv="${XDG_CACHE_HOME:-$HOME/.cache}/paz-machine/schemathesis-$version"
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi
bin=$(swift build --show-bin-path)
scratch=$(mktemp -d /tmp/paz-schemathesis.XXXXXX)
chmod 755 "$scratch"  # rabbitmq-server runs as its own user and must reach its data directory
data="$scratch/stack"
export XDG_CONFIG_HOME="$scratch/config" XDG_STATE_HOME="$scratch/state"  # the CLI's login stays here
stop() {
  "$bin/paz-machine" down --data-dir "$data" >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap stop EXIT
# Generated requests come fast and from one tenant: the per-tenant rate limit would answer most of
# them 429 (documented, so not a failure, but nothing would be tested).
# Creates are fuzzed too, so the drivers may reach nothing real: the generic driver only loopback
# addresses other than 127.0.0.1 (the local stack's policy; nothing listens there during this run),
# the QEMU driver no image at all (an empty image directory, no http prefix), so no VM ever boots.
mkdir -p "$scratch/no-images"
RATE_REQUESTS_PER_SECOND=1000000 QEMU_IMAGE_FILE_DIRECTORIES="$scratch/no-images" QEMU_IMAGE_URL_PREFIXES="" \
  "$bin/paz-machine" up --data-dir "$data" >"$scratch/up.log" 2>&1 \
  || { cat "$scratch/up.log" >&2; exit 1; }
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ports"]["gateway"])' "$data/stack.json")
url="http://127.0.0.1:$port"
admin=$(cat "$data/admin-token")
tenant=$(python3 - "$url" "$admin" <<'PY'
import json, sys, urllib.request
url, admin = sys.argv[1], sys.argv[2]
def call(path, body):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + admin, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request))
call("/v1/admin/tenants", {"name": "fuzz", "quota": {"machines": 10000}})
print(call("/v1/admin/tenants/fuzz/tokens", {"name": "schemathesis"})["token"])
PY
)
status=0
# One worker: CPython 3.11 before 3.11.8 fails with "AST constructor recursion depth mismatch" when two
# threads parse source at once (gh-106905), which hypothesis does to describe its strategies.
# Three runs: every scheme given the tenant token, every scheme given the admin token (each run also
# sends the wrong kind of token to half of the operations), and each scheme its own token.
for run in tenant admin both; do
  case $run in
    tenant) export PAZ_FUZZ_TENANT_TOKEN=$tenant PAZ_FUZZ_ADMIN_TOKEN=$tenant ;;
    admin) export PAZ_FUZZ_TENANT_TOKEN=$admin PAZ_FUZZ_ADMIN_TOKEN=$admin ;;
    both) export PAZ_FUZZ_TENANT_TOKEN=$tenant PAZ_FUZZ_ADMIN_TOKEN=$admin ;;
  esac
  echo "schemathesis $version, run '$run', against $url" >&2
  SCHEMATHESIS_HOOKS=deploy/schemathesis_hooks.py "$venv/bin/st" --config-file deploy/schemathesis.toml run "$url/openapi.yaml" --url "$url" \
    --phases examples,coverage,fuzzing,stateful --checks all \
    --max-time "${SCHEMATHESIS_MAX_TIME:-100}" --workers 1 --seed 20261204 \
    --request-timeout 30 --suppress-health-check too_slow,filter_too_much \
    --report junit --report-dir "${SCHEMATHESIS_REPORT_DIR:-$scratch/report-$run}" \
    "$@" || status=1
done
exit $status
