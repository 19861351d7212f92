#!/usr/bin/env bash
# TCP throughput through the Data Relay (issue 12, RFC 9028 section 4.12):
# host B behind one `masquerade fully-random` NAT sends over the HIT to
# host A behind another, ESP through the relay on host A's permission; and,
# interleaved in the same sitting and testbed, host B to the relay's own
# host directly (the first leg alone). Goodput at the receiver (first to
# last byte), every round printed, then the medians and their ratio (goal:
# at least 0.5). Release build. Root; documentation addresses only; cleans
# up its namespaces.
#   bash bench/data_relay.sh                        # 5 rounds of 64 MiB
#   DATA_RELAY_ROUNDS=9 DATA_RELAY_MB=128 bash bench/data_relay.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -q --release -p hipr-tests --test nat bench_data_relay -- --ignored --nocapture 2>&1 |
  grep -E "^round|data relay|test result|panicked"
