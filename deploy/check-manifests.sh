#!/usr/bin/env bash
# Checks the production packaging (docs/deploy.md); fails on any finding.
#
#   deploy/check-manifests.sh [BIN_DIR]    # BIN_DIR: the built executables (default: swift build's)
#
# systemd: every service executable of Package.swift has a unit; `systemd-analyze verify` loads each
# unit (a template as its instance @1) in a scratch root that holds this machine's own units, ours in
# /etc/systemd/system and the built executables at the units' ExecStart paths, so a missing or
# misnamed executable is found as well as an unknown or malformed setting; `systemd-analyze security`
# holds the sandboxing to an exposure of at most 2.0 (threshold 20); systemd-sysusers reads the sysusers.d file.
# Kubernetes: every service but the QEMU driver has a Deployment; kubernetes-validate checks every
# manifest, and the Secrets make-secrets.py prints, against the bundled schemas of Kubernetes 1.30
# (the oldest we support: preStop sleep) and 1.37, strictly (unknown fields fail);
# check_manifest_references.py checks that they refer to each other correctly.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
bin_dir="${1:-$(swift build --show-bin-path)}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
fail() { echo "check-manifests: $*" >&2; failed=1; }

# The services: every executable product but the CLI and the benchmarks.
services=$(grep -o '\.executable(name: "paz-[a-z0-9-]*"' Package.swift | grep -o 'paz-[a-z0-9-]*' \
  | grep -vx -e paz-machine -e paz-bench)

# --- systemd ---------------------------------------------------------------------------------
root="$scratch/root"
mkdir -p "$root/usr/lib/systemd" "$root/etc/systemd/system" "$root/usr/local/bin"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"  # targets our units refer to
cp deploy/systemd/*.service deploy/systemd/*.target "$root/etc/systemd/system/"
units=(paz-machine.target)
for service in $services; do
  if [ -f "deploy/systemd/$service@.service" ]; then
    units+=("$service@1.service")
  elif [ -f "deploy/systemd/$service.service" ]; then
    units+=("$service.service")
  else
    fail "no unit for $service in deploy/systemd"
    continue
  fi
  [ -x "$bin_dir/$service" ] || { fail "$bin_dir/$service is not built"; continue; }
  # A hard link where possible: the debug executables are large.
  ln "$bin_dir/$service" "$root/usr/local/bin/" 2>/dev/null || cp "$bin_dir/$service" "$root/usr/local/bin/"
done
# verify exits 0 on some findings (an unknown key is only logged): any output is a finding.
if ! output=$(systemd-analyze verify --root="$root" --man=no --recursive-errors=yes "${units[@]}" 2>&1) \
  || [ -n "$output" ]; then
  fail "systemd-analyze verify: ${output:-failed}"
fi
for unit in "${units[@]:1}"; do
  systemd-analyze security --offline=true --root="$root" --threshold=20 "$unit" >"$scratch/security" 2>&1 \
    || fail "systemd-analyze security, exposure above 2.0: $(tail -n 1 "$scratch/security")"
done
systemd-sysusers --root="$root" --dry-run "$PWD/deploy/systemd/sysusers.d/paz-machine.conf" >"$scratch/sysusers" 2>&1 \
  || fail "systemd-sysusers: $(cat "$scratch/sysusers")"

# --- Kubernetes ------------------------------------------------------------------------------
for service in $services; do
  [ "$service" = paz-driver-qemu ] && continue  # needs /dev/kvm and a host's disks (docs/deploy.md)
  grep -qx "          command: \[/usr/local/bin/$service\]" deploy/kubernetes/*.yaml \
    || fail "no Deployment runs $service in deploy/kubernetes"
done
python3 deploy/kubernetes/make-secrets.py >"$scratch/secrets.yaml"
manifests=(deploy/kubernetes/*.yaml deploy/kubernetes/reference/*.yaml "$scratch/secrets.yaml")
# --quiet prints only findings; an unknown kind is only a warning (exit 0): any output is a finding.
if ! output=$(python3 -m kubernetes_validate --strict --quiet -k 1.30 -k 1.37 "${manifests[@]}" 2>&1) || [ -n "$output" ]; then
  fail "kubernetes-validate: ${output:-failed}"
fi
python3 deploy/check_manifest_references.py "${manifests[@]}" >&2 || fail "manifests do not fit together (above)"

[ "$failed" -eq 0 ] || exit 1
echo "manifests: ${#units[@]} systemd units verified, ${#manifests[@]} Kubernetes files valid" >&2
