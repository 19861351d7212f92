#!/usr/bin/env bash
# DNS proxy latency (issue 13): A queries through hipd's proxy against the
# same queries sent directly to the BIND 9 server it forwards to,
# interleaved, median of N (default 100) each, in four cases measured in one
# run:
#   pass-through cold  plainNNN.grid.example (only an A RR), each name asked
#                      once, so the proxy has nothing cached for it;
#   HIP cold           peerNNN.grid.example (HIP RR + A RR, a distinct
#                      identity per name), asked once: the proxy looks the
#                      name up, installs the peer and answers the LSI;
#   pass-through warm  the plain names again (the proxy remembers that they
#                      have no HIP RR and only forwards);
#   HIP warm           the HIP names again (answered from the proxy's cache).
# Each query is sent once directly and once through the proxy, the order
# alternating; 5 extra names of each kind are asked first and not counted.
# Goal: under 1 ms added. Root only; two namespaces (named on 198.51.100.53
# and hipd with its proxy on 127.0.0.153:53 in one; the peers' hipd, run
# once per identity to print its zone lines, in the other), removed at exit.
# Prints the table; with APPEND=1 appends it to docs/PERFORMANCE.md; with
# HIPD=PATH the proxy runs that hipd binary (to compare two builds).
#   sudo bash bench/dns.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
WARMUP=5
M=$((N + WARMUP))
cargo build -q --release -p hipd -p hip-tools --bin hipd --bin hipconf
BIN=${CARGO_TARGET_DIR:-target}/release
HIPD=${HIPD:-$BIN/hipd}
NS=hipr-dnsbench-$$
PEER=hipr-dnsbench-peer-$$
work=$(mktemp -d)
cleanup() {
  for p in $(ip netns pids "$NS" 2>/dev/null) $(ip netns pids "$PEER" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$PEER" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$NS"; ip netns add "$PEER"
ip -n "$NS" link set lo up; ip -n "$PEER" link set lo up
ip -n "$NS" addr add 198.51.100.53/32 dev lo

# One identity per HIP name: a fresh hipd (config dir of its own) generates
# it and prints its zone lines. A HIT reused under many names would be one
# peer in hipd's peer db, renamed by every lookup and installed only once.
peer_lines() {
  local d="$work/peer$1"
  mkdir -p "$d"
  ip netns exec "$PEER" "$BIN/hipd" --foreground --config-dir "$d" --socket "$d.sock" 2>"$d.log" &
  local pid=$!
  for _ in $(seq 100); do [ -S "$d.sock" ] && break; sleep 0.05; done
  ip netns exec "$PEER" "$BIN/hipconf" --socket "$d.sock" daemon get hi default --dns "peer$1.grid.example" \
    | grep ' HIP '
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$d" "$d.sock" "$d.log"
}

{
  echo "\$TTL 300"
  echo "@ IN SOA ns.grid.example. admin.grid.example. 1 3600 600 86400 60"
  echo "@ IN NS ns.grid.example."
  echo "ns IN A 198.51.100.53"
  for i in $(seq -w 0 $((M - 1))); do
    echo "plain$i IN A 198.51.100.77"
    echo "peer$i IN A 198.51.100.78"
  done
} > "$work/zone.db"
for i in $(seq -w 0 $((M - 1))); do peer_lines "$i" >> "$work/zone.db"; done
[ "$(grep -c ' HIP ' "$work/zone.db")" -eq "$M" ] || { echo "not every peer printed its HIP RR" >&2; exit 1; }
cat > "$work/named.conf" <<EOF
options { directory "$work"; pid-file "$work/named.pid"; listen-on port 53 { 198.51.100.53; };
  listen-on-v6 { none; }; recursion no; dnssec-validation no; };
zone "grid.example" { type primary; file "zone.db"; };
EOF
ip netns exec "$NS" named -g -u root -c "$work/named.conf" 2>"$work/named.log" &
for _ in $(seq 100); do ip netns exec "$NS" dig +short +time=1 +tries=1 @198.51.100.53 grid.example SOA | grep -q . && break; sleep 0.2; done

mkdir -p "$work/a"
printf 'workers = 1\ndns_upstream = 198.51.100.53\ndns_proxy = 127.0.0.153:53\n' > "$work/a/hipd.conf"
ip netns exec "$NS" "$HIPD" --foreground --config-dir "$work/a" --socket "$work/a.sock" 2>"$work/a.log" &
for _ in $(seq 100); do [ -S "$work/a.sock" ] && break; sleep 0.1; done

result=$(ip netns exec "$NS" python3 - "$N" "$WARMUP" "${#M}" <<'EOF'
import socket, statistics, struct, sys, time
n, warmup, width = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for l in name.split("."):
        q += bytes([len(l)]) + l.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)
def ask(server, q):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    t = time.perf_counter()
    s.sendto(q, (server, 53))
    a = s.recv(4096)
    d = time.perf_counter() - t
    s.close()
    return d, a
def both(name, i):
    q = query(name, i)
    first = i % 2
    r = {}
    for server in (["198.51.100.53", "127.0.0.153"] if first == 0 else ["127.0.0.153", "198.51.100.53"]):
        r[server] = ask(server, q)
    return r["198.51.100.53"], r["127.0.0.153"]
names = lambda kind: [f"{kind}{i:0{width}d}.grid.example" for i in range(n + warmup)]
cases = {}
for phase in ["cold", "warm"]:
    for kind, label in [("plain", "pass-through"), ("peer", "HIP name")]:
        cases[(label, phase)] = ([], [], [])
    # The kinds interleaved too: plain0, peer0, plain1, peer1...
    for i, (plain, peer) in enumerate(zip(names("plain"), names("peer"))):
        for name, label in [(plain, "pass-through"), (peer, "HIP name")]:
            (dt, da), (pt, pa) = both(name, i)
            d, p, ok = cases[(label, phase)]
            if i >= warmup:
                d.append(dt); p.append(pt)
            # A HIP name must come back with an LSI (not the zone's A), a
            # plain one with the zone's answer byte for byte.
            ok.append(pa[-4:] != da[-4:] if label == "HIP name" else pa == da)
for (label, phase), (d, p, ok) in cases.items():
    md, mp = statistics.median(d) * 1e3, statistics.median(p) * 1e3
    bad = "" if all(ok) else f" ({ok.count(False)} wrong answers)"
    print(f"| {label} | {phase} | {len(d)} | {md:.3f} | {mp:.3f} | {mp - md:+.3f}{bad} |")
EOF
)
echo "$result"
ip netns exec "$NS" "$BIN/hipconf" --socket "$work/a.sock" daemon stats | grep -i dns || true
if [ "${APPEND:-0}" = 1 ]; then
  {
    echo
    echo "DNS proxy latency (\`sudo bash bench/dns.sh $N\`, $(date -u +%Y-%m-%d), one namespace:"
    echo "BIND 9 on 198.51.100.53, hipd's proxy on 127.0.0.153; A queries, median of $N, interleaved):"
    echo
    echo "| name | case | queries | direct ms | proxy ms | added ms |"
    echo "|---|---|---|---|---|---|"
    echo "$result"
  } >> docs/PERFORMANCE.md
fi
