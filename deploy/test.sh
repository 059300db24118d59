#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test against real servers
# (RabbitMQ, Redis, sshd and an HTTP server are started on free loopback ports, once per run; the
# QEMU tests boot real VMs from the Debian test image, built here first unless it is cached). The
# generated OpenAPI code is regenerated and compared first; schemathesis fuzzes the gateway of a
# real local stack (skipped when arguments select some tests).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
deploy/install-deps.sh
deploy/check-generated.sh
deploy/images/build-debian-test-image.sh >/dev/null
swift build --build-tests
# schemathesis against a real local stack first, so that swift test's summary is the last line.
[ $# -gt 0 ] || deploy/schemathesis.sh
swift test --skip-build "$@"
