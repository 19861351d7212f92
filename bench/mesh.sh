#!/usr/bin/env bash
# The 50-host mesh of issue 16: 50 namespaces on one bridge, each hipd given
# its 49 peers in a hosts file (hipconf daemon reload), every host pinging
# every other over its HIT at once (one retry, 5 s wait). Prints the time to
# the full mesh, how many pairs needed the retry, and each hipd's RSS and CPU.
# Root; documentation addresses only; cleans up its namespaces.
#   bash bench/mesh.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -q -p hipr-tests --test mesh a_50_host -- --ignored --nocapture 2>&1 | grep -E "mesh of|first failed|test result|panicked"
