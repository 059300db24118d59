#!/usr/bin/env bash
# Demo "existing machines" for the generic driver: N OpenSSH servers on 127.0.0.2, 127.0.0.3, … (one
# port), each with its own host keys, logging in the unprivileged account paz-demo with one key.
#
#   deploy/demo-hosts.sh start DIR [N]   starts them (again) and prints "ADDRESS PORT HOST-KEY" lines
#   deploy/demo-hosts.sh stop DIR        stops them
#
# DIR keeps the config, the host keys and the login key (DIR/id_ed25519, mode 0600). Needs root: sshd
# switches to the login user. Nothing listens outside 127.0.0.0/8.
set -euo pipefail

user=paz-demo
action=${1:?usage: demo-hosts.sh start|stop DIR [N]}
dir=${2:?usage: demo-hosts.sh start|stop DIR [N]}
count=${3:-2}

stop_hosts() {
  for pidfile in "$dir"/host-*/sshd.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$action" in
  stop) stop_hosts; exit 0 ;;
  start) ;;
  *) echo "demo-hosts.sh: unknown action '$action' (start or stop)" >&2; exit 2 ;;
esac

[ "$(id -u)" -eq 0 ] || { echo "demo-hosts.sh: needs root (sshd switches to the $user account)" >&2; exit 1; }
sshd=$(command -v sshd || echo /usr/sbin/sshd)
[ -x "$sshd" ] || { echo "demo-hosts.sh: sshd not found: run deploy/install-deps.sh" >&2; exit 1; }
# No usable password, but not locked: sshd without PAM refuses locked accounts.
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash -p '*' "$user"

mkdir -p "$dir" /run/sshd
chmod 755 "$dir"
[ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C paz-demo -f "$dir/id_ed25519"
chmod 600 "$dir/id_ed25519"
[ -f "$dir/port" ] || free_port > "$dir/port"
port=$(cat "$dir/port")
stop_hosts

for i in $(seq 1 "$count"); do
  address="127.0.0.$((i + 1))"
  host="$dir/host-$i"
  mkdir -p "$host"
  chmod 755 "$host"
  [ -f "$host/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N "" -C "paz-demo-$i" -f "$host/ssh_host_ed25519_key"
  cp "$dir/id_ed25519.pub" "$host/authorized_keys"
  chmod 644 "$host/authorized_keys"
  cat > "$host/sshd_config" <<EOF
ListenAddress $address:$port
HostKey $host/ssh_host_ed25519_key
PidFile $host/sshd.pid
AuthorizedKeysFile $host/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers $user
UseDNS no
EOF
  "$sshd" -f "$host/sshd_config" -E "$host/sshd.log"
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/$address/$port") 2>/dev/null && break
    sleep 0.1
  done
  echo "$address $port $(cut -d' ' -f1,2 "$host/ssh_host_ed25519_key.pub")"
done
