#!/usr/bin/env bash
# The run command: builds Paz Machine, builds the Debian 12 test image if none is cached
# (deploy/images/build-debian-test-image.sh, about a minute), starts the local stack on 127.0.0.1
# (`paz-machine up`), creates the cluster `local` of two real VMs with the QEMU driver, shows the
# status of everything and runs a command on each VM over `paz-machine ssh` (a short-lived
# certificate from the SSH broker; the VM verified through the tenant's host CA). Running it again
# reuses the stack and the cluster (starting stopped VMs).
#
# PAZ_DATA_DIR picks the data directory (default: as `paz-machine up`, /var/lib/paz-machine as root);
# PAZ_QEMU_ACCEL the acceleration (auto: KVM when it works, else TCG).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
deploy/install-deps.sh

for product in paz-machine paz-ssh-broker paz-gateway paz-status-collector paz-driver-generic paz-driver-qemu paz-driver-ec2 \
  paz-driver-digitalocean paz-driver-hetzner; do
  swift build --product "$product"
done
bin=$(swift build --show-bin-path)
export PATH="$bin:$PATH"

if [ -n "${PAZ_DATA_DIR:-}" ]; then
  data=$PAZ_DATA_DIR
elif [ "$(id -u)" -eq 0 ]; then
  data=/var/lib/paz-machine   # as `paz-machine up` chooses: root's home is private, RabbitMQ runs as its own user
else
  data=${XDG_DATA_HOME:-$HOME/.local/share}/paz-machine
fi

image=$(deploy/images/build-debian-test-image.sh | tail -1)
digest=$(cut -d' ' -f1 "$image.sha256")

paz-machine up --data-dir "$data"

state() { paz-machine inspect "$1" --output json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null || echo missing; }
if paz-machine cluster inspect local >/dev/null 2>&1; then
  for machine in local-1 local-2; do
    case "$(state "$machine")" in
      running) ;;
      stopped) paz-machine start "$machine" ;;
      *) paz-machine cluster rm local; break ;;   # a create that failed earlier: start over
    esac
  done
fi
if ! paz-machine cluster inspect local >/dev/null 2>&1; then
  # Two VMs from the local image, verified by its digest while the driver copies it into its cache.
  paz-machine cluster create local --driver qemu --count 2 --qemu-accel "${PAZ_QEMU_ACCEL:-auto}" \
    --qemu-image-url "file://$image" --qemu-image-digest "sha256:$digest"
fi

paz-machine status
for machine in local-1 local-2; do
  paz-machine ssh "$machine" -- 'echo "$(hostname): $(uname -sr), up $(cut -d. -f1 /proc/uptime) s, cluster address $(ip -4 -o addr show eth1 | awk "{print \$4}")"'
done

cat <<EOF

The local stack and the VMs run in the background (data in $data). Try:
  export PATH="$bin:\$PATH"
  paz-machine ssh local-1 -- ping -c1 10.200.0.12      # the cluster network (addresses: paz-machine inspect local-2)
  paz-machine cluster inspect local --probe
  paz-machine stop local-2 && paz-machine start local-2
  paz-machine cluster rm local                         # VMs, disks, sockets, ports and the cluster network
  paz-machine down --data-dir $data
EOF
