#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test against real servers
# (RabbitMQ, Redis, sshd and an HTTP server are started on free loopback ports, once per run; the
# QEMU tests boot real VMs from the Debian test image, built here first unless it is cached).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
deploy/install-deps.sh
deploy/check-generated.sh
deploy/images/build-debian-test-image.sh >/dev/null
swift build --build-tests
swift test --skip-build "$@"
