#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit/property/integration tests
# (namespace tests need root and skip with a message without it), and a short
# bounded fuzz run of every fuzz target. README.md names this command.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test"
cargo test --workspace -- --test-threads=2

if [ -d fuzz/fuzz_targets ] && ls fuzz/fuzz_targets/*.rs >/dev/null 2>&1; then
  echo "== fuzz (bounded)"
  bash fuzz/run.sh "${FUZZ_SECONDS:-30}"
fi
