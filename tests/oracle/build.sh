#!/usr/bin/env bash
# Builds OpenSSH's own authorized_keys line parser (tests/oracle/authkeys.c)
# from every OpenSSH source it finds, into target/oracle/<name>/, for
# tests/differential.rs; for 8.2p1 and 10.5p1 it also builds that sshd
# (10.x: with sshd-session and sshd-auth), for tests/sshd82.rs and
# tests/check_key.rs. A source that is not there is skipped and said so.
#   debian-9.2p1  Debian's own source of the installed sshd: apt-get source
#                 openssh (needs a deb-src line; tests/run.sh adds one)
#   8.2p1, 10.5p1 upstream tarballs in ../shared/openssh/
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=$root/target/oracle
mkdir -p "$out"
jobs=$(nproc)

# build NAME VERSION DEBIAN(0|1) SRCDIR [sshd]
# (--sysconfdir=/etc/ssh: the sshd finds the host keys where DSM and Debian keep them)
build() {
    local name=$1 version=$2 debian=$3 src=$4 with_sshd=${5:-}
    local dir=$out/$name
    if [ -x "$dir/authkeys-oracle" ] && [ "$dir/authkeys-oracle" -nt tests/oracle/authkeys.c ] \
        && { [ -z "$with_sshd" ] || [ -x "$dir/sshd" ]; }; then
        echo "oracle $name: up to date"
        return
    fi
    echo "oracle $name: building from $src"
    rm -f "$dir/authkeys-oracle"
    # A subshell on the left of || runs without set -e: every step says so.
    (
        cd "$src" || exit 1
        if [ ! -x configure ] || [ configure.ac -nt configure ]; then autoreconf -fi >/dev/null 2>&1 || exit 1; fi
        [ -f config.h ] || ./configure --sysconfdir=/etc/ssh --with-privsep-path=/run/sshd --with-pam >"$dir.configure.log" 2>&1 || exit 1
        if [ -n "$with_sshd" ]; then
            # 9.8 split the server: the listener execs sshd-session, which
            # execs sshd-auth (10.0); the tests name their paths.
            local parts=sshd
            grep -q '^sshd-session' Makefile && parts="$parts sshd-session"
            grep -q '^sshd-auth' Makefile && parts="$parts sshd-auth"
            make -j"$jobs" $parts >"$dir.make.log" 2>&1 || exit 1
            for p in $parts; do cp "$p" "$dir/$p" || exit 1; done
        else
            make -j"$jobs" libssh.a openbsd-compat/libopenbsd-compat.a >"$dir.make.log" 2>&1 || exit 1
        fi
        # sshkey_sign() takes a security-key PIN from 8.4 on.
        local pin=""
        case $version in 8.[0-3]*|[1-7].*) pin=-DORACLE_SIGN_NO_PIN ;; esac
        gcc -O1 -I. -Iopenbsd-compat -DHAVE_CONFIG_H $pin -o "$dir/authkeys-oracle" \
            "$root/tests/oracle/authkeys.c" "$root/tests/oracle/stubs.c" auth-options.c \
            -L. -Lopenbsd-compat -lssh -lopenbsd-compat -lcrypto -lz 2>>"$dir.make.log"
    ) || { echo "oracle $name: build failed, see $dir.make.log" >&2; return 1; }
    printf '%s %s\n' "$version" "$debian" >"$dir/version"
    echo "oracle $name: built"
}

upstream() {
    local version=$1 tag=$2 with_sshd=${3:-}
    local tarball=$root/../shared/openssh/openssh-$tag.tar.gz
    if [ ! -f "$tarball" ]; then
        echo "oracle $version: skipped: no source ($tarball)"
        return
    fi
    mkdir -p "$out/$version/src"
    [ -f "$out/$version/src/auth-options.c" ] || tar -xzf "$tarball" -C "$out/$version/src" --strip-components=1
    build "$version" "$version" 0 "$out/$version/src" "$with_sshd"
}

debian() {
    local dir=$out/debian-9.2p1
    mkdir -p "$dir"
    local src
    src=$(find "$dir" -maxdepth 1 -type d -name 'openssh-*' | head -1)
    if [ -z "$src" ]; then
        if ! (cd "$dir" && apt-get source -qq openssh >"$dir.apt.log" 2>&1); then
            echo "oracle debian-9.2p1: skipped: no source (apt-get source openssh failed; see $dir.apt.log)"
            return
        fi
        src=$(find "$dir" -maxdepth 1 -type d -name 'openssh-*' | head -1)
    fi
    build debian-9.2p1 9.2p1 1 "$src"
}

debian
upstream 8.2p1 V_8_2_P1 sshd
upstream 10.5p1 V_10_5_P1 sshd
