#!/bin/sh
# Install keyward on Synology DSM 7 as root (sudo -i), from a binary built
# with packaging/build-dsm.sh:
#
#   sh install.sh ./keyward-x86_64 [keyward setup options, e.g. --command-user NAME]
#
# Everything lives in a root-owned directory on the data volume, which DSM
# updates leave alone (they may reset /etc/ssh/sshd_config; reapply.sh, run
# by a boot-up task, puts keyward's lines back):
#   $BASE/bin/keyward      the binary, root 0755 (sshd refuses anything else)
#   $BASE/keyward.toml     the config: the store below
#   $BASE/store/users/     the keys: keyward add / keyward import
#   $BASE/setup-args       the setup options given here, for reapply.sh
#   $BASE/state/warned/    when keyward last warned about each user's home
#   $BASE/state/setup.toml what setup found (the sshd release, an adopted command)
# `keyward setup` does the sshd part: before the Match blocks of
# sshd_config, with a dated backup, sshd -t, reload, rollback on failure.
# Running this again changes nothing. Never creates accounts (DSM owns
# /etc/passwd and its updates may rewrite it), so keyward runs as `nobody`
# here rather than as a `keyward` account of its own; if `nobody` is
# missing, pass --command-user with an existing unprivileged account.
set -eu
BASE=${KEYWARD_BASE:-/volume1/@keyward}
die() { echo "keyward install: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo -i)"
[ $# -ge 1 ] && [ -f "$1" ] || die "usage: sh install.sh PATH-TO-keyward-BINARY [setup options]"
src=$1
shift

for d in "$BASE" "$BASE/bin" "$BASE/store" "$BASE/store/users"; do
    mkdir -p "$d"
    chown root:root "$d"
    chmod 0755 "$d"
done
cp "$src" "$BASE/bin/keyward.new"
chown root:root "$BASE/bin/keyward.new"
chmod 0755 "$BASE/bin/keyward.new"
mv -f "$BASE/bin/keyward.new" "$BASE/bin/keyward"
here=$(dirname "$0")
if [ -f "$here/reapply.sh" ]; then
    cp "$here/reapply.sh" "$BASE/reapply.sh"
    chown root:root "$BASE/reapply.sh"
    chmod 0755 "$BASE/reapply.sh"
fi
if [ ! -e "$BASE/keyward.toml" ]; then
    # platform = "synology" also where /etc/synoinfo.conf is missing: DSM's
    # chmod advice, and setup keeps nobody as the command user. The home
    # warnings' state lives beside the store, where DSM updates leave it.
    printf 'store = "%s/store"\nrecord = "%s/state/setup.toml"\n\n[home_check]\nplatform = "synology"\nstate = "%s/state/warned"\n' \
        "$BASE" "$BASE" "$BASE" > "$BASE/keyward.toml"
    chown root:root "$BASE/keyward.toml"
    chmod 0644 "$BASE/keyward.toml"
fi
: > "$BASE/setup-args"
for a in "$@"; do printf '%s\n' "$a" >> "$BASE/setup-args"; done
chmod 0644 "$BASE/setup-args"
"$BASE/bin/keyward" --version
exec "$BASE/bin/keyward" --config "$BASE/keyward.toml" setup "$@"
