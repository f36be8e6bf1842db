#!/usr/bin/env bash
# Makes a bootable Debian 12 disk image for the VPS test from the cached debootstrap
# root (scripts/debian-root.sh), without loop mounts: copy the root, add the test's way
# in, then `mkfs.ext4 -d`. The way in is a small agent (tests/vps/agent.sh) that runs the
# scripts the host drops into a 9p share and writes their output and exit code back.
# The copy gets a static address on QEMU's user network and a console on ttyS0; no
# password, no ssh.
#
# The image is cached, keyed by the Debian root and by this script and the agent, and
# its folder (image.raw, vmlinuz, initrd.img) is the last line printed. The test boots
# it through a qcow2 layer of its own, so the cached image itself is never changed.
#
#   scripts/vps-image.sh        # -> /root/.cache/mercure-setup/vps-image/<key>
#
# VPS_IMAGE_CACHE overrides the cache folder.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
command -v mkfs.ext4 >/dev/null || { echo "vps-image.sh: needs mkfs.ext4 (apt-get install e2fsprogs)" >&2; exit 1; }
base="$("$here/scripts/debian-root.sh" | tail -n 1)"

key="$( (echo "$base"; cat "$0" "$here/tests/vps/agent.sh") | sha256sum | cut -c1-16)"
cache="${VPS_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mercure-setup/vps-image}"
out="$cache/$key"
mkdir -p "$cache"
# One build at a time; a second caller waits and then finds the image made.
exec 9>"$cache/.lock"
flock 9
if [ -f "$out/complete" ]; then
  echo "$out"
  exit 0
fi
# Older images are of no further use.
find "$cache" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
mkdir -p "$out"
root="$out/root"
cp -a "$base" "$root"

cp "$root"/boot/vmlinuz-* "$out/vmlinuz"
cp "$root"/boot/initrd.img-* "$out/initrd.img"

echo vps > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 vps\n' > "$root/etc/hosts"
printf '/dev/vda / ext4 defaults,errors=remount-ro 0 1\n' > "$root/etc/fstab"
# QEMU's user network: the guest is 10.0.2.15, the host side 10.0.2.2; nothing else is reachable.
cat > "$root/etc/network/interfaces" <<'NET'
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet static
    address 10.0.2.15/24
    gateway 10.0.2.2
NET
echo 'nameserver 10.0.2.3' > "$root/etc/resolv.conf"

install -m 0755 "$here/tests/vps/agent.sh" "$root/usr/local/sbin/vps-agent"
cat > "$root/etc/systemd/system/vps-agent.service" <<'UNIT'
[Unit]
Description=VPS test agent: runs the scripts the host puts in the 9p share
After=local-fs.target network.target

[Service]
ExecStart=/usr/local/sbin/vps-agent
Restart=always

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/vps-agent.service "$root/etc/systemd/system/multi-user.target.wants/vps-agent.service"
# Timers that would change /var/lib while the test compares hashes, and slow the boot.
for t in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$t"
done

mkfs.ext4 -q -F -L root -d "$root" "$out/image.raw" 3G >&2
rm -rf "$root"
touch "$out/complete"
echo "$out"
