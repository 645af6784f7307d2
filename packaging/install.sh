#!/usr/bin/env bash
# Build and install keyward on Debian/Ubuntu, register it with sshd, reload sshd.
# Run as root from the source tree: bash packaging/install.sh
# Idempotent: a second run changes nothing it does not need to.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "install: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || die "sshd not found: apt-get install openssh-server"
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
command -v cargo >/dev/null || die "cargo not found: install Rust >= 1.85 with rustup (Debian 12's cargo is too old)"
getent passwd nobody >/dev/null || die "user 'nobody' does not exist; create it or edit $PWD/conf/sshd_config.d/40-keyward.conf"

DROPIN_DIR=/etc/ssh/sshd_config.d
DROPIN=$DROPIN_DIR/40-keyward.conf
WANT="/usr/bin/keyward keys %u %f"

# sshd has one AuthorizedKeysCommand slot and the first value wins: never take
# it silently from another helper (EC2 Instance Connect, SSSD, ...).
current=$("$SSHD" -T 2>/dev/null | awk '$1 == "authorizedkeyscommand" { $1 = ""; sub(/^ /, ""); print }')
if [ -n "$current" ] && [ "$current" != none ] && [ "$current" != "$WANT" ]; then
    die "sshd already uses another AuthorizedKeysCommand: '$current'. Remove it first; keyward will not replace it."
fi
grep -qsE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/\*\.conf' /etc/ssh/sshd_config \
    || die "/etc/ssh/sshd_config does not include $DROPIN_DIR/*.conf; add the two lines of conf/sshd_config.d/40-keyward.conf before its first Match block"

cargo build --release --locked
install -D -o root -g root -m 0755 target/release/keyward /usr/bin/keyward
install -d -o root -g root -m 0755 /etc/keyward /etc/keyward/users
install -D -o root -g root -m 0644 packaging/man/keyward.8 /usr/share/man/man8/keyward.8
[ -e /etc/keyward/keyward.toml ] || install -o root -g root -m 0644 conf/keyward.toml /etc/keyward/keyward.toml

if cmp -s conf/sshd_config.d/40-keyward.conf "$DROPIN"; then
    echo "install: $DROPIN already in place; sshd unchanged"
    exit 0
fi
backup=
if [ -e "$DROPIN" ]; then backup=$(mktemp); cp -p "$DROPIN" "$backup"; fi
install -d -m 0755 "$DROPIN_DIR"
install -o root -g root -m 0644 conf/sshd_config.d/40-keyward.conf "$DROPIN"
if ! "$SSHD" -t; then
    if [ -n "$backup" ]; then mv "$backup" "$DROPIN"; else rm -f "$DROPIN"; fi
    die "sshd -t rejected the new configuration; $DROPIN restored"
fi
[ -z "$backup" ] || rm -f "$backup"

if command -v systemctl >/dev/null && systemctl is-active --quiet ssh 2>/dev/null; then
    systemctl reload ssh
elif [ -s /run/sshd.pid ] && kill -0 "$(cat /run/sshd.pid)" 2>/dev/null; then
    kill -HUP "$(cat /run/sshd.pid)"
else
    echo "install: sshd is not running; it uses keyward from its next start"
    exit 0
fi
echo "install: keyward installed; sshd reloaded. Put keys in /etc/keyward/users/<user>."
