#!/bin/sh
# hipr two-host demo: two network namespaces joined by a veth pair, hipd in
# each, peers mapped with hipconf, then ping by HIT and by LSI: the first packet
# triggers the HIP base exchange (RFC 7401), everything after travels in BEET
# ESP (RFC 7402). Prints the association and the counters.
# Documentation addresses only (192.0.2.0/24, 2001:db8::/32). Run as root from
# the repository root; it builds hipd and hipconf (release) unless BIN names
# a directory that holds them.
set -eu
if [ -z "${BIN:-}" ]; then
    cargo build --release -q -p hipd -p hip-tools
    BIN=target/release
fi
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
# The kernel activates a fresh link up to 1 s after "up" (link watch) and
# drops what is sent before: wait for both ends to be operationally UP, or
# the first I1 is lost and the first ping shows its 1 s retransmission.
for i in $(seq 1 50); do
    ip -n $A -o link show veth-a | grep -q 'state UP' &&
        ip -n $B -o link show veth-b | grep -q 'state UP' && break
    sleep 0.1
done

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

echo "== ping6 to B's HIT (the first packet starts the base exchange)"
ip netns exec $A ping -6 -c 3 -W 2 "$HIT_B"
echo "== ping to B's LSI $LSI_B"
ip netns exec $A ping -c 3 -W 2 "$LSI_B"
echo "== association on A"
hc $A daemon get ha all
echo "== counters on A"
hc $A daemon stats | grep -E "hip_established|esp_sealed|esp_opened|drop" | grep -v " 0$" || true
