#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) on top of its corpus, for
# CI: `cargo test` only replays the corpus. Needs cargo-fuzz (installed from
# crates.io when missing) and a compiler that takes -Zsanitizer: a nightly
# toolchain, or stable with RUSTC_BOOTSTRAP=1 as here. New inputs that
# found new paths are left in fuzz/corpus/ for a developer to minimize and
# commit; a failure leaves its input in fuzz/artifacts/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
cargo fuzz build
for t in $targets; do
    echo "fuzz: $t for ${seconds} s"
    cargo fuzz run "$t" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 \
        | grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|Done)' || true
    # grep hides libFuzzer's chatter; the exit status is cargo fuzz's own.
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/" >&2; exit 1; }
done
echo "fuzz: every target ran ${seconds} s without a failure"
