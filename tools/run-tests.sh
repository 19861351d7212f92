#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit/property/capture/integration
# tests (namespace tests need root and skip with a message without it), and
# a short bounded fuzz run of every fuzz target. README.md names this command.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test"
# Tests that skip (no root, a peer or tool not installed) name themselves here
# (tests/src/skip.rs), so that the closing line does not count them as passes.
HIPR_SKIP_LOG=$(mktemp)
export HIPR_SKIP_LOG
trap 'rm -f "$log" "$HIPR_SKIP_LOG"' EXIT
cargo test --workspace -- --test-threads=2 2>&1 | tee "$log"

echo "== Debian package (build, install into a fresh root, remove)"
bash packaging/test-package.sh

echo "== fuzz (bounded, ${FUZZ_SECONDS:-30} s per target)"
bash fuzz/run.sh "${FUZZ_SECONDS:-30}"

# One closing line summing every cargo test binary's result; a test that
# skipped is reported by libtest as passed and is counted here as skipped.
ran=$(awk '/^test result:/ {s += $4} END {print s + 0}' "$log")
failed=$(awk '/^test result:/ {s += $6} END {print s + 0}' "$log")
skipped=$(cut -f1 "$HIPR_SKIP_LOG" | sort -u | wc -l)
if [ "$skipped" -gt 0 ]; then
    echo "== skipped tests"
    sort -u -t "$(printf '\t')" -k1,1 "$HIPR_SKIP_LOG"
fi
echo "cargo test: $((ran - skipped)) passed, ${failed} failed, ${skipped} skipped"
