#!/usr/bin/env bash
# Checks keyward's dependencies against the RustSec advisory database,
# offline: the database comes from KEYWARD_ADVISORY_DB, or the snapshot in
# ../shared/advisory-db beside this repository (as CI has it); without
# either, cargo-audit fetches it.
#
# Fails on a crate with a vulnerability advisory that is compiled into
# keyward: cargo-audit reads the whole Cargo.lock, which also lists optional
# dependencies no feature turns on, so each
# finding is kept only if `cargo tree` shows the crate in the normal or build
# dependencies for this machine. First the gate must fail on a fixture crate
# that compiles in a known-vulnerable dependency.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-audit >/dev/null || cargo install cargo-audit --locked

src=${KEYWARD_ADVISORY_DB:-}
[ -n "$src" ] || { [ -d ../shared/advisory-db/crates ] && src=../shared/advisory-db; }
args=()
if [ -n "$src" ]; then
    # cargo-audit reads a git repository; the snapshot is plain files.
    db=$PWD/target/advisory-db
    rm -rf "$db"
    mkdir -p "$db"
    cp -r "$src"/. "$db"/
    git -C "$db" init -q
    git -C "$db" add -A
    git -C "$db" -c user.email=ci@localhost -c user.name=ci commit -qm snapshot
    args=(--db "$db" --no-fetch --stale)
fi

# gate DIR: the vulnerable crates compiled into the crate in DIR, one line
# each; exit 1 when there is any.
gate() {
    local dir=$1 report err=target/audit-deps.err
    report=$(cargo audit "${args[@]}" --json --file "$dir/Cargo.lock" 2>"$err") || true
    if [ -z "$report" ]; then
        echo "audit-deps: cargo audit gave no report for $dir: $(tail -n 3 "$err")" >&2
        [ -n "$src" ] || echo "audit-deps: no advisory database here and none could be fetched; put the RustSec snapshot in ../shared/advisory-db or name it in KEYWARD_ADVISORY_DB" >&2
        return 2
    fi
    python3 - "$dir" "$report" <<'PY'
import json, subprocess, sys
directory, report = sys.argv[1], json.loads(sys.argv[2])
found = 0
for v in report["vulnerabilities"]["list"]:
    name, version = v["package"]["name"], v["package"]["version"]
    what = f'{name} {version}: {v["advisory"]["id"]} {v["advisory"]["title"]}'
    tree = subprocess.run(
        ["cargo", "tree", "--locked", "--manifest-path", f"{directory}/Cargo.toml",
         "-e", "normal,build", "-i", f"{name}@{version}"],
        capture_output=True, text=True)
    if tree.returncode != 0:
        print(f"audit-deps: cannot tell whether {name} is compiled in: {tree.stderr.strip()}")
        found += 1
    elif tree.stdout.strip():
        print(f"audit-deps: compiled in: {what}")
        found += 1
    else:
        print(f"audit-deps: in Cargo.lock but not compiled in (no feature turns it on): {what}")
sys.exit(1 if found else 0)
PY
}

if gate tests/fixtures/vulnerable >/dev/null; then
    echo "audit-deps: FAIL: the gate passed a crate that compiles in smallvec 1.6.0 (RUSTSEC-2021-0003)" >&2
    exit 1
fi
gate .
echo "audit-deps: no crate compiled into keyward has a vulnerability advisory"
