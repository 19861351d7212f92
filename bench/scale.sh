#!/usr/bin/env bash
# hipd at scale, driven by hip-load (one process, many initiator identities,
# real raw sockets): resident memory of the responding hipd against its
# association count, and base exchanges completed per second of the
# responder's CPU time. Root; documentation addresses only; removes its
# namespaces on exit.
#   bash bench/scale.sh [COUNTS...]      (default: 1 1000 5000 10000)
# BASE=DIR (the target/release of another build, e.g. an older commit) runs
# that hipd and this one alternately, ROUNDS times (default 1 without BASE,
# 3 with it), with this tree's hip-load for both, and prints the medians and
# the ratios of this build to BASE.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNTS=${*:-1 1000 5000 10000}
cargo build --release -q -p hipd -p hip-tools
BIN=$PWD/target/release
SRC=1024   # source addresses: hipd allows 10 R1/s per destination
run_one() { # COUNT HIPD_DIR LABEL -> one row
    local n=$1 TMP S L
    TMP=$(mktemp -d); S=hiprscale-s-$$ L=hiprscale-l-$$
    cleanup() {
        for ns in $S $L; do
            for p in $(ip netns pids $ns 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
            ip netns del $ns 2>/dev/null || true
        done
        rm -rf "$TMP"
    }
    trap cleanup RETURN
    ip netns add $S; ip netns add $L
    ip -n $S link set lo up; ip -n $L link set lo up
    ip link add veth-s netns $S type veth peer name veth-l netns $L
    ip -n $S addr add 2001:db8::1/64 dev veth-s nodad
    ip -n $S link set veth-s up; ip -n $L link set veth-l up
    for i in $(seq 0 $((SRC - 1))); do
        printf 'address add 2001:db8::%x/64 dev veth-l nodad\n' $((0x1000 + i))
    done | ip -n $L -b -
    mkdir -p "$TMP/c"
    RUST_LOG=warn ip netns exec $S "$2/hipd" --foreground --config-dir "$TMP/c" --socket "$TMP/sock" 2>"$TMP/log" &
    for _ in $(seq 1 100); do [ -S "$TMP/sock" ] && break; sleep 0.1; done
    local hit pid cpu0 out cpu1 rss
    hit=$(ip netns exec $S "$BIN/hipconf" --socket "$TMP/sock" --json daemon get hi default | sed 's/.*"hit":"\([^"]*\)".*/\1/')
    pid=$(ip netns pids $S | head -1)
    cpu0=$(awk '{print $14 + $15}' /proc/$pid/stat)
    out=$(ip netns exec $L "$BIN/hip-load" establish --target-hit "$hit" --target 2001:db8::1 \
        --source-base 2001:db8::1000 --source-count $SRC --count "$n" --rate 2000 --inflight 256 --timeout 300)
    cpu1=$(awk '{print $14 + $15}' /proc/$pid/stat)
    sleep 1
    rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
    python3 - "$n" "$rss" "$cpu0" "$cpu1" "$out" "$3" <<'PY'
import json, sys
n, rss, c0, c1, out, label = sys.argv[1:]
r = json.loads(out)
cpu = (float(c1) - float(c0)) / 100
print(f"{label:<5} {n:>6} {int(rss)/1024:8.1f} {r['established']:>6} {r['seconds']:7.1f} {cpu:7.2f} "
      f"{r['established']/cpu if cpu else 0:9.0f} {r['latency_p50']*1000:7.1f}")
PY
}
ROUNDS=${ROUNDS:-$([ -n "${BASE:-}" ] && echo 3 || echo 1)}
ROWS=$(mktemp)
trap 'rm -f "$ROWS"' EXIT
echo "build  count  RSS MiB  estab  wall s  cpu s  BEX/cpu-s  p50 ms"
for _ in $(seq 1 "$ROUNDS"); do
    for n in $COUNTS; do
        if [ -n "${BASE:-}" ]; then run_one "$n" "$BASE" base | tee -a "$ROWS"; fi
        run_one "$n" "$BIN" this | tee -a "$ROWS"
    done
done
if [ -n "${BASE:-}" ] || [ "$ROUNDS" -gt 1 ]; then
    python3 - "$ROWS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {}
for label, n, rss, est, wall, cpu, rate, p50 in rows:
    med.setdefault((label, int(n)), []).append((float(rss), float(rate)))
print("medians: build  count  RSS MiB  BEX/cpu-s  (RSS, BEX/cpu-s vs base)")
for (label, n), v in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    rss = statistics.median(x for x, _ in v)
    rate = statistics.median(y for _, y in v)
    base = med.get(("base", n))
    ratio = ""
    if label == "this" and base:
        b_rss = statistics.median(x for x, _ in base)
        b_rate = statistics.median(y for _, y in base)
        ratio = f"  x{rss / b_rss:.2f}, " + (f"x{rate / b_rate:.2f}" if b_rate else "-")
    print(f"         {label:<5} {n:>6} {rss:8.1f} {rate:9.0f}{ratio}")
PY
fi
