#!/usr/bin/env bash
# Base exchange CPU per algorithm set (initiator and responder separately) and
# the responder's I1 -> R1 and I2 verification rates, RUNS times (default 3);
# prints a table of medians. Baseline for the ratio column: the goal of 1 ms
# for a whole ECDSA-P256/ECDH-P256 exchange (issue 3).
#   bash bench/bex.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
out=$(mktemp -d)
for r in $(seq 1 "$RUNS"); do
  cargo bench -q -p hip-proto --bench bex -- --warm-up-time 1 --noplot > "$out/run$r.log" 2>&1
done
python3 bench/bex_table.py "$out"/run*.log
