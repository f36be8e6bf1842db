#!/usr/bin/env bash
# Builds the Debian package: target/debian/mercure-setup_VERSION_ARCH.deb, holding the
# release binary, its man pages (gzipped), bash/zsh/fish completions, the answers-file
# JSON Schema, README, changelog and licence. Everything but the binary is generated
# by the binary itself, so it always matches the options it was built with.
#
#   scripts/package.sh          # prints the .deb's path as its last line
#
# Needs cargo, dpkg-deb and gzip (Debian: apt-get install dpkg-dev). Honours
# CARGO_TARGET_DIR.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
for tool in cargo dpkg-deb gzip objdump; do
  command -v "$tool" >/dev/null || { echo "package.sh: needs $tool (apt-get install dpkg-dev binutils gzip)" >&2; exit 1; }
done

name=mercure-setup
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
arch="$(dpkg --print-architecture)"
target="${CARGO_TARGET_DIR:-$repo/target}"
out="$target/debian"
root="$out/${name}_${version}_${arch}"
deb="$out/${name}_${version}_${arch}.deb"

cargo build --release --locked --bin "$name" >&2
bin="$target/release/$name"

rm -rf "$root"
install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d" "$root/usr/share/doc/$name" "$root/usr/share/$name"
install -m 0755 -s "$bin" "$root/usr/bin/$name"
packaged="$root/usr/bin/$name"

"$packaged" man --out "$root/usr/share/man/man1"
gzip -9n "$root/usr/share/man/man1/"*.1
"$packaged" completions bash >"$root/usr/share/bash-completion/completions/$name"
"$packaged" completions zsh >"$root/usr/share/zsh/vendor-completions/_$name"
"$packaged" completions fish >"$root/usr/share/fish/vendor_completions.d/$name.fish"
"$packaged" schema >"$root/usr/share/$name/answers.schema.json"

gzip -9n <README.md >"$root/usr/share/doc/$name/README.md.gz"
gzip -9n <CHANGELOG.md >"$root/usr/share/doc/$name/changelog.gz"
{
  printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n'
  printf 'Upstream-Name: %s\n\n' "$name"
  printf 'Files: *\nCopyright: The mercure-setup authors\nLicense: MIT\n'
  # The licence text, indented as the copyright format wants (blank lines as " .").
  sed -e 's/^$/./' -e 's/^/ /' LICENSE
} >"$root/usr/share/doc/$name/copyright"
find "$root" -type d -exec chmod 0755 {} +
find "$root/usr/share" -type f -exec chmod 0644 {} +

# The newest glibc symbol version the binary uses is the one dependency it has.
glibc="$(objdump -T "$packaged" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)"
size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat >"$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: The mercure-setup authors <mercure-setup@localhost>
Installed-Size: $size
Depends: libc6 (>= $glibc)
Suggests: nginx
Section: admin
Priority: optional
Description: set up a Mercure hub behind nginx for a Symfony app
 Renders a checked deployment bundle (nginx site, hub Caddyfile and systemd
 unit, Symfony settings, JWT keys and tokens) for a Mercure real-time hub
 behind nginx on one server, checks it with the real programs, and diagnoses
 and load-tests the live deployment.
CONTROL

dpkg-deb --build --root-owner-group -Zxz "$root" "$deb" >&2
echo "$deb"
