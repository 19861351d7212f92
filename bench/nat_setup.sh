#!/usr/bin/env bash
# Connection setup through NAT <-> NAT (issue 12): host B behind one
# nftables masquerade NAT opens a TCP connection over the HIT to host A
# behind another, through the Control Relay Server with the hole punched,
# and, interleaved in the same sitting, to the public server (a base
# exchange through one NAT). Time from the first packet to the first byte
# at the listener, each on a fresh association; prints every round and the
# medians and their ratio (goal: at most 3). Release build. Root;
# documentation addresses only; cleans up its namespaces.
#   bash bench/nat_setup.sh            # 10 rounds
#   NAT_SETUP_ROUNDS=20 bash bench/nat_setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -q --release -p hipr-tests --test nat bench_nat_to_nat -- --ignored --nocapture 2>&1 |
  grep -E "^round|nat setup|test result|panicked"
