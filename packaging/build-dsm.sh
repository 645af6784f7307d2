#!/usr/bin/env bash
# Build keyward for Synology DSM on x86_64: a release binary that runs on
# glibc 2.17 and newer (DSM 7.0/7.1 ship glibc 2.26, 7.2 ships 2.36; an
# ordinary build needs the build machine's glibc and fails there with
# "GLIBC_2.28 not found"), and check that no symbol needs a newer glibc.
# Usage: bash packaging/build-dsm.sh   -> target/dsm/keyward-x86_64
# Needs: rustup, python3 with venv (zig comes from PyPI's ziglang), objdump.
# Other DSM CPUs: TARGET=aarch64-unknown-linux-gnu or armv7-unknown-linux-gnueabihf;
# packaging/release.sh builds every release file from this.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${TARGET:-x86_64-unknown-linux-gnu}
GLIBC=2.17
die() { echo "build-dsm: $*" >&2; exit 1; }

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    need=()
    for pkg in python3 python3-venv; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    command -v objdump >/dev/null || need+=(binutils)
    [ ${#need[@]} -eq 0 ] || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"; }
fi
# zig, pinned, in a venv of its own: cargo-zigbuild runs `python3 -m ziglang`
# when no `zig` is on PATH.
VENV=target/zig-venv
if [ ! -x "$VENV/bin/python3" ] || ! "$VENV/bin/python3" -c 'import ziglang' 2>/dev/null; then
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'ziglang==0.13.0.post1'
fi
export PATH="$PWD/$VENV/bin:$PATH"
command -v cargo-zigbuild >/dev/null || cargo install cargo-zigbuild --locked
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" || rustup target add "$TARGET"

cargo zigbuild --release --locked --target "$TARGET.$GLIBC"
bin=target/$TARGET/release/keyward
# objdump -T for x86_64; readelf reads every architecture's ELF.
syms=$(objdump -T "$bin" 2>/dev/null || readelf -W --dyn-syms "$bin")
newest=$(printf '%s\n' "$syms" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -1)
[ -n "$newest" ] || die "no GLIBC symbol versions found in $bin"
[ "$(printf '%s\n%s\n' "$newest" "$GLIBC" | sort -V | tail -1)" = "$GLIBC" ] \
    || die "$bin needs GLIBC_$newest, newer than $GLIBC"
arch=${TARGET%%-*}
install -D -m 0755 "$bin" "target/dsm/keyward-$arch"
echo "build-dsm: target/dsm/keyward-$arch needs at most GLIBC_$newest (limit $GLIBC)"
