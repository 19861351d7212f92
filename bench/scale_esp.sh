#!/usr/bin/env bash
# ESP throughput to one peer while a hipd holds many idle associations, as a
# ratio to the same hipd with that one association (issue 16: goal at least
# 0.9). Three namespaces: S runs the hipd under test, P a second hipd and the
# iperf3 end, L the load tool (hip-load) that gives S its idle associations.
# Each round starts both hipds afresh, measures single-stream TCP over S's
# HIT both ways with one association, adds COUNT associations with
# hip-load, and measures again; the ratio is taken per round and the median
# printed. Root; documentation addresses only; removes its namespaces on
# exit.
#   bash bench/scale_esp.sh [COUNT] [ROUNDS] [SECS]   (default: 10000 3 5)
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-10000}
ROUNDS=${2:-3}
SECS=${3:-5}
command -v iperf3 >/dev/null || { echo "iperf3 is not installed" >&2; exit 1; }
cargo build --release -q -p hipd -p hip-tools
BIN=$PWD/target/release
SRC=1024
TMP=$(mktemp -d)
S=hiprsesp-s-$$ P=hiprsesp-p-$$ L=hiprsesp-l-$$
stop_hipds() {
    for ns in $S $P; do
        for p in $(ip netns pids $ns 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
    done
    for _ in $(seq 1 50); do
        [ -z "$(ip netns pids $S 2>/dev/null)$(ip netns pids $P 2>/dev/null)" ] && break
        sleep 0.2
    done
    for ns in $S $P; do
        for p in $(ip netns pids $ns 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    done
}
del_ns() {
    stop_hipds
    for p in $(ip netns pids $L 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    for ns in $S $P $L; do ip netns del $ns 2>/dev/null || true; done
}
cleanup() {
    del_ns
    rm -rf "$TMP"
}
# Fresh namespaces every round: nothing of one round's hipds (TUN devices,
# routes, SAs) is left for the next.
add_ns() {
    for ns in $S $P $L; do ip netns add $ns; ip -n $ns link set lo up; done
    ip link add veth-sp netns $S type veth peer name veth-ps netns $P
    ip link add veth-sl netns $S type veth peer name veth-ls netns $L
    ip -n $S addr add 192.0.2.1/24 dev veth-sp; ip -n $P addr add 192.0.2.2/24 dev veth-ps
    ip -n $S addr add 2001:db8::1/64 dev veth-sl nodad
    for dev in "$S veth-sp" "$S veth-sl" "$P veth-ps" "$L veth-ls"; do
        set -- $dev; ip -n "$1" link set "$2" up
    done
    for i in $(seq 0 $((SRC - 1))); do
        printf 'address add 2001:db8::%x/64 dev veth-ls nodad\n' $((0x1000 + i))
    done | ip -n $L -b -
}
trap cleanup EXIT INT TERM
hc() { local ns=$1; shift; ip netns exec "$ns" "$BIN/hipconf" --socket "$TMP/$ns.sock" "$@"; }
hit_of() { hc "$1" --json daemon get hi default | sed 's/.*"hit":"\([^"]*\)".*/\1/'; }
iperf() { # DST [-R] -> Mbit/s, P the client
    ip netns exec $S timeout $((SECS + 20)) iperf3 -s -1 >/dev/null 2>&1 &
    sleep 0.5
    ip netns exec $P timeout $((SECS + 15)) iperf3 -c "$1" ${2:-} -t "$SECS" -J 2>/dev/null |
        python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))'
    wait || true
}
ROWS=$TMP/rows
echo "round  one->S  one<-S  assocs  idle->S  idle<-S  (Mbit/s, TCP over S's HIT from P)"
for r in $(seq 1 "$ROUNDS"); do
    add_ns
    for ns in $S $P; do
        rm -rf "${TMP:?}/$ns"; mkdir -p "$TMP/$ns"
        RUST_LOG=warn ip netns exec $ns "$BIN/hipd" --foreground --config-dir "$TMP/$ns" \
            --socket "$TMP/$ns.sock" 2>"$TMP/$ns.log" &
    done
    for _ in $(seq 1 100); do
        [ -S "$TMP/$S.sock" ] && [ -S "$TMP/$P.sock" ] && break
        sleep 0.1
    done
    HIT_S=$(hit_of $S); HIT_P=$(hit_of $P)
    hc $S daemon add map "$HIT_P" 192.0.2.2 >/dev/null
    hc $P daemon add map "$HIT_S" 192.0.2.1 >/dev/null
    ip netns exec $P ping -c 3 -W 2 "$HIT_S" >/dev/null ||
        { echo "no association: $(tail -5 "$TMP/$P.log")" >&2; exit 1; }
    one_in=$(iperf "$HIT_S"); one_out=$(iperf "$HIT_S" -R)
    out=$(ip netns exec $L "$BIN/hip-load" establish --target-hit "$HIT_S" --target 2001:db8::1 \
        --source-base 2001:db8::1000 --source-count $SRC --count "$COUNT" --rate 2000 \
        --inflight 256 --timeout 300)
    est=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["established"])')
    idle_in=$(iperf "$HIT_S"); idle_out=$(iperf "$HIT_S" -R)
    printf '%5d %7s %7s %7s %8s %8s\n' "$r" "$one_in" "$one_out" "$est" "$idle_in" "$idle_out" |
        tee -a "$ROWS"
    del_ns
    rm -f "$TMP/$S.sock" "$TMP/$P.sock"
done
python3 - "$ROWS" "$COUNT" <<'PY'
import statistics, sys
rows = [[float(x) for x in l.split()] for l in open(sys.argv[1]) if l.strip()]
into = statistics.median(r[4] / r[1] for r in rows if r[1])
outof = statistics.median(r[5] / r[2] for r in rows if r[2])
est = statistics.median(r[3] for r in rows)
print(f"median ratio with {est:.0f} idle associations to one association: "
      f"into S x{into:.2f}, out of S x{outof:.2f} ({len(rows)} rounds)")
PY
