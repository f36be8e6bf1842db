#!/usr/bin/env bash
# Builds Pebble, Let's Encrypt's ACME test server, and its companion challenge test
# server (a DNS server for the test's names) from the Go module proxy, pinned below,
# for the VPS test's certbot scenario. Cached; prints the folder holding both binaries.
#
#   scripts/pebble.sh      # -> /root/.cache/mercure-setup/pebble/v2.10.3
set -euo pipefail
version=v2.10.3
command -v go >/dev/null || { echo "pebble.sh: Go is needed (https://go.dev/doc/install)" >&2; exit 1; }
cache="${PEBBLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mercure-setup/pebble}/$version"
if [ -x "$cache/pebble" ] && [ -x "$cache/pebble-challtestsrv" ]; then
  echo "$cache"
  exit 0
fi
mkdir -p "$cache"
GOBIN="$cache" CGO_ENABLED=0 go install \
  "github.com/letsencrypt/pebble/v2/cmd/pebble@$version" \
  "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$version"
echo "$cache"
