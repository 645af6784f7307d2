#!/usr/bin/env bash
# Runs every keyward test on Debian 12, as root. It says what it will change
# before it changes anything, and puts the machine back at the end, also
# after a failure or Ctrl-C:
#   - installs the packages the tests need that are missing (OpenSSH server
#     and client, python3, a C toolchain and Debian's OpenSSH source for the
#     differential test's oracle, OpenLDAP and SSSD for the chaining test)
#     and purges them again at the end (KEYWARD_TEST_KEEP_PACKAGES=1 keeps
#     them, as CI does; their services stay disabled either way);
#   - undoes right away what installing libnss-sss and libpam-sss did to
#     /etc/nsswitch.conf and /etc/pam.d/common-*; tests/sssd.rs adds `sss`
#     to nsswitch.conf only while it runs;
#   - adds a deb-src line for the oracle's source while it is fetched;
#   - creates test users kwt<digits>, /var/lib/keyward-test, /run/sshd and
#     the system user keyward (setup's command user), and removes those
#     that were not there before.
# Then: tests/oracle/build.sh, cargo test. Prerequisites that are missing
# are listed as SKIPPED at the end. The dependency audit runs in .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tests/run.sh: run as root (the tests create users and root-owned trees)" >&2; exit 1; }
say() { echo "tests/run.sh: $*"; }

missing=()
for pkg in openssh-server openssh-client util-linux passwd python3 git \
    autoconf automake build-essential libssl-dev zlib1g-dev libpam0g-dev dpkg-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# The directory for tests/sssd.rs: the tests start their own slapd and sssd,
# so the packages' own daemons must not start (policy-rc.d says no while
# they install).
ldap=()
for pkg in slapd ldap-utils sssd-common sssd-ldap libnss-sss; do
    dpkg -s "$pkg" >/dev/null 2>&1 || ldap+=("$pkg")
done
keyward_user_existed=0
getent passwd keyward >/dev/null && keyward_user_existed=1
run_sshd_existed=0
[ -d /run/sshd ] && run_sshd_existed=1

say "this run changes the machine, and puts it back at the end:"
if [ ${#missing[@]} -gt 0 ] || [ ${#ldap[@]} -gt 0 ]; then
    say "  installs ${missing[*]} ${ldap[*]}"
    if [ "${KEYWARD_TEST_KEEP_PACKAGES:-0}" = 1 ]; then
        say "  and keeps them (KEYWARD_TEST_KEEP_PACKAGES=1), their services disabled"
    else
        say "  and purges them at the end (KEYWARD_TEST_KEEP_PACKAGES=1 keeps them)"
    fi
fi
say "  /etc/nsswitch.conf and /etc/pam.d/common-*: as they are now, whatever a package install does;"
say "    the SSSD test adds 'sss' to nsswitch.conf only while it runs"
say "  creates and removes test users kwt<digits>, /var/lib/keyward-test, /run/sshd and the user keyward"
if [ -t 0 ] && [ -z "${CI:-}" ]; then
    say "starting in 5 s; Ctrl-C to stop"
    sleep 5
fi

# What package installs may change, as it is now.
snap=$(mktemp -d)
cp -p /etc/nsswitch.conf "$snap/"
mkdir -p "$snap/pam.d"
cp -p /etc/pam.d/common-* "$snap/pam.d/" 2>/dev/null || true
restore_nss_pam() {
    cmp -s "$snap/nsswitch.conf" /etc/nsswitch.conf || cp -p "$snap/nsswitch.conf" /etc/nsswitch.conf
    for f in "$snap"/pam.d/common-*; do
        [ -e "$f" ] || continue
        cmp -s "$f" "/etc/pam.d/${f##*/}" || cp -p "$f" "/etc/pam.d/${f##*/}"
    done
}

src_list=/etc/apt/sources.list.d/keyward-tests-src.sources
installed=()
cleanup() {
    # Test users are named kwt<digits>; anything left by an interrupted run goes.
    for u in $(getent passwd | awk -F: '$1 ~ /^kwt[0-9]+$/ { print $1 }'); do
        userdel "$u" >/dev/null 2>&1 || true
    done
    rm -rf /var/lib/keyward-test
}
finish() {
    set +e
    cleanup
    if [ -f "$src_list" ]; then
        rm -f "$src_list"
        apt-get update -qq
    fi
    if [ ${#installed[@]} -gt 0 ] && [ "${KEYWARD_TEST_KEEP_PACKAGES:-0}" != 1 ]; then
        say "purging what this run installed: ${installed[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq --auto-remove "${installed[@]}" >/dev/null
    fi
    restore_nss_pam
    [ "$keyward_user_existed" = 1 ] || userdel keyward >/dev/null 2>&1
    [ "$run_sshd_existed" = 1 ] || rmdir /run/sshd 2>/dev/null
    rm -rf "$snap"
}
trap finish EXIT
trap 'exit 130' INT TERM

if [ ${#missing[@]} -gt 0 ] || [ ${#ldap[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    if [ ${#missing[@]} -gt 0 ]; then
        installed+=("${missing[@]}")
        apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if [ ${#ldap[@]} -gt 0 ]; then
        installed+=("${ldap[@]}")
        policy=/usr/sbin/policy-rc.d
        own_policy=0
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=1
        fi
        apt-get install -y -qq --no-install-recommends "${ldap[@]}" >/dev/null
        if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
        # Not at boot either: the tests start their own.
        for svc in slapd sssd; do
            update-rc.d "$svc" disable >/dev/null 2>&1 || true
            deb-systemd-helper disable "$svc.service" >/dev/null 2>&1 || true
        done
    fi
    restore_nss_pam
fi
install -d -m 0755 /run/sshd   # sshd's privilege-separation directory

# Debian's own OpenSSH source (the installed sshd's, patches applied) needs a
# deb-src line; add one for bookworm for the build when there is none.
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

cleanup
bash tests/oracle/build.sh
if [ -f "$src_list" ]; then
    rm -f "$src_list"
    apt-get update -qq || true
fi
cargo test --locked "$@"

# What did not run for want of a prerequisite, where a reader sees it.
skipped=()
for o in debian-9.2p1 8.2p1 10.5p1; do
    [ -x "target/oracle/$o/authkeys-oracle" ] || skipped+=("differential tests against OpenSSH $o: no source to build it from")
done
[ -x target/oracle/8.2p1/sshd ] || skipped+=("tests/sshd82.rs and the 8.2p1 part of tests/check_key.rs: no sshd 8.2p1 built")
[ -x target/oracle/10.5p1/sshd ] || skipped+=("the 10.5p1 part of tests/check_key.rs: no sshd 10.5p1 built")
for bin in /usr/sbin/slapd /usr/sbin/sssd /usr/bin/sss_ssh_authorizedkeys; do
    [ -e "$bin" ] || skipped+=("tests/sssd.rs: $bin is not installed")
done
if [ ${#skipped[@]} -gt 0 ]; then
    for s in "${skipped[@]}"; do say "SKIPPED: $s"; done
    if [ "${KEYWARD_TEST_REQUIRE_ALL:-0}" = 1 ]; then
        say "KEYWARD_TEST_REQUIRE_ALL=1: a skipped test is a failure"
        exit 1
    fi
fi
