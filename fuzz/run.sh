#!/usr/bin/env bash
# Build every fuzz target on the stable toolchain (libFuzzer via
# libfuzzer-sys, sanitizer-coverage instrumentation through stable -C
# flags; no ASan, which needs nightly) and run each for SECONDS seconds,
# seeded from the reference captures in ../shared/interop when present.
# Exits non-zero if a target crashes.
set -euo pipefail
SECONDS_EACH=${1:-30}
cd "$(dirname "$0")"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares"
export CARGO_TARGET_DIR="$PWD/target"
# With an explicit --target, RUSTFLAGS reach only the fuzzed code, not the
# build scripts and proc macros (which must not be instrumented).
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --bins --target "$TRIPLE"

shared=../../shared/interop
mkdir -p corpus/hip_packet corpus/pcap_inspect corpus/esp_open corpus/endpoint corpus/endpoint_packets corpus/hip_rr artifacts
if [ -d "$shared" ]; then
  find "$shared" -name '*.pcap' -size -64k -exec cp {} corpus/pcap_inspect/ \;
  python3 seeds.py "$shared" corpus/hip_packet
  # endpoint_packets takes length-prefixed packets: one captured packet per seed.
  python3 - <<'PY'
import os, struct
src, dst = "corpus/hip_packet", "corpus/endpoint_packets"
for name in sorted(os.listdir(src))[:200]:
    b = open(os.path.join(src, name), "rb").read()
    open(os.path.join(dst, name), "wb").write(struct.pack(">H", len(b)) + b)
PY
fi

for t in hip_packet pcap_inspect esp_open endpoint endpoint_packets hip_rr; do
  echo "== fuzz $t for ${SECONDS_EACH}s"
  "./target/$TRIPLE/release/$t" "corpus/$t" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
    -max_len=4096 -artifact_prefix="artifacts/$t-" -print_final_stats=1 2>&1 | tail -n 12
done
