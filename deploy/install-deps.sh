#!/usr/bin/env bash
# Installs the Debian packages Paz Machine builds against and runs locally (Debian 12).
# Idempotent: does nothing when everything is present. Needs root (or sudo).
set -euo pipefail

packages=(
  pkg-config
  librabbitmq-dev
  libhiredis-dev
  libssh2-1-dev
  libcurl4-openssl-dev
  rabbitmq-server
  redis-server
  redis-tools
  openssh-server
  openssh-client
  python3
  iproute2
  wrk
  # The QEMU driver: QEMU, qemu-img, the cloud-init seed ISO, the cluster switch.
  qemu-system-x86
  qemu-utils
  genisoimage
  vde2
  # deploy/images/build-debian-test-image.sh
  mmdebstrap
  syslinux
  syslinux-common
  mtools
  dosfstools
  e2fsprogs
  fdisk
  # The cluster topology's single address in front of the gateways (PazLocalServers HAProxyServer).
  haproxy
  # deploy/check-manifests.sh: systemd-analyze verify/security and systemd-sysusers on the units.
  systemd
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the daemons it installs where an init system runs; ours are started per run instead.
  for service in rabbitmq-server redis-server ssh haproxy; do
    $sudo service "$service" stop >/dev/null 2>&1 || true
  done
fi

# The Ignition schema check of the tests, the generated access table and the attack suite (which
# read openapi.yaml) run the python3 on PATH, which may not be Debian's.
python3 -c 'import jsonschema' 2>/dev/null || python3 -m pip install -q jsonschema
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml
# moto, the AWS emulator the EC2 driver's tests and benchmarks run against (`python3 -m moto.server`,
# what moto_server runs; boto3 comes with it and lists what moto holds for the no-leak tests).
python3 -c 'import moto.server, boto3' 2>/dev/null || python3 -m pip install -q 'moto[server]>=5.2.1,<6'
# openapi-core, with which the DigitalOcean/Hetzner simulator (Shared/LocalServers/CloudSimulator, run as
# `python3 -m cloudsim`) validates every request and response against the providers' OpenAPI documents.
python3 -c 'import openapi_core' 2>/dev/null || python3 -m pip install -q 'openapi-core>=0.19.5,<0.20'
# kubernetes-validate, with which deploy/check-manifests.sh checks the Kubernetes manifests offline
# against the Kubernetes JSON schemas bundled in the package (1.25 to 1.37 in 1.37.0).
python3 -c 'import kubernetes_validate' 2>/dev/null || python3 -m pip install -q 'kubernetes-validate>=1.37.0,<1.38'
