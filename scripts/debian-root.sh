#!/usr/bin/env bash
# Builds a fresh Debian 12 (bookworm) root folder with debootstrap, from Debian's
# package registry, for the tests that need a real Debian machine (the VPS test boots
# it in a VM; the package test installs the .deb into it). The folder is cached,
# keyed by the package list, and its absolute path is the last line printed.
# Callers copy it before changing anything in it.
#
#   scripts/debian-root.sh            # -> /root/.cache/mercure-setup/debian12/<key>/root
#
# DEBIAN_ROOT_CACHE overrides the cache folder; DEBIAN_MIRROR the mirror (default:
# the first deb.debian.org-style URI apt uses on this machine).
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "debian-root.sh: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debian-root.sh: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

# What a fresh VPS has, plus what the tests need in it: a kernel and initrd to boot,
# systemd, nginx and certbot, and a few tools to look around. debootstrap does not
# resolve virtual packages, so certbot's python3-cffi-backend-api-* comes by its real name.
packages=(
  linux-image-amd64 systemd systemd-sysv udev dbus ifupdown isc-dhcp-client
  nginx certbot python3-cffi-backend ca-certificates openssl curl procps iproute2 netbase
  man-db bash-completion less
)
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
key="$(printf '%s\n' "$suite" "$mirror" "${packages[@]}" | sha256sum | cut -c1-16)"
cache="${DEBIAN_ROOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mercure-setup/debian12}"
root="$cache/$key/root"

if [ -f "$cache/$key/complete" ]; then
  echo "$root"
  exit 0
fi

rm -rf "$cache/$key"
mkdir -p "$cache/$key"
echo "debian-root.sh: debootstrap $suite into $root (about 2-4 minutes)" >&2
include="$(IFS=,; echo "${packages[*]}")"
debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >"$cache/$key/debootstrap.log" 2>&1 || {
  tail -n 30 "$cache/$key/debootstrap.log" >&2
  echo "debian-root.sh: debootstrap failed; the whole log is $cache/$key/debootstrap.log" >&2
  exit 1
}
# No services start at image time; the image boots as a fresh server would.
rm -f "$root/usr/sbin/policy-rc.d"
touch "$cache/$key/complete"
echo "$root"
