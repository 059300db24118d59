#!/usr/bin/env bash
# Fuzzes the gateway with schemathesis (pinned, from PyPI) against a real local stack on loopback:
# every phase (examples, coverage, fuzzing, stateful) and every check, once with a tenant token and
# once with the admin token. Any failure fails the run. Bounded: SCHEMATHESIS_MAX_TIME seconds per
# token (default 150). Called by deploy/test.sh after the Swift tests; needs the debug build.
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
RATE_REQUESTS_PER_SECOND=1000000 "$bin/paz-machine" up --data-dir "$data" >"$scratch/up.log" 2>&1 \
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
for who in tenant admin; do
  token=$tenant
  [ "$who" = admin ] && token=$admin
  echo "schemathesis $version with the $who token against $url" >&2
  "$venv/bin/st" --config-file deploy/schemathesis.toml run "$url/openapi.yaml" --url "$url" \
    --header "Authorization: Bearer $token" \
    --phases examples,coverage,fuzzing,stateful --checks all \
    --max-time "${SCHEMATHESIS_MAX_TIME:-150}" --workers 2 --seed 20261204 \
    --request-timeout 30 --suppress-health-check too_slow,filter_too_much \
    --report junit --report-dir "${SCHEMATHESIS_REPORT_DIR:-$scratch/report-$who}" \
    "$@" || status=1
done
exit $status
