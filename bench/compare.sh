#!/usr/bin/env bash
# hipd beside other userspace tunnels, in one sitting: two network namespaces
# joined by one veth, single-stream TCP iperf3 through
#   veth        the plain veth (baseline, no tunnel)
#   hipd-hit    two hipd, TCP to the peer's HIT
#   hipd-lsi    two hipd, TCP to the peer's LSI
#   wireguard-go
#   boringtun   (binary from $BORINGTUN, default boringtun-cli in PATH)
#   openvpn     (TLS, AES-128-GCM data channel, self-signed certs, no DCO)
# All tunnels are up at the same time, each with its own inner addresses and
# UDP port, so they coexist; only one carries traffic at a time. Runs are
# interleaved: round r measures every tunnel once (the start of the order
# rotates by one each round), then round r+1, so machine noise hits all alike.
# Per run: iperf3 Mbit/s and Gbit received, ping RTT (median of
# ping -c 20 -i 0.05, taken before the iperf3 run), and the CPU seconds
# (utime+stime from /proc/PID/stat, all threads) the tunnel processes of both
# ends used during the iperf3 run.
#   bash bench/compare.sh [RUNS] [SECS]     (root; defaults 2 rounds of 3 s)
# Prints one "RUN ..." line per run (and "SKIP ..." for a missing tunnel), then
# the table from bench/compare_table.py. RAW=file also keeps the raw lines,
# LOGS=dir keeps the tunnels' logs.
# Honours CARGO_TARGET_DIR. Documentation addresses only; removes its
# namespaces and processes on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-2}
SECS=${2:-3}
case "$RUNS$SECS" in *[!0-9]*) echo "usage: $0 [RUNS] [SECS] (positive integers)" >&2; exit 2 ;; esac
if [ "$RUNS" -lt 1 ] || [ "$SECS" -lt 1 ]; then echo "usage: $0 [RUNS] [SECS] (positive integers)" >&2; exit 2; fi
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
for t in iperf3 ping ip python3; do
    command -v $t >/dev/null || { echo "$t is not installed" >&2; exit 1; }
done
nice -n 10 cargo build --release -q -p hipd -p hip-tools
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
if [ ! -x "$BIN/hipd" ] || [ ! -x "$BIN/hipconf" ]; then echo "no hipd/hipconf in $BIN" >&2; exit 1; fi
WGGO=$(command -v wireguard-go || true)
WG=$(command -v wg || true)
BORINGTUN=${BORINGTUN:-$(command -v boringtun-cli || true)}
OPENVPN=$(command -v openvpn || true)
TICK=$(getconf CLK_TCK)

TMP=$(mktemp -d)
A=hiprcmp-a-$$ B=hiprcmp-b-$$
# interface names must differ between the namespaces: wireguard-go and
# boringtun keep their control socket at /var/run/wireguard/<name>.sock
WGA=hcwga$$ WGB=hcwgb$$ BTA=hcbta$$ BTB=hcbtb$$
WGA=${WGA:0:15} WGB=${WGB:0:15} BTA=${BTA:0:15} BTB=${BTB:0:15}
cleanup() {
    set +e
    for ns in $A $B; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
    done
    for _ in $(seq 1 20); do
        [ -z "$(ip netns pids $A 2>/dev/null)$(ip netns pids $B 2>/dev/null)" ] && break
        sleep 0.1
    done
    for ns in $A $B; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    rm -f "/var/run/wireguard/$WGA.sock" "/var/run/wireguard/$WGB.sock" \
        "/var/run/wireguard/$BTA.sock" "/var/run/wireguard/$BTB.sock"
    if [ -n "${LOGS:-}" ] && mkdir -p "$LOGS"; then
        cp "$TMP"/*.log "$LOGS"/ 2>/dev/null
        for ns in $A $B; do cp "$TMP/$ns/hipd.log" "$LOGS/hipd-$ns.log" 2>/dev/null; done
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "compare.sh: $*" >&2; exit 1; }
RAWFILE=${RAW:-$TMP/raw}
: >"$RAWFILE"
skip() { echo "SKIP tunnel=$1 reason=$2" | tee -a "$RAWFILE"; }

ip netns add $A; ip netns add $B
ip -n $A link set lo up; ip -n $B link set lo up
ip link add veth-a netns $A type veth peer name veth-b netns $B
ip -n $A addr add 192.0.2.1/24 dev veth-a; ip -n $B addr add 192.0.2.2/24 dev veth-b
ip -n $A addr add 2001:db8::1/64 dev veth-a nodad; ip -n $B addr add 2001:db8::2/64 dev veth-b nodad
ip -n $A link set veth-a up; ip -n $B link set veth-b up
ip netns exec $A ping -c 1 -W 2 192.0.2.2 >/dev/null || die "veth does not answer"

# tunnel name -> "destination seen from A" and "PIDs of both ends"
declare -A DST PIDS
TUNNELS=(veth)
DST[veth]=192.0.2.2
PIDS[veth]=""

# --- hipd ---------------------------------------------------------------
declare -A HIPD_PID
for ns in $A $B; do
    mkdir -p "$TMP/$ns/conf"
    printf '%b\n' "${HIPD_CONF:-}" >"$TMP/$ns/conf/hipd.conf"
    ip netns exec "$ns" "$BIN/hipd" --foreground --config-dir "$TMP/$ns/conf" \
        --socket "$TMP/$ns/sock" 2>"$TMP/$ns/hipd.log" &
    HIPD_PID[$ns]=$!
done
for _ in $(seq 1 100); do
    [ -S "$TMP/$A/sock" ] && [ -S "$TMP/$B/sock" ] && break
    sleep 0.1
done
if [ ! -S "$TMP/$A/sock" ] || [ ! -S "$TMP/$B/sock" ]; then
    die "hipd did not start: $(tail -3 "$TMP/$A/hipd.log" "$TMP/$B/hipd.log")"
fi
hc() { local ns=$1; shift; ip netns exec "$ns" "$BIN/hipconf" --socket "$TMP/$ns/sock" "$@"; }
HIT_A=$(hc $A --json daemon get hi default | sed 's/.*"hit":"\([^"]*\)".*/\1/')
HIT_B=$(hc $B --json daemon get hi default | sed 's/.*"hit":"\([^"]*\)".*/\1/')
hc $A daemon add map "$HIT_B" 192.0.2.2 >/dev/null
hc $B daemon add map "$HIT_A" 192.0.2.1 >/dev/null
LSI_B=$(hc $A daemon hit-to-lsi "$HIT_B")
ok=""
for _ in $(seq 1 10); do
    ip netns exec $A ping -c 1 -W 2 "$LSI_B" >/dev/null 2>&1 && ok=1 && break
done
[ -n "$ok" ] || die "no HIP association: $(tail -5 "$TMP/$A/hipd.log")"
TUNNELS+=(hipd-hit hipd-lsi)
DST[hipd-hit]=$HIT_B
DST[hipd-lsi]=$LSI_B
PIDS[hipd-hit]="${HIPD_PID[$A]} ${HIPD_PID[$B]}"
PIDS[hipd-lsi]=${PIDS[hipd-hit]}

# --- WireGuard (wireguard-go, boringtun): same wg(8) configuration --------
declare -A WPID
# wg_up NAME BINARY ARGS... : interfaces IFA/IFB set by the caller, inner
# addresses INNER_A/INNER_B, UDP port PORT
wg_up() {
    local name=$1; shift
    local ns ifn
    for ns in $A $B; do
        if [ "$ns" = "$A" ]; then ifn=$IFA; else ifn=$IFB; fi
        (umask 077 && "$WG" genkey >"$TMP/$name-$ns.key")
        "$WG" pubkey <"$TMP/$name-$ns.key" >"$TMP/$name-$ns.pub"
        ip netns exec "$ns" env WG_PROCESS_FOREGROUND=1 "$@" "$ifn" >"$TMP/$name-$ns.log" 2>&1 &
        WPID[$name-$ns]=$!
    done
    for _ in $(seq 1 50); do
        [ -S "/var/run/wireguard/$IFA.sock" ] && [ -S "/var/run/wireguard/$IFB.sock" ] && break
        sleep 0.1
    done
    [ -S "/var/run/wireguard/$IFA.sock" ] && [ -S "/var/run/wireguard/$IFB.sock" ] || return 1
    ip netns exec $A "$WG" set "$IFA" private-key "$TMP/$name-$A.key" listen-port "$PORT" \
        peer "$(cat "$TMP/$name-$B.pub")" allowed-ips "$INNER_B/32" endpoint "192.0.2.2:$PORT" || return 1
    ip netns exec $B "$WG" set "$IFB" private-key "$TMP/$name-$B.key" listen-port "$PORT" \
        peer "$(cat "$TMP/$name-$A.pub")" allowed-ips "$INNER_A/32" endpoint "192.0.2.1:$PORT" || return 1
    ip -n $A addr add "$INNER_A/32" peer "$INNER_B/32" dev "$IFA" || return 1
    ip -n $B addr add "$INNER_B/32" peer "$INNER_A/32" dev "$IFB" || return 1
    ip -n $A link set "$IFA" mtu 1420 up || return 1
    ip -n $B link set "$IFB" mtu 1420 up || return 1
    for _ in $(seq 1 10); do
        ip netns exec $A ping -c 1 -W 1 "$INNER_B" >/dev/null 2>&1 && return 0
    done
    return 1
}
if [ -n "$WGGO" ] && [ -n "$WG" ]; then
    IFA=$WGA IFB=$WGB INNER_A=198.51.100.1 INNER_B=198.51.100.2 PORT=51820
    wg_up wggo "$WGGO" -f || die "wireguard-go did not come up: $(tail -3 "$TMP"/wggo-*.log)"
    TUNNELS+=(wireguard-go)
    DST[wireguard-go]=198.51.100.2
    PIDS[wireguard-go]="${WPID[wggo-$A]} ${WPID[wggo-$B]}"
else
    skip wireguard-go wireguard-go-or-wg-not-installed
fi
if [ -n "$BORINGTUN" ] && [ -x "$BORINGTUN" ] && [ -n "$WG" ]; then
    IFA=$BTA IFB=$BTB INNER_A=198.51.100.17 INNER_B=198.51.100.18 PORT=51821
    wg_up bt "$BORINGTUN" --foreground --disable-drop-privileges -l /dev/stderr ||
        die "boringtun did not come up: $(tail -3 "$TMP"/bt-*.log)"
    TUNNELS+=(boringtun)
    DST[boringtun]=198.51.100.18
    PIDS[boringtun]="${WPID[bt-$A]} ${WPID[bt-$B]}"
else
    skip boringtun "no-executable-BORINGTUN=${BORINGTUN:-unset}-or-no-wg"
fi

# --- OpenVPN, TLS with self-signed certificates checked by fingerprint ----
if [ -n "$OPENVPN" ] && command -v openssl >/dev/null; then
    for end in a b; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -subj "/CN=ovpn-$end.example" -keyout "$TMP/ovpn-$end.key" -out "$TMP/ovpn-$end.crt" \
            >/dev/null 2>&1 || die "openssl could not make a certificate"
        openssl x509 -in "$TMP/ovpn-$end.crt" -noout -fingerprint -sha256 |
            sed 's/.*=//' >"$TMP/ovpn-$end.fp"
    done
    # ovpn_start NS SELF PEER ROLE LOCAL_IN REMOTE_IN REMOTE_OUT
    ovpn_start() {
        ip netns exec "$1" "$OPENVPN" --dev tun --dev-type tun --proto udp --port 1194 \
            --remote "$7" --float --"$4" --ifconfig "$5" "$6" \
            --cert "$TMP/ovpn-$2.crt" --key "$TMP/ovpn-$2.key" \
            --peer-fingerprint "$(cat "$TMP/ovpn-$3.fp")" --dh none \
            --data-ciphers AES-128-GCM --disable-dco \
            --verb 3 >"$TMP/ovpn-$2.log" 2>&1 &
    }
    ovpn_start $B b a tls-server 203.0.113.2 203.0.113.1 192.0.2.1
    PID_ovpn_b=$!
    ovpn_start $A a b tls-client 203.0.113.1 203.0.113.2 192.0.2.2
    PID_ovpn_a=$!
    ok=""
    for _ in $(seq 1 300); do
        grep -q "Initialization Sequence Completed" "$TMP/ovpn-a.log" &&
            grep -q "Initialization Sequence Completed" "$TMP/ovpn-b.log" && ok=1 && break
        sleep 0.1
    done
    [ -n "$ok" ] || die "openvpn did not come up: $(tail -3 "$TMP/ovpn-a.log" "$TMP/ovpn-b.log")"
    grep -q "Data Channel: cipher 'AES-128-GCM'" "$TMP/ovpn-a.log" ||
        die "openvpn did not agree on AES-128-GCM: $(grep 'Data Channel' "$TMP/ovpn-a.log")"
    ip netns exec $A ping -c 3 -W 2 203.0.113.2 >/dev/null || die "openvpn tunnel does not answer"
    TUNNELS+=(openvpn)
    DST[openvpn]=203.0.113.2
    PIDS[openvpn]="$PID_ovpn_a $PID_ovpn_b"
else
    skip openvpn openvpn-or-openssl-not-installed
fi

for t in "${TUNNELS[@]}"; do
    for p in ${PIDS[$t]}; do
        kill -0 "$p" 2>/dev/null || die "$t: process $p is gone"
    done
done

cpu_of() { # TUNNEL -> utime+stime of its processes (all threads), in clock ticks
    local sum=0 p f
    for p in ${PIDS[$1]}; do
        # after the ") " that ends the command name, index 11 is utime, 12 stime
        read -r -a f < <(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || return 1
        [ "${#f[@]}" -gt 12 ] || return 1
        sum=$((sum + f[11] + f[12]))
    done
    echo $sum
}

ping_us() { # DST -> median RTT in microseconds, or "nan"
    ip netns exec $A ping -c 20 -i 0.05 -W 2 "$1" 2>/dev/null |
        python3 -c '
import re, statistics, sys
t = [float(m.group(1)) for m in re.finditer(r"time=([0-9.]+) ms", sys.stdin.read())]
print("%.0f" % (statistics.median(t) * 1000) if t else "nan")'
}

iperf_once() { # DST -> "Mbit/s Gbit retransmits" or "nan nan nan"
    local port=5201 out
    ip netns exec $B timeout $((SECS + 20)) iperf3 -s -1 -p $port >/dev/null 2>&1 &
    local srv=$!
    for _ in $(seq 1 50); do
        ip netns exec $B ss -ltnH "sport = :$port" 2>/dev/null | grep -q . && break
        sleep 0.05
    done
    out=$(ip netns exec $A timeout $((SECS + 15)) iperf3 -c "$1" -p $port -t "$SECS" -J 2>/dev/null || true)
    wait "$srv" 2>/dev/null || true
    printf '%s' "$out" | python3 -c '
import json, sys
try:
    e = json.load(sys.stdin)["end"]
    r = e["sum_received"]
    print("%.1f %.4f %d" % (r["bits_per_second"] / 1e6, r["bytes"] * 8 / 1e9,
                            e["sum_sent"].get("retransmits", -1)))
except Exception:
    print("nan nan nan")'
}

n=${#TUNNELS[@]}
for r in $(seq 1 "$RUNS"); do
    for i in $(seq 0 $((n - 1))); do
        t=${TUNNELS[$(((i + r - 1) % n))]}
        rtt=$(ping_us "${DST[$t]}")
        if [ -n "${PIDS[$t]}" ]; then c0=$(cpu_of "$t") || die "$t: a tunnel process is gone"; fi
        read -r mbps gbit retr < <(iperf_once "${DST[$t]}")
        if [ -n "${PIDS[$t]}" ]; then
            c1=$(cpu_of "$t") || die "$t: a tunnel process is gone"
            cpu=$(python3 -c "print('%.2f' % (($c1 - $c0) / $TICK))")
        else
            cpu=nan
        fi
        echo "RUN round=$r tunnel=$t mbps=$mbps gbit=$gbit retr=$retr rtt_us=$rtt cpu_s=$cpu secs=$SECS" |
            tee -a "$RAWFILE"
    done
done
echo
python3 bench/compare_table.py "$RAWFILE"
