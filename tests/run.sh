#!/usr/bin/env bash
# Runs every keyward test on Debian 12, as root: installs what the tests need
# (OpenSSH server and client; python3 and git for the dependency audit; a C
# toolchain and Debian's OpenSSH source for the differential test's oracle;
# OpenLDAP and SSSD for the chaining test, kept from starting on install),
# builds that oracle (tests/oracle/build.sh), then cargo test, then
# tests/audit-deps.sh. Leaves no test user behind.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tests/run.sh: run as root (the tests create users and root-owned trees)" >&2; exit 1; }

missing=()
for pkg in openssh-server openssh-client util-linux passwd python3 git \
    autoconf automake build-essential libssl-dev zlib1g-dev libpam0g-dev dpkg-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# The directory for tests/sssd.rs: the tests start their own slapd and sssd,
# so the packages' own daemons must not start (policy-rc.d says no while
# they install). libnss-sss adds `sss` to /etc/nsswitch.conf.
ldap=()
for pkg in slapd ldap-utils sssd-common sssd-ldap libnss-sss; do
    dpkg -s "$pkg" >/dev/null 2>&1 || ldap+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ] || [ ${#ldap[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if [ ${#ldap[@]} -gt 0 ]; then
        policy=/usr/sbin/policy-rc.d
        own_policy=0
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=1
        fi
        apt-get install -y -qq --no-install-recommends "${ldap[@]}" >/dev/null
        if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
    fi
fi
install -d -m 0755 /run/sshd   # sshd's privilege-separation directory

# Debian's own OpenSSH source (the installed sshd's, patches applied) needs a
# deb-src line; add one for bookworm for the build when there is none.
src_list=/etc/apt/sources.list.d/keyward-tests-src.sources
if ! grep -rqs '^\(Types: \)\?deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat >"$src_list" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq
fi

cleanup() {
    # Test users are named kwt<digits>; anything left by an interrupted run goes.
    for u in $(getent passwd | awk -F: '$1 ~ /^kwt[0-9]+$/ { print $1 }'); do
        userdel "$u" >/dev/null 2>&1 || true
    done
    rm -rf /var/lib/keyward-test
}
cleanup_sources() {
    if [ -f "$src_list" ]; then
        rm -f "$src_list"
        apt-get update -qq || true
    fi
}
cleanup
trap 'cleanup; cleanup_sources' EXIT INT TERM
bash tests/oracle/build.sh
cleanup_sources
cargo test --locked "$@"
bash tests/audit-deps.sh
