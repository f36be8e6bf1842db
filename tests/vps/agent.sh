#!/bin/bash
# The VPS test's way into the guest: mounts the host's 9p share, announces each boot,
# and runs every cmd/NAME.sh once, in name order, writing out/NAME.log and out/NAME.rc.
set -u
share=/mnt/host
mkdir -p "$share"
mountpoint -q "$share" || mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host "$share" || exit 1
mkdir -p "$share/out"
cat /proc/sys/kernel/random/boot_id > "$share/out/boot.$(cat /proc/sys/kernel/random/boot_id)"
while true; do
  for cmd in "$share"/cmd/*.sh; do
    [ -e "$cmd" ] || continue
    name="$(basename "$cmd" .sh)"
    [ -e "$share/out/$name.rc" ] && continue
    bash "$cmd" > "$share/out/$name.log" 2>&1 < /dev/null
    echo $? > "$share/out/$name.rc.tmp"
    mv "$share/out/$name.rc.tmp" "$share/out/$name.rc"
  done
  sleep 0.2
done
