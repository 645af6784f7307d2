#!/usr/bin/env bash
# Build the .deb and .rpm, check the .deb with lintian, then prove it on this machine: install it
# (sshd unchanged), `keyward setup`, a real key login through the real sshd
# with the system's own configuration, an upgrade to a next version whose
# sample keyward.toml differs, with no terminal (setup left the conffile
# alone, so dpkg asks nothing), the login again, `setup --undo` and
# `dpkg --purge` (sshd exactly as before, the admin's keys kept).
# Run as root on Debian 12: bash packaging/test-packages.sh
# It changes the system's packages and sshd_config while it runs; CI runs it
# on a throwaway machine. Refuses to run over a keyward installed otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "test-packages: FAIL: $*" >&2; exit 1; }
say() { echo "test-packages: $*"; }
[ "$(id -u)" = 0 ] || die "run as root"
if [ -e /usr/bin/keyward ] && ! dpkg -S /usr/bin/keyward >/dev/null 2>&1; then
    die "/usr/bin/keyward exists outside any package (packaging/install.sh?); remove it (keyward setup --undo; rm /usr/bin/keyward) to run this test"
fi
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in openssh-server openssh-client rpm python3 lintian sudo; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] || { apt-get update -q && apt-get install -y -q "${need[@]}"; }
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
command -v cargo-generate-rpm >/dev/null || cargo install cargo-generate-rpm --locked

cargo build --release --locked
rm -rf target/debian target/generate-rpm
deb=$(cargo deb --no-build 2>/dev/null | tail -1)
cargo generate-rpm
rpm=$(ls target/generate-rpm/*.rpm | head -1)
# The next version: the same files, but a sample keyward.toml that changed
# (as a release that documents a new key would), so that dpkg has to decide
# what to do with the installed conffile.
sample_backup=$(mktemp)
cp conf/keyward.toml "$sample_backup"
restore_sample() { cp "$sample_backup" conf/keyward.toml; rm -f "$sample_backup"; }
trap restore_sample EXIT
printf '\n# (a comment the next release added)\n' >> conf/keyward.toml
# Beside target/debian, which cargo deb empties on each build.
cp "$deb" target/keyward-this.deb
deb=target/keyward-this.deb
mkdir -p target/debian-next
next=$(cargo deb --no-build --deb-version 99.0.0 --output target/debian-next/keyward-next.deb 2>/dev/null | tail -1)
restore_sample
trap - EXIT
[ -f "$next" ] || die "no next package built"
say "built $deb and $rpm"
deb_files=$(dpkg-deb -c "$deb")
rpm_files=$(rpm -qlp "$rpm" 2>/dev/null)
for f in /usr/bin/keyward /usr/share/man/man8/keyward.8 /usr/share/man/man5/keyward.toml.5 /etc/keyward/keyward.toml \
    /usr/share/bash-completion/completions/keyward; do
    # cargo-deb gzips man pages, as Debian policy wants.
    grep -qE " \.$f(\.gz)?\$" <<<"$deb_files" || die "$deb lacks $f"
    grep -qx "$f" <<<"$rpm_files" || die "$rpm lacks $f"
done
dpkg-deb -f "$deb" Depends | grep -q openssh-server || die "$deb does not depend on openssh-server"
# Debian's own package checker: no error and no warning.
lintian --fail-on error,warning "$deb" 2>&1 | grep -v "running with root privileges" || true
lintian --fail-on error,warning "$deb" >/dev/null 2>&1 || die "lintian finds errors or warnings in $deb"
say "lintian: no errors, no warnings"

USER_NAME=kwtpkg$$
WORK=/var/lib/keyward-pkgtest
SSHD_PID=
snapshot() { { /usr/sbin/sshd -T 2>&1; find /etc/ssh -type f -exec sha256sum {} + | sort; }; }
cleanup() {
    [ -z "$SSHD_PID" ] || kill "$SSHD_PID" 2>/dev/null || true
    userdel "$USER_NAME" >/dev/null 2>&1 || true
    rm -rf "$WORK" "/etc/keyward/users/$USER_NAME"
    rmdir /etc/keyward/users /etc/keyward 2>/dev/null || true
}
trap cleanup EXIT INT TERM
before=$(snapshot)

dpkg -i "$deb"
[ "$(snapshot)" = "$before" ] || die "installing the package changed sshd"
[ -d /etc/keyward/users ] || die "postinst did not create /etc/keyward/users"
getent passwd keyward | grep -q ':/usr/sbin/nologin$' || die "postinst did not create the system user keyward"
say "installed; sshd unchanged"

keyward setup --no-reload
[ "$(/usr/sbin/sshd -T | awk '$1 == "authorizedkeyscommand" { $1 = ""; print substr($0, 2) }')" = "/usr/bin/keyward keys %u %k %h %U" ] \
    || die "setup did not register keyward"
[ "$(/usr/sbin/sshd -T | awk '$1 == "authorizedkeyscommanduser" { print $2 }')" = keyward ] \
    || die "setup did not register the command user keyward"
keyward setup --no-reload | grep -q "nothing changed" || die "a second setup changed something"

# A user whose home sshd refuses (the Synology case), a key in the store only.
install -d -m 0755 "$WORK"
useradd -M -U -s /bin/sh -p '*' -d "$WORK/$USER_NAME" "$USER_NAME"
install -d -m 0777 -o "$USER_NAME" -g "$USER_NAME" "$WORK/$USER_NAME"
ssh-keygen -q -t ed25519 -N '' -C pkgtest -f "$WORK/id"
keyward add "$USER_NAME" "$WORK/id.pub"
install -d -m 0755 /run/sshd
login() {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # The system's own sshd_config (with setup's drop-in); -o only moves it to a
    # free port and leaves PAM out, which has nothing to do with the command.
    /usr/sbin/sshd -D -e -o "ListenAddress=127.0.0.1:$port" -o PidFile=none -o UsePAM=no 2> "$WORK/sshd.log" &
    SSHD_PID=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    out=$(ssh -F /dev/null -i "$WORK/id" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p "$port" "$USER_NAME@127.0.0.1" echo logged-in) \
        || { cat "$WORK/sshd.log" >&2; die "key login through sshd failed ($1)"; }
    [ "$out" = logged-in ] || die "unexpected ssh output: $out"
    grep -q "Accepted publickey for $USER_NAME" "$WORK/sshd.log" || die "sshd did not log the key login ($1)"
    kill "$SSHD_PID"; wait "$SSHD_PID" 2>/dev/null || true; SSHD_PID=
    say "key login through the real sshd ($1): ok"
}
login "after setup"
grep -q 'version = "9.2p1"' /var/lib/keyward/setup.toml || die "setup did not record the sshd release in /var/lib/keyward/setup.toml"

# The upgrade, as unattended-upgrades runs it: no terminal, no --force-conf*.
dpkg --verify keyward | grep keyward.toml && die "setup changed the conffile /etc/keyward/keyward.toml"
dpkg -i "$next" </dev/null || die "the upgrade to a version with another sample keyward.toml failed"
[ "$(dpkg-query -W -f='${Version} ${db:Status-Abbrev}' keyward)" = "99.0.0 ii " ] \
    || die "the upgrade left keyward $(dpkg-query -W -f='${Version} ${db:Status-Abbrev}' keyward)"
! dpkg --verify keyward | grep keyward.toml || die "the conffile differs from the package's after the upgrade"
grep -q 'a comment the next release added' /etc/keyward/keyward.toml || die "the upgrade did not install the new sample"
say "upgraded with no terminal: no conffile prompt, keyward.toml is the package's"
login "after the upgrade"

keyward setup --undo --no-reload
[ "$(snapshot)" = "$before" ] || die "setup --undo did not leave sshd as it was"
dpkg --purge keyward
[ "$(snapshot)" = "$before" ] || die "purge changed sshd"
[ ! -e /usr/bin/keyward ] && [ ! -e /etc/keyward/keyward.toml ] || die "purge left package files"
[ -f "/etc/keyward/users/$USER_NAME" ] || die "purge removed the admin's keys"
say "undo and purge: sshd as before, the admin's keys kept"

# packaging/install.sh under sudo, as an admin whose Rust is in their own
# account: sudo's secure_path has no ~/.cargo/bin. Their cargo here is a
# stand-in that records who ran it and takes the binary built above.
ADMIN=kwtadm$$
useradd -m -s /bin/bash "$ADMIN"
printf '%s ALL=(root) NOPASSWD: ALL\n' "$ADMIN" > /etc/sudoers.d/keyward-test
chmod 0440 /etc/sudoers.d/keyward-test
install_cleanup() {
    rm -f /etc/sudoers.d/keyward-test /usr/bin/keyward /usr/share/man/man8/keyward.8 /usr/share/man/man5/keyward.toml.5 \
        /usr/share/bash-completion/completions/keyward /usr/share/zsh/vendor-completions/_keyward \
        /etc/keyward/keyward.toml
    userdel -r "$ADMIN" >/dev/null 2>&1 || true
    cleanup
}
trap install_cleanup EXIT INT TERM
home=$(getent passwd "$ADMIN" | cut -d: -f6)
runuser -u "$ADMIN" -- mkdir "$home/keyward"
git archive HEAD | runuser -u "$ADMIN" -- tar -x -C "$home/keyward"
install -d -o "$ADMIN" -g "$ADMIN" "$home/.cargo" "$home/.cargo/bin"
cat > "$home/.cargo/bin/cargo" <<STANDIN
#!/bin/sh
[ "\$*" = "build --release --locked" ] || exit 2
id -un > built-by
mkdir -p target/release && cp "$PWD/target/release/keyward" target/release/keyward
STANDIN
chown "$ADMIN:" "$home/.cargo/bin/cargo"; chmod 0755 "$home/.cargo/bin/cargo"
runuser -u "$ADMIN" -- bash -c "cd ~/keyward && sudo bash packaging/install.sh --dry-run" > "$WORK.install.log" 2>&1 \
    || { cat "$WORK.install.log" >&2; die "sudo bash packaging/install.sh failed for an admin with their own cargo"; }
[ "$(cat "$home/keyward/built-by")" = "$ADMIN" ] || die "install.sh did not build as $ADMIN, who ran sudo"
[ "$(stat -c %U "$home/keyward/target/release/keyward")" = "$ADMIN" ] || die "install.sh left root's files in $ADMIN's tree"
[ -x /usr/bin/keyward ] || die "install.sh did not install /usr/bin/keyward"
[ "$(snapshot)" = "$before" ] || die "install.sh with setup --dry-run changed sshd"
rm -f "$WORK.install.log"
say "install.sh under sudo: built as $ADMIN with their own cargo, installed, sshd unchanged (dry run)"
say "ok"
