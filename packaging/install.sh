#!/usr/bin/env bash
# Build keyward from this source tree, install it, and register it with sshd.
# Run as root: sudo bash packaging/install.sh [keyward setup options, e.g. --dry-run]
# Under sudo it builds as the user who ran sudo, with that user's rustup
# (sudo's secure_path has no ~/.cargo/bin) and in their own tree; as root
# itself it needs root's cargo.
# The sshd side (which file, refusing another helper, sshd -t, reload,
# rollback) is `keyward setup`; this script only builds and copies files.
# Idempotent: a second run changes nothing. To remove what it installed:
#   keyward setup --undo
#   rm /usr/bin/keyward /usr/share/man/man8/keyward.8 /usr/share/man/man5/keyward.toml.5 \
#      /usr/share/bash-completion/completions/keyward /usr/share/zsh/vendor-completions/_keyward
#   rm -r /var/lib/keyward
# (/etc/keyward, the keys in it, and the keyward user stay until you remove them.)
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "install: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root: sudo bash packaging/install.sh"
rustup_hint="install Rust >= 1.85 with rustup (Debian 12's cargo is too old)"
builder=${SUDO_USER:-root}
if [ "$builder" != root ]; then
    home=$(getent passwd "$builder" | cut -d: -f6)
    runuser -u "$builder" -- test -w . \
        || die "$PWD is not writable by $builder, who ran sudo; build as the tree's owner (cargo build --release --locked), or run this as root with root's own cargo"
    echo "install: building as $builder with $home/.cargo/bin/cargo"
    runuser -u "$builder" -- env -i HOME="$home" USER="$builder" LANG="${LANG:-C.UTF-8}" \
        PATH="$home/.cargo/bin:/usr/local/bin:/usr/bin:/bin" \
        bash -c 'command -v cargo >/dev/null && cargo build --release --locked' \
        || die "building as $builder failed (cargo not in $home/.cargo/bin? $rustup_hint)"
else
    command -v cargo >/dev/null || die "cargo not found for root: $rustup_hint, or run this with sudo from the account that has it"
    cargo build --release --locked
fi
install -D -o root -g root -m 0755 target/release/keyward /usr/bin/keyward
install -D -o root -g root -m 0644 packaging/man/keyward.8 /usr/share/man/man8/keyward.8
install -D -o root -g root -m 0644 packaging/man/keyward.toml.5 /usr/share/man/man5/keyward.toml.5
install -D -o root -g root -m 0644 packaging/completions/keyward.bash /usr/share/bash-completion/completions/keyward
install -D -o root -g root -m 0644 packaging/completions/_keyward /usr/share/zsh/vendor-completions/_keyward
install -d -o root -g root -m 0755 /etc/keyward /etc/keyward/users
[ -e /etc/keyward/keyward.toml ] || install -o root -g root -m 0644 conf/keyward.toml /etc/keyward/keyward.toml
exec /usr/bin/keyward setup "$@"
