#!/usr/bin/env bash
# ESP seal+open per suite and payload size, RUNS times (default 3), then a
# table of the median time per run and its ratio to raw ring AES-128-GCM on
# the same buffers, measured in the same run. FILTER (a criterion regex on
# the bench ids, e.g. 'raw-ring|Aes128CbcHmacSha1|AesGcm8') limits the suites;
# keep raw-ring-aes128gcm in it, the ratios need it.
#   bash bench/esp.sh [RUNS] [FILTER]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
FILTER=${2:-}
out=$(mktemp -d)
for r in $(seq 1 "$RUNS"); do
  cargo bench -q -p hip-esp --bench esp -- ${FILTER:+"$FILTER"} --warm-up-time 1 --measurement-time 3 --noplot > "$out/run$r.log" 2>&1
done
python3 bench/esp_table.py "$out"/run*.log
