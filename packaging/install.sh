#!/usr/bin/env bash
# Build keyward from this source tree, install it, and register it with sshd.
# Run as root: bash packaging/install.sh [keyward setup options, e.g. --dry-run]
# The sshd side (which file, refusing another helper, sshd -t, reload,
# rollback) is `keyward setup`; this script only builds and copies files.
# Idempotent: a second run changes nothing. To remove what it installed:
#   keyward setup --undo
#   rm /usr/bin/keyward /usr/share/man/man8/keyward.8 /usr/share/man/man5/keyward.toml.5 \
#      /usr/share/bash-completion/completions/keyward /usr/share/zsh/vendor-completions/_keyward
# (/etc/keyward, the keys in it, and the keyward user stay until you remove them.)
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "install: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
command -v cargo >/dev/null || die "cargo not found: install Rust >= 1.85 with rustup (Debian 12's cargo is too old)"

cargo build --release --locked
install -D -o root -g root -m 0755 target/release/keyward /usr/bin/keyward
install -D -o root -g root -m 0644 packaging/man/keyward.8 /usr/share/man/man8/keyward.8
install -D -o root -g root -m 0644 packaging/man/keyward.toml.5 /usr/share/man/man5/keyward.toml.5
install -D -o root -g root -m 0644 packaging/completions/keyward.bash /usr/share/bash-completion/completions/keyward
install -D -o root -g root -m 0644 packaging/completions/_keyward /usr/share/zsh/vendor-completions/_keyward
install -d -o root -g root -m 0755 /etc/keyward /etc/keyward/users
[ -e /etc/keyward/keyward.toml ] || install -o root -g root -m 0644 conf/keyward.toml /etc/keyward/keyward.toml
exec /usr/bin/keyward setup "$@"
