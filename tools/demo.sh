#!/bin/sh
# hipr demo (skeleton): two network namespaces joined by a veth pair, hipd in
# each, peers mapped with hipconf, then ping by HIT and by LSI.
# Documentation addresses only (192.0.2.0/24, 2001:db8::/32). Run as root from
# the repository root after `cargo build -p hipd -p hip-tools`.
# TODO(lead): once hip_proto::endpoint and hip_esp are plugged into hipd, the
# pings below complete a base exchange and travel in ESP; today they trigger
# the BEX hook, which logs "not implemented yet" and counts bex_trigger_unhandled.
set -eu
BIN=${BIN:-target/debug}
TMP=$(mktemp -d)
A=hiprdemo-a B=hiprdemo-b
cleanup() {
    for ns in $A $B; do
        for p in $(ip netns pids $ns 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
    done
    sleep 1
    ip netns del $A 2>/dev/null || true
    ip netns del $B 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ip netns add $A; ip netns add $B
ip -n $A link set lo up; ip -n $B link set lo up
ip link add veth-a netns $A type veth peer name veth-b netns $B
ip -n $A addr add 2001:db8::1/64 dev veth-a nodad; ip -n $A addr add 192.0.2.1/24 dev veth-a
ip -n $B addr add 2001:db8::2/64 dev veth-b nodad; ip -n $B addr add 192.0.2.2/24 dev veth-b
ip -n $A link set veth-a up; ip -n $B link set veth-b up

for ns in $A $B; do
    mkdir -p "$TMP/$ns"
    ip netns exec $ns "$BIN/hipd" --foreground --config-dir "$TMP/$ns/conf" --socket "$TMP/$ns/sock" \
        2>"$TMP/$ns/log" &
done
for i in $(seq 1 100); do
    [ -S "$TMP/$A/sock" ] && [ -S "$TMP/$B/sock" ] && break
    sleep 0.1
done

hc() { ns=$1; shift; ip netns exec "$ns" "$BIN/hipconf" --socket "$TMP/$ns/sock" "$@"; }
HIT_A=$(hc $A --json daemon get hi default | sed 's/.*"hit":"\([^"]*\)".*/\1/')
HIT_B=$(hc $B --json daemon get hi default | sed 's/.*"hit":"\([^"]*\)".*/\1/')
echo "A: $HIT_A  B: $HIT_B"
hc $A daemon add map "$HIT_B" 2001:db8::2
hc $B daemon add map "$HIT_A" 2001:db8::1
LSI_B=$(hc $A daemon hit-to-lsi "$HIT_B")

ip netns exec $A ping -6 -c 3 -W 2 "$HIT_B" || true
ip netns exec $A ping -c 3 -W 2 "$LSI_B" || true
hc $A daemon get ha all
hc $A daemon stats
