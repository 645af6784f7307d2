#!/bin/sh
# Put keyward's lines back into sshd_config after a DSM update reset it.
# DSM: Control Panel > Task Scheduler > Create > Triggered Task >
# User-defined script, User: root, Event: Boot-up, command:
#   sh /volume1/@keyward/reapply.sh
# Idempotent: when keyward is still registered it changes nothing.
set -eu
BASE=${KEYWARD_BASE:-/volume1/@keyward}
set --
if [ -f "$BASE/setup-args" ]; then
    while IFS= read -r a; do set -- "$@" "$a"; done < "$BASE/setup-args"
fi
exec "$BASE/bin/keyward" --config "$BASE/keyward.toml" setup "$@"
