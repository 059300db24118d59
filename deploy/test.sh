#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test against real servers
# (RabbitMQ, Redis, sshd and an HTTP server are started on free loopback ports, once per run; the
# QEMU tests boot real VMs from the Debian test image, built here first unless it is cached). The
# generated OpenAPI code is regenerated and compared first, the deployment manifests checked after
# the build (the systemd check needs the executables); schemathesis fuzzes the gateway of a real
# local stack (skipped when arguments select some tests).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
deploy/install-deps.sh
deploy/check-generated.sh
deploy/images/build-debian-test-image.sh >/dev/null
swift build --build-tests
deploy/check-manifests.sh "$(swift build --show-bin-path)"  # systemd units (with the built executables), Kubernetes manifests
# schemathesis against a real local stack first, so that swift test's summary is the last line.
[ $# -gt 0 ] || deploy/schemathesis.sh
# The run's output is long and CI shows only its end: on failure, repeat what failed last.
log=$(mktemp); trap 'rm -f "$log"' EXIT
if swift test --skip-build "$@" 2>&1 | tee "$log"; then exit 0; fi
echo "=== what failed ==="
grep -E '✘|error: |Fatal error|Test Case .* failed' "$log" | grep -v ' passed after ' | tail -n 40 || true
exit 1
