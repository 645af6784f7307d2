#!/usr/bin/env bash
# Runs every keyward test on Debian 12, as root: installs what the tests need
# (OpenSSH server and client; python3 and git for the dependency audit), then
# cargo test, then tests/audit-deps.sh. Leaves no test user behind.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tests/run.sh: run as root (the tests create users and root-owned trees)" >&2; exit 1; }

missing=()
for pkg in openssh-server openssh-client util-linux passwd python3 git; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
install -d -m 0755 /run/sshd   # sshd's privilege-separation directory

cleanup() {
    # Test users are named kwt<digits>; anything left by an interrupted run goes.
    for u in $(getent passwd | awk -F: '$1 ~ /^kwt[0-9]+$/ { print $1 }'); do
        userdel "$u" >/dev/null 2>&1 || true
    done
    rm -rf /var/lib/keyward-test
}
cleanup
trap cleanup EXIT INT TERM
cargo test --locked "$@"
bash tests/audit-deps.sh
