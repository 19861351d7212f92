#!/usr/bin/env bash
# Single-stream TCP throughput through two hipd (BEET ESP, AES-128-CBC +
# HMAC-SHA-256 by default, over the peer's LSI and HIT) and, in the same run,
# over the plain veth between the same two namespaces. Prints Mbit/s (median of
# RUNS runs of SECS seconds each) and the ratio to plain veth. Root; uses
# documentation addresses only and removes its namespaces on exit.
#   bash bench/iperf.sh [RUNS] [SECS]
# HIPD_CONF="offload = no" (hipd.conf lines for both daemons) compares settings;
# HIPD=PATH runs another build's hipd. Also prints how many ESP packets one
# hipd sent that the other never received (lost in the kernel between them).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
SECS=${2:-5}
command -v iperf3 >/dev/null || { echo "iperf3 is not installed" >&2; exit 1; }
cargo build --release -q -p hipd -p hip-tools
BIN=$PWD/target/release
TMP=$(mktemp -d)
A=hiprbench-a-$$ B=hiprbench-b-$$
cleanup() {
    for ns in $A $B; do
        for p in $(ip netns pids $ns 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
    done
    sleep 1
    for ns in $A $B; do
        for p in $(ip netns pids $ns 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
        ip netns del $ns 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
ip netns add $A; ip netns add $B
ip -n $A link set lo up; ip -n $B link set lo up
ip link add veth-a netns $A type veth peer name veth-b netns $B
ip -n $A addr add 192.0.2.1/24 dev veth-a; ip -n $B addr add 192.0.2.2/24 dev veth-b
ip -n $A addr add 2001:db8::1/64 dev veth-a nodad; ip -n $B addr add 2001:db8::2/64 dev veth-b nodad
ip -n $A link set veth-a up; ip -n $B link set veth-b up
for ns in $A $B; do
    mkdir -p "$TMP/$ns/conf"
    printf '%b\n' "${HIPD_CONF:-}" > "$TMP/$ns/conf/hipd.conf"
    ip netns exec $ns "${HIPD:-$BIN/hipd}" --foreground --config-dir "$TMP/$ns/conf" --socket "$TMP/$ns/sock" \
        2>"$TMP/$ns/log" &
done
for _ in $(seq 1 100); do
    [ -S "$TMP/$A/sock" ] && [ -S "$TMP/$B/sock" ] && break
    sleep 0.1
done
hc() { ns=$1; shift; ip netns exec "$ns" "$BIN/hipconf" --socket "$TMP/$ns/sock" "$@"; }
HIT_A=$(hc $A --json daemon get hi default | sed 's/.*"hit":"\([^"]*\)".*/\1/')
HIT_B=$(hc $B --json daemon get hi default | sed 's/.*"hit":"\([^"]*\)".*/\1/')
hc $A daemon add map "$HIT_B" 192.0.2.2 >/dev/null
hc $B daemon add map "$HIT_A" 192.0.2.1 >/dev/null
LSI_B=$(hc $A daemon hit-to-lsi "$HIT_B")
ip netns exec $B iperf3 -s -D -1 >/dev/null 2>&1 || true
ip netns exec $A ping -c 3 -W 2 "$LSI_B" >/dev/null || { echo "no association: $(tail -5 "$TMP/$A/log")" >&2; exit 1; }

run() { # DST -> Mbit/s
    ip netns exec $B timeout $((SECS + 20)) iperf3 -s -1 >/dev/null 2>&1 &
    sleep 0.5
    ip netns exec $A timeout $((SECS + 15)) iperf3 -c "$1" -t "$SECS" -J 2>/dev/null |
        python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))'
    wait || true
}
declare -a veth lsi hit
for r in $(seq 1 "$RUNS"); do
    veth+=("$(run 192.0.2.2)")
    lsi+=("$(run "$LSI_B")")
    hit+=("$(run "$HIT_B")")
done
counter() { hc "$1" --json daemon stats | python3 -c "import json,sys; print(json.load(sys.stdin)['counters'].get('$2', 0))"; }
TX_A=$(counter $A esp_tx) RX_B=$(counter $B esp_rx) TX_B=$(counter $B esp_tx) RX_A=$(counter $A esp_rx)
python3 - "$TX_A" "$RX_B" "$TX_B" "$RX_A" <<'PY'
import sys
ta, rb, tb, ra = map(int, sys.argv[1:])
for d, t, r in (("A->B", ta, rb), ("B->A", tb, ra)):
    print(f"ESP {d}: sent {t}, received {r}, lost {t - r} ({100 * (t - r) / max(t, 1):.1f} %)")
PY
python3 - "${veth[*]}" "${lsi[*]}" "${hit[*]}" "$RUNS" "$SECS" <<'PY'
import statistics, sys
veth, lsi, hit = ([float(x) for x in a.split()] for a in sys.argv[1:4])
runs, secs = sys.argv[4], sys.argv[5]
base = statistics.median(veth)
print("| path | median Mbit/s | ratio to plain veth | runs x seconds |")
print("|---|---|---|---|")
for name, v in [("plain veth (baseline)", veth), ("hipd, TCP over LSI", lsi), ("hipd, TCP over HIT", hit)]:
    m = statistics.median(v)
    print("| %s | %.0f | %.3f | %s x %s |" % (name, m, m / base, runs, secs))
PY
