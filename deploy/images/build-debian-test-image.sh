#!/usr/bin/env bash
# Builds a small bootable Debian 12 (bookworm) cloud-style test image for the Paz Machine QEMU
# driver, locally and without network access beyond a Debian mirror (no cloud image download).
#
# Usage: build-debian-test-image.sh [--force] [OUTPUT_DIR]
#   OUTPUT_DIR defaults to ${PAZ_IMAGE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/paz-machine/test-images}
#   Produces OUTPUT_DIR/debian-12-paz-test.qcow2 (compressed qcow2, 2 GiB virtual) and
#   OUTPUT_DIR/debian-12-paz-test.qcow2.sha256 (sha256sum format). Last stdout line: image path.
#   Idempotent: an existing image whose .sha256 matches is reused unless --force is given.
#
# How: mmdebstrap bookworm into a directory (cloud kernel, systemd, cloud-init limited to NoCloud,
# openssh-server, systemd-networkd), then assemble a raw MBR disk without loop devices or mounts:
# partition 1 = FAT16 boot partition (kernel, initrd, syslinux.cfg; syslinux installed via mtools),
# partition 2 = ext4 root populated with `mke2fs -d`. BIOS boot via syslinux mbr.bin (SeaBIOS).
# Finally `qemu-img convert -c -O qcow2`. No kvm, loop devices or mounts of the image needed.
#
# Needs root (mmdebstrap root mode; `mke2fs -d` must see real file ownership) and the host
# packages: mmdebstrap syslinux syslinux-common mtools dosfstools e2fsprogs fdisk qemu-utils
# (plus debian-archive-keyring, util-linux, coreutils; all in Debian 12).
# Environment: PAZ_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

IMAGE_NAME=debian-12-paz-test.qcow2
DISK_SIZE_MIB=2048
BOOT_START_MIB=1
BOOT_SIZE_MIB=63
MIRROR=${PAZ_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SYSLINUX_BIOS=/usr/lib/syslinux/modules/bios
SYSLINUX_MBR=/usr/lib/syslinux/mbr/mbr.bin

start=$(date +%s)
log() { echo "build-debian-test-image: [$(($(date +%s) - start))s] $*" >&2; }
die() { echo "build-debian-test-image: error: $*" >&2; exit 1; }

force=0
output_dir=""
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option: $arg" ;;
    *) [ -z "$output_dir" ] || die "only one OUTPUT_DIR allowed"; output_dir=$arg ;;
  esac
done
# stdout carries only the image path (fd 3); everything else, tool output included, goes to stderr.
exec 3>&1 1>&2
output_dir=${output_dir:-${PAZ_IMAGE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/paz-machine/test-images}}
mkdir -p "$output_dir"
output_dir=$(cd "$output_dir" && pwd)
image="$output_dir/$IMAGE_NAME"
checksum="$image.sha256"

image_is_valid() {
  [ -f "$image" ] && [ -f "$checksum" ] && (cd "$output_dir" && sha256sum --check --status "$IMAGE_NAME.sha256")
}

if [ "$force" -eq 0 ] && image_is_valid; then
  echo "$image" >&3
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (try: sudo $0 $*)"
for tool in mmdebstrap syslinux mcopy mkfs.fat sfdisk mke2fs qemu-img flock sha256sum; do
  command -v "$tool" >/dev/null ||
    die "missing $tool (apt-get install mmdebstrap syslinux syslinux-common mtools dosfstools e2fsprogs fdisk qemu-utils)"
done
[ -f "$SYSLINUX_MBR" ] && [ -f "$SYSLINUX_BIOS/ldlinux.c32" ] || die "missing syslinux BIOS files (apt-get install syslinux-common)"

# One builder at a time per output directory; a caller that waited reuses the finished image.
exec 9>"$output_dir/.build.lock"
flock 9
if [ "$force" -eq 0 ] && image_is_valid; then
  echo "$image" >&3
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/paz-debian-image.XXXXXX")
root="$work/root"
tmp_image="$output_dir/.$IMAGE_NAME.tmp.$$"
mmdebstrap_pid=""
cleanup() {
  # mmdebstrap unmounts its own /proc, /sys and /dev when stopped; be defensive anyway.
  local mounts
  if [ -n "$mmdebstrap_pid" ] && kill -0 "$mmdebstrap_pid" 2>/dev/null; then
    kill -TERM "$mmdebstrap_pid" 2>/dev/null || true
    wait "$mmdebstrap_pid" 2>/dev/null || true
  fi
  mounts=$(awk -v r="$root/" 'index($2 "/", r) == 1 {print $2}' /proc/mounts | sort -r)
  for m in $mounts; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work" "$tmp_image" "$checksum.tmp.$$"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$root"

packages=(
  linux-image-cloud-amd64 initramfs-tools zstd
  systemd-sysv udev e2fsprogs
  cloud-init openssh-server sudo
  iproute2 iputils-ping acpid
)

# Small initramfs (faster to load and run under TCG): only what mounts the virtio-blk root disk
# (ext4 is built in); everything else (e.g. an IDE/SATA cdrom for the seed, iso9660) is loaded by
# udev from the root fs. It must be configured before the kernel package runs update-initramfs.
initramfs_hook='mkdir -p "$1/etc/initramfs-tools/conf.d"
printf "MODULES=list\nCOMPRESS=zstd\n" > "$1/etc/initramfs-tools/conf.d/paz.conf"
printf "%s\n" virtio_pci virtio_blk > "$1/etc/initramfs-tools/modules"'

log "mmdebstrap bookworm from $MIRROR"
# Keep the image small: no docs, man pages or translations.
mmdebstrap --mode=root --variant=apt --components=main \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --dpkgopt='force-unsafe-io' --aptopt='Acquire::Languages "none"' \
  --essential-hook="$initramfs_hook" \
  --quiet \
  bookworm "$root" "$MIRROR" "deb $MIRROR bookworm-updates main" \
  "deb ${MIRROR%/debian}/debian-security bookworm-security main" &
mmdebstrap_pid=$!
wait "$mmdebstrap_pid" # in the background so that INT/TERM are handled at once
mmdebstrap_pid=""

kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)
initrd="$root/boot/initrd.img-${kernel##*/vmlinuz-}"
[ -f "$kernel" ] && [ -f "$initrd" ] || die "kernel or initrd missing in $root/boot"

log "configuring the root file system"
root_uuid=$(cat /proc/sys/kernel/random/uuid)

cat > "$root/etc/fstab" <<EOF
# <file system> <mount point> <type> <options> <dump> <pass>
UUID=$root_uuid / ext4 rw,discard,errors=remount-ro 0 0
EOF

echo paz-test > "$root/etc/hostname"
cat > "$root/etc/hosts" <<'EOF'
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
EOF
echo 'LANG=C.UTF-8' > "$root/etc/default/locale"

mkdir -p "$root/etc/cloud/cloud.cfg.d"
cat > "$root/etc/cloud/cloud.cfg.d/90-paz-datasource.cfg" <<'EOF'
#cloud-config
# Paz Machine test image: only the NoCloud seed (cidata ISO / disk) is consulted.
datasource_list: [ NoCloud, None ]
EOF
cat > "$root/etc/cloud/cloud.cfg.d/91-paz-boot.cfg" <<'EOF'
#cloud-config
# Paz Machine test image: network-config is rendered for systemd-networkd; first boot is kept
# fast under TCG (no RSA host key, no locale generation, no disk growing, no package mirrors).
system_info:
  network:
    renderers: [ networkd ]
ssh_genkeytypes: [ ed25519, ecdsa ]
locale: C.UTF-8
manage_etc_hosts: true
growpart:
  mode: "off"
resize_rootfs: false
package_update: false
package_upgrade: false
EOF

# systemd-networkd does the networking (cloud-init writes /etc/systemd/network/10-cloud-init-*).
systemctl --root="$root" enable systemd-networkd.service >/dev/null 2>&1
mkdir -p "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat > "$root/etc/systemd/system/systemd-networkd-wait-online.service.d/paz.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=15
EOF

# Nothing periodic or useless in a short-lived, isolated test VM: every unit and generator costs
# time on one emulated CPU. There is no D-Bus in the image, hence no logind.
systemctl --root="$root" mask \
  apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
  e2scrub_all.timer e2scrub_all.service e2scrub_reap.service fstrim.timer man-db.timer \
  dpkg-db-backup.timer systemd-timesyncd.service getty@tty1.service systemd-logind.service \
  systemd-binfmt.service proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount \
  sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount dev-hugepages.mount \
  sys-fs-fuse-connections.mount modprobe@drm.service modprobe@fuse.service \
  modprobe@loop.service modprobe@dm_mod.service modprobe@efi_pstore.service \
  modprobe@configfs.service systemd-pcrphase.service systemd-pcrphase-sysinit.service getty-static.service \
  >/dev/null 2>&1
mkdir -p "$root/etc/systemd/system-generators"
for generator in systemd-gpt-auto-generator systemd-cryptsetup-generator \
  systemd-integritysetup-generator systemd-veritysetup-generator \
  systemd-hibernate-resume-generator systemd-system-update-generator systemd-debug-generator \
  systemd-rc-local-generator systemd-sysv-generator; do
  ln -sf /dev/null "$root/etc/systemd/system-generators/$generator"
done
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' > "$root/etc/systemd/journald.conf.d/paz.conf"

# Per-VM identity: empty machine-id (systemd generates one), no host keys (cloud-init generates
# them before ssh.service starts; paz-ssh-keygen.service is the fallback without cloud-init).
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
cat > "$root/etc/systemd/system/paz-ssh-keygen.service" <<'EOF'
[Unit]
Description=Generate SSH host keys if cloud-init did not
After=cloud-init.service
Before=ssh.service
ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=ssh.service
EOF
systemctl --root="$root" enable paz-ssh-keygen.service >/dev/null 2>&1
# The ACPI power button (QMP system_powerdown, `paz-machine stop`) powers off: without D-Bus there
# is no logind to do it.
mkdir -p "$root/etc/acpi/events"
printf 'event=button/power.*\naction=/sbin/poweroff\n' > "$root/etc/acpi/events/paz-powerbtn"
systemctl --root="$root" enable acpid.service >/dev/null 2>&1 || true
# Skip the `sshd -t` pre-check (seconds under TCG); sshd itself refuses a broken config.
mkdir -p "$root/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\n' > "$root/etc/systemd/system/ssh.service.d/paz-fast.conf"

# No root password (locked), no users besides those cloud-init creates from user-data.
chroot "$root" passwd -l root >/dev/null
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/* "$root"/var/tmp/* "$root"/var/cache/debconf/*-old

# The kernel and initrd boot from the FAT partition; the root copy of the initrd is redundant.
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"
rm -f "$root"/boot/initrd.img-*

cmdline="root=UUID=$root_uuid rw console=ttyS0,115200 net.ifnames=0 mitigations=off audit=0 fsck.mode=skip systemd.show_status=auto"
log "building the disk (kernel ${kernel##*/vmlinuz-})"
boot_img="$work/boot.img"
root_img="$work/root.img"
disk="$work/disk.raw"
root_start_mib=$((BOOT_START_MIB + BOOT_SIZE_MIB))
root_size_mib=$((DISK_SIZE_MIB - root_start_mib))

# Boot partition: FAT16, syslinux installed through mtools on the unmounted image file.
truncate -s "${BOOT_SIZE_MIB}M" "$boot_img"
mkfs.fat -F 16 -n PAZBOOT "$boot_img" >/dev/null
cat > "$work/syslinux.cfg" <<EOF
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND $cmdline
EOF
export MTOOLS_SKIP_CHECK=1
mcopy -i "$boot_img" "$work/vmlinuz" "$work/initrd.img" "$work/syslinux.cfg" ::/
syslinux --install "$boot_img"

# Root partition: ext4 populated from the directory (ownership and modes preserved).
mke2fs -q -t ext4 -L paz-root -U "$root_uuid" -m 0 -E lazy_itable_init=0,lazy_journal_init=0 \
  -d "$root" "$root_img" "${root_size_mib}M"

# Disk: MBR with the active FAT partition 1 and Linux partition 2; syslinux MBR boot code.
truncate -s "${DISK_SIZE_MIB}M" "$disk"
sfdisk --quiet "$disk" <<EOF
label: dos
start=${BOOT_START_MIB}MiB, size=${BOOT_SIZE_MIB}MiB, type=6, bootable
start=${root_start_mib}MiB, size=${root_size_mib}MiB, type=83
EOF
dd if="$SYSLINUX_MBR" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$boot_img" of="$disk" bs=1M seek="$BOOT_START_MIB" conv=notrunc,sparse status=none
dd if="$root_img" of="$disk" bs=1M seek="$root_start_mib" conv=notrunc,sparse status=none

log "converting to compressed qcow2"
# zlib compression (readable by any qemu); -W lets the compression threads write out of order.
qemu-img convert -W -c -O qcow2 "$disk" "$tmp_image"
sum=$(sha256sum "$tmp_image" | cut -d' ' -f1)
rm -f "$checksum"
mv -f "$tmp_image" "$image"
printf '%s  %s\n' "$sum" "$IMAGE_NAME" > "$checksum.tmp.$$"
mv -f "$checksum.tmp.$$" "$checksum"

log "built $(du -h "$image" | cut -f1) image"
echo "$image" >&3
