#!/usr/bin/env bash
# The run command: builds Paz Machine, starts the local stack on 127.0.0.1 (`paz-machine up`), brings up
# two demo hosts (loopback sshd, deploy/demo-hosts.sh), manages them as a cluster with the generic
# driver, and shows status and inspect. Running it again reuses the stack and the cluster.
#
# PAZ_DATA_DIR picks the data directory (default: as `paz-machine up`, /var/lib/paz-machine as root).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
deploy/install-deps.sh

for product in paz-machine paz-ssh-broker paz-gateway paz-status-collector paz-driver-generic; do
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

paz-machine up --data-dir "$data"

if ! paz-machine cluster inspect demo >/dev/null 2>&1; then
  hosts=$(deploy/demo-hosts.sh start "$data/demo-hosts" 2)
  port=$(echo "$hosts" | head -1 | cut -d' ' -f2)
  args=(cluster create demo --driver generic --generic-ssh-port "$port" --generic-ssh-user paz-demo
        --generic-ssh-key "@$data/demo-hosts/id_ed25519"
        # Demo hosts are sshd instances on this computer: power commands must not touch it.
        --generic-stop-command "echo stop requested" --generic-restart-command "echo restart requested"
        --generic-kill-command "echo kill requested"
        # The demo hosts' sshd runs as root and their login user has no sudo: no CA trust installed.
        --generic-install-ssh-trust false)
  while read -r address _ type key; do
    args+=(--generic-ip-address "$address" --generic-ssh-host-key "$type $key")
  done <<< "$hosts"
  paz-machine "${args[@]}"
else
  deploy/demo-hosts.sh start "$data/demo-hosts" 2 >/dev/null
fi

paz-machine status
paz-machine cluster inspect demo --probe   # machines, and what runs on each (probed over SSH)

cat <<EOF

The local stack runs in the background (data in $data). Try:
  export PATH="$bin:\$PATH"
  paz-machine ls
  paz-machine cluster rm demo && deploy/demo-hosts.sh stop $data/demo-hosts
  paz-machine down --data-dir $data
EOF
