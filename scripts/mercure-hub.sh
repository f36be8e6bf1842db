#!/usr/bin/env bash
# Builds the Mercure hub VERSION (e.g. 0.24.2) as its release does: Caddy with its
# standard modules and the Mercure module, CGO off, the release's build tags and
# version strings, from the Go module proxy. The binary is cached (reused when that
# version is already built) and its absolute path is the last line printed.
#
#   scripts/mercure-hub.sh 0.24.2          # -> /root/.cache/mercure-setup/hub/0.24.2/mercure
#
# The modules of each version are pinned in tests/hub/VERSION/ (go.mod, go.sum);
# a version without such a folder is resolved from the proxy afresh (and said so).
# MERCURE_HUB_CACHE overrides the cache folder.
set -euo pipefail

version="${1:?usage: scripts/mercure-hub.sh VERSION   (e.g. 0.24.2)}"
version="${version#v}"
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]]; then
  echo "mercure-hub.sh: '$version' is not a release version such as 0.24.2" >&2
  exit 2
fi
command -v go >/dev/null || { echo "mercure-hub.sh: Go is needed to build the hub (https://go.dev/doc/install, or apt-get install golang-go when it is new enough)" >&2; exit 1; }

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${MERCURE_HUB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mercure-setup/hub}"
out="$cache/$version/mercure"

# The release says "Mercure.rocks VERSION Caddy ..." in `version`.
if [ -x "$out" ] && "$out" version 2>/dev/null | grep -qF "Mercure.rocks $version "; then
  echo "$out"
  exit 0
fi

# Build tags and link flags of the release's .goreleaser.yml for that line.
tags=deprecated_transport,nobadger,nomysql,nopgx
ldflags="-X 'github.com/caddyserver/caddy/v2/modules/caddyhttp.ServerHeader=Mercure.rocks Caddy' -X 'github.com/caddyserver/caddy/v2.CustomVersion=Mercure.rocks $version Caddy'"
case "$version" in
  0.*) ;;
  *) tags="$tags,deprecated_topic,deprecated_claim"
     ldflags="$ldflags -X 'github.com/caddyserver/caddy/v2.CustomBinaryName=mercure'" ;;
esac

mkdir -p "$cache/$version"
work="$(mktemp -d "$cache/$version/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp "$root/tests/hub/main.go" "$work/"
if [ -f "$root/tests/hub/$version/go.mod" ]; then
  cp "$root/tests/hub/$version/go.mod" "$root/tests/hub/$version/go.sum" "$work/"
  mod=readonly
else
  echo "mercure-hub.sh: no pinned modules for $version in tests/hub/$version/; resolving them from the Go module proxy" >&2
  (cd "$work" && go mod init mercure-setup.test/hub >&2 && go get "github.com/dunglas/mercure/caddy@v$version" >&2 && go mod tidy >&2)
  mod=mod
fi

echo "mercure-hub.sh: building the Mercure hub $version (a few minutes the first time)" >&2
(cd "$work" && CGO_ENABLED=0 go build -mod="$mod" -trimpath -tags "$tags" -ldflags "$ldflags" -o "$work/mercure" . >&2)
"$work/mercure" version | grep -qF "Mercure.rocks $version " || {
  echo "mercure-hub.sh: the built binary does not report version $version:" >&2
  "$work/mercure" version >&2
  exit 1
}
mv -f "$work/mercure" "$out"
echo "$out"
