#!/usr/bin/env bash
# Builds the release files for one CPU into target/release-files/:
#   keyward-VERSION-ARCH                 the binary, for glibc 2.17 and newer
#                                        (DSM 7, Debian 10+, RHEL 7+), checked
#   keyward-VERSION-dsm-ARCH.tar.gz      that binary with synology/install.sh,
#                                        reapply.sh and the man pages
#   keyward_VERSION-1_DEBARCH.deb, keyward-VERSION-1.RPMARCH.rpm
#   SHA256SUMS                           of everything in the directory
# .github/workflows/release.yml runs it for each CPU on a version tag; CI
# runs it for x86_64, so the steps the workflow takes are tested here.
# Usage: bash packaging/release.sh [TARGET]  (x86_64-unknown-linux-gnu,
#   aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf)
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${1:-x86_64-unknown-linux-gnu}
die() { echo "release: $*" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || die "no version in Cargo.toml"
arch=${TARGET%%-*}
out=target/release-files
mkdir -p "$out"

TARGET=$TARGET bash packaging/build-dsm.sh
bin=target/dsm/keyward-$arch
install -m 0755 "$bin" "$out/keyward-$version-$arch"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dir=$stage/keyward-$version-dsm-$arch
mkdir -p "$dir"
install -m 0755 "$bin" "$dir/keyward-$arch"
install -m 0644 packaging/synology/install.sh packaging/synology/reapply.sh \
    packaging/man/keyward.8 packaging/man/keyward.toml.5 LICENSE-MIT LICENSE-APACHE "$dir/"
tar -C "$stage" --owner=0 --group=0 -czf "$out/keyward-$version-dsm-$arch.tar.gz" "keyward-$version-dsm-$arch"

command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
command -v cargo-generate-rpm >/dev/null || cargo install cargo-generate-rpm --locked
# The packages carry the same glibc-2.17 binary (cargo deb and generate-rpm
# read it from target/TARGET/release/, where build-dsm.sh left it).
cargo deb --no-build --no-strip --target "$TARGET" --output "$out/" >/dev/null
cargo generate-rpm --target "$TARGET" --output "$out/"

(cd "$out" && rm -f SHA256SUMS && sha256sum -- * > SHA256SUMS)
echo "release: $(cd "$out" && ls | tr '\n' ' ')"
