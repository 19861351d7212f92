#!/usr/bin/env bash
# Legitimate base-exchange latency at a hipd under an I1 flood (issue 16):
# hip-load runs COUNT real base exchanges (P-256 initiators, RATE per second)
# against one hipd, once on a quiet link and once while a second hip-load,
# in its own namespace on its own link to the hipd (so that the R1s answering
# the flood do not fill the legitimate initiators' raw socket), floods the
# same hipd with I1s from random HITs at FLOOD I1/s from FLOOD_SOURCES
# addresses routed through one next hop. Meanwhile a peer hipd P, on a third
# link, pings the hipd over its HIT (established ESP traffic, 10 per second)
# and its RTT is printed too. Each run has fresh namespaces and a fresh hipd;
# quiet and flooded runs alternate ROUNDS times, and the medians and the
# flooded/quiet ratios are printed. BASE=DIR (the target/release of another
# build) runs that hipd too, interleaved in every round, with this tree's
# hip-load. Root; documentation addresses only; removes its namespaces on
# exit.
#   bash bench/flood_latency.sh [ROUNDS] [FLOOD] [COUNT]   (default 3 100000 200)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3} FLOOD=${2:-100000} COUNT=${3:-200}
RATE=${RATE:-50} FLOOD_SOURCES=${FLOOD_SOURCES:-1024} LEGIT_SOURCES=64
cargo build --release -q -p hipd -p hip-tools
BIN=$PWD/target/release
run_one() { # flood|quiet HIPD_DIR LABEL -> one row
    local mode=$1 hipd_dir=$2 label=$3 TMP S L F P
    TMP=$(mktemp -d); S=hiprflood-s-$$ L=hiprflood-l-$$ F=hiprflood-f-$$ P=hiprflood-p-$$
    cleanup() {
        for ns in $S $L $F $P; do
            for p in $(ip netns pids $ns 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
            ip netns del $ns 2>/dev/null || true
        done
        rm -rf "$TMP"
    }
    trap cleanup RETURN
    ip netns add $S; ip netns add $L; ip netns add $F; ip netns add $P
    for ns in $S $L $F $P; do ip -n $ns link set lo up; done
    ip link add veth-sp netns $S type veth peer name veth-p netns $P
    ip -n $S addr add 2001:db8:3::1/64 dev veth-sp nodad
    ip -n $P addr add 2001:db8:3::2/64 dev veth-p nodad
    ip -n $S link set veth-sp up; ip -n $P link set veth-p up
    ip link add veth-s netns $S type veth peer name veth-l netns $L
    ip link add veth-sf netns $S type veth peer name veth-f netns $F
    ip -n $S addr add 2001:db8::1/64 dev veth-s nodad
    ip -n $S addr add 2001:db8:1::1/64 dev veth-sf nodad
    ip -n $S link set veth-s up; ip -n $L link set veth-l up
    ip -n $S link set veth-sf up; ip -n $F link set veth-f up
    for i in $(seq 0 $((LEGIT_SOURCES - 1))); do
        printf 'address add 2001:db8::%x/64 dev veth-l nodad\n' $((0x1000 + i))
    done | ip -n $L -b -
    # The flood's sources sit behind F as behind a router: the hipd's host
    # keeps one neighbour entry for them (1,024 on-link sources overflow the
    # kernel's neighbour table, gc_thresh3, and starve everyone's replies).
    ip -n $F addr add 2001:db8:1::2/64 dev veth-f nodad
    ip -n $S route add 2001:db8:2::/64 via 2001:db8:1::2
    for i in $(seq 0 $((FLOOD_SOURCES - 1))); do
        printf 'address add 2001:db8:2::%x/64 dev lo nodad\n' $((0x1000 + i))
    done | ip -n $F -b -
    mkdir -p "$TMP/c" "$TMP/pc"
    RUST_LOG=warn ip netns exec $S "$hipd_dir/hipd" --foreground --config-dir "$TMP/c" --socket "$TMP/sock" 2>"$TMP/log" &
    RUST_LOG=warn ip netns exec $P "$hipd_dir/hipd" --foreground --config-dir "$TMP/pc" --socket "$TMP/psock" 2>"$TMP/plog" &
    for _ in $(seq 1 100); do [ -S "$TMP/sock" ] && [ -S "$TMP/psock" ] && break; sleep 0.1; done
    local hit phit pid cpu0 cpu1 out secs fpid ping_out flood_out=""
    hit=$(ip netns exec $S "$BIN/hipconf" --socket "$TMP/sock" --json daemon get hi default | sed 's/.*"hit":"\([^"]*\)".*/\1/')
    phit=$(ip netns exec $P "$BIN/hipconf" --socket "$TMP/psock" --json daemon get hi default | sed 's/.*"hit":"\([^"]*\)".*/\1/')
    ip netns exec $S "$BIN/hipconf" --socket "$TMP/sock" daemon add map "$phit" 2001:db8:3::2 >/dev/null
    ip netns exec $P "$BIN/hipconf" --socket "$TMP/psock" daemon add map "$hit" 2001:db8:3::1 >/dev/null
    ip netns exec $P ping -6 -c 3 -W 2 "$hit" >/dev/null || true
    pid=$(ip netns pids $S | head -1)
    # Long enough to cover the whole measured run (COUNT / RATE + margin).
    secs=$(( COUNT / RATE + 6 ))
    if [ "$mode" = flood ]; then
        ip netns exec $F "$BIN/hip-load" flood --target-hit "$hit" --target 2001:db8:1::1 \
            --source-base 2001:db8:2::1000 --source-count "$FLOOD_SOURCES" \
            --rate "$FLOOD" --seconds "$secs" >"$TMP/flood" &
        fpid=$!
        sleep 1
    fi
    cpu0=$(awk '{print $14 + $15}' /proc/$pid/stat)
    ip netns exec $P ping -6 -q -c $(( COUNT * 10 / RATE )) -i 0.1 "$hit" >"$TMP/ping" 2>&1 &
    local ppid=$!
    out=$(ip netns exec $L "$BIN/hip-load" establish --target-hit "$hit" --target 2001:db8::1 \
        --source-base 2001:db8::1000 --source-count $LEGIT_SOURCES --count "$COUNT" \
        --rate "$RATE" --inflight 64 --timeout 60)
    cpu1=$(awk '{print $14 + $15}' /proc/$pid/stat)
    wait "$ppid" || true
    # "rtt min/avg/max/mdev = a/b/c/d ms" and the loss, as "avg loss%".
    ping_out=$(awk -F'[/ ]' '/packet loss/ {for (i=1;i<=NF;i++) if ($i ~ /%$/) loss=$i} /^rtt/ {avg=$8} END {print (avg==""?"-":avg), (loss==""?"-":loss)}' "$TMP/ping")
    if [ "$mode" = flood ]; then wait "$fpid" || true; flood_out=$(cat "$TMP/flood"); fi
    local stats
    stats=$(ip netns exec $S "$BIN/hipconf" --socket "$TMP/sock" --json daemon stats 2>/dev/null || echo '{}')
    [ -n "${KEEP_STATS:-}" ] && echo "$stats" >"$KEEP_STATS.$label.$mode"
    python3 - "$label" "$mode" "$out" "${flood_out:-{\}}" "$cpu0" "$cpu1" "$stats" "$secs" "$ping_out" <<'PY'
import json, sys
label, mode, out, flood, c0, c1, stats, secs, ping = sys.argv[1:]
ping_avg, ping_loss = (ping.split() + ["-", "-"])[:2]
r, f = json.loads(out), json.loads(flood)
try:
    s = json.loads(stats)
    s = s.get("counters", s)
except ValueError:
    s = {}
r1_limited = s.get("hip_drop_r1ratelimited", 0)
# What reached hipd: the flood tool's rate is what it handed its kernel.
at_hipd = s.get("hip_received", 0) / float(secs) if mode == "flood" else 0
cpu = (float(c1) - float(c0)) / 100
print(f"{label:<5} {mode:<6} {r['established']:>5}/{r['started']:<5} {r['latency_p50']*1000:8.1f} "
      f"{r['latency_p90']*1000:8.1f} {r['latency_p99']*1000:8.1f} {r['latency_max']*1000:8.1f} "
      f"{f.get('per_second', 0):9.0f} {at_hipd:9.0f} {r1_limited:>9} {cpu:6.2f} {ping_avg:>8} {ping_loss:>5}")
PY
}
ROWS=$(mktemp)
trap 'rm -f "$ROWS"' EXIT
echo "build mode    estab/start  p50 ms   p90 ms   p99 ms   max ms  flood/s  at hipd/s  R1-limited  hipd cpu-s  ping ms  loss"
for _ in $(seq 1 "$ROUNDS"); do
    for mode in quiet flood; do
        if [ -n "${BASE:-}" ]; then run_one $mode "$BASE" base | tee -a "$ROWS"; fi
        run_one $mode "$BIN" this | tee -a "$ROWS"
    done
done
python3 - "$ROWS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {}
def num(x):
    try:
        return float(x.rstrip("%"))
    except ValueError:
        return float("nan")
for label, mode, est, p50, p90, p99, mx, fl, rx, lim, cpu, pavg, ploss in rows:
    med.setdefault((label, mode), []).append(
        (float(p50), float(p90), float(p99), float(fl), float(rx), num(pavg), num(ploss)))
def m(key, i):
    return statistics.median(v[i] for v in med[key])
print("medians: build mode    p50 ms   p90 ms   p99 ms   flood I1/s  at hipd I1/s  ping ms  ping loss %")
for key in sorted(med):
    print(f"         {key[0]:<5} {key[1]:<6} {m(key,0):8.1f} {m(key,1):8.1f} {m(key,2):8.1f} {m(key,3):10.0f} {m(key,4):12.0f}"
          f" {m(key,5):8.3f} {m(key,6):11.1f}")
for label in sorted({k[0] for k in med}):
    q, f = (label, "quiet"), (label, "flood")
    print(f"{label}: flooded/quiet p50 x{m(f,0)/m(q,0):.2f}, p90 x{m(f,1)/m(q,1):.2f}, p99 x{m(f,2)/m(q,2):.2f}")
if ("base", "flood") in med:
    b, t = ("base", "flood"), ("this", "flood")
    print(f"flooded, this/base: p50 x{m(t,0)/m(b,0):.2f}, p90 x{m(t,1)/m(b,1):.2f}, p99 x{m(t,2)/m(b,2):.2f}")
PY
