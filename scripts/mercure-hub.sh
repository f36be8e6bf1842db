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
#
# The proxy refuses the 1.0 alphas of the Caddy module, so a version whose pinned folder
# holds `source.sha256` is built from the release's own source archive instead,
# `mercure-VERSION.tar.gz` in ../shared/upstream/ beside the checkout (MERCURE_UPSTREAM
# overrides the folder): the archive's sha256 is checked, the pinned go.mod and go.sum
# replace the tree's caddy/go.mod and go.sum, and the release's main package
# (caddy/mercure) is built with -mod=readonly.
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
pinned="$root/tests/hub/$version"
go_build() { # DIR PACKAGE MODFLAG: the release's build of PACKAGE in DIR, into $work/mercure
  (cd "$1" && CGO_ENABLED=0 go build -mod="$3" -trimpath -tags "$tags" -ldflags "$ldflags" -o "$work/mercure" "$2" >&2)
}
if [ -f "$pinned/source.sha256" ]; then
  upstream="${MERCURE_UPSTREAM:-$root/../shared/upstream}"
  archive="$upstream/mercure-$version.tar.gz"
  [ -f "$archive" ] || { echo "mercure-hub.sh: $version is built from its release source, $archive, which is missing (the shared/ folder beside the checkout holds it)" >&2; exit 1; }
  want="$(cut -d' ' -f1 "$pinned/source.sha256")"
  got="$(sha256sum "$archive" | cut -d' ' -f1)"
  [ "$want" = "$got" ] || { echo "mercure-hub.sh: $archive has sha256 $got, not the pinned $want" >&2; exit 1; }
  tar -xzf "$archive" -C "$work"
  cp "$pinned/go.mod" "$pinned/go.sum" "$work/mercure-$version/caddy/"
  echo "mercure-hub.sh: building the Mercure hub $version from its release source (a few minutes the first time)" >&2
  go_build "$work/mercure-$version/caddy" ./mercure readonly
elif [ -f "$pinned/go.mod" ]; then
  cp "$root/tests/hub/main.go" "$pinned/go.mod" "$pinned/go.sum" "$work/"
  echo "mercure-hub.sh: building the Mercure hub $version (a few minutes the first time)" >&2
  go_build "$work" . readonly
else
  echo "mercure-hub.sh: no pinned modules for $version in tests/hub/$version/; resolving them from the Go module proxy" >&2
  cp "$root/tests/hub/main.go" "$work/"
  (cd "$work" && go mod init mercure-setup.test/hub >&2 && go get "github.com/dunglas/mercure/caddy@v$version" >&2 && go mod tidy >&2)
  go_build "$work" . mod
fi

"$work/mercure" version | grep -qF "Mercure.rocks $version " || {
  echo "mercure-hub.sh: the built binary does not report version $version:" >&2
  "$work/mercure" version >&2
  exit 1
}
mv -f "$work/mercure" "$out"
echo "$out"
