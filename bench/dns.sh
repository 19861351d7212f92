#!/usr/bin/env bash
# DNS proxy latency (issue 13): the median of N (default 100) A queries
# through hipd's proxy against the same queries sent directly to the BIND 9
# server it forwards to, interleaved, for a name without a HIP RR
# (pass-through) and one with a HIP RR (the proxy answers the LSI after
# installing the peer). Goal: under 1 ms added. Root only; one namespace
# (named on 198.51.100.53, hipd with its proxy on 127.0.0.153:53), removed
# at exit. Appends the result to docs/PERFORMANCE.md.
#   sudo bash bench/dns.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
cargo build -q --release -p hipd -p hip-tools --bin hipd --bin hipconf
BIN=${CARGO_TARGET_DIR:-target}/release
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

# A peer identity for the HIP name: its hipd prints the zone lines.
mkdir -p "$work/peer"
ip netns exec "$PEER" "$BIN/hipd" --foreground --config-dir "$work/peer" --socket "$work/peer.sock" 2>"$work/peer.log" &
peer_pid=$!
for _ in $(seq 100); do [ -S "$work/peer.sock" ] && break; sleep 0.1; done
ip netns exec "$PEER" "$BIN/hipconf" --socket "$work/peer.sock" daemon get hi default --dns peer.grid.example \
  > "$work/hip.lines"
kill "$peer_pid"; wait "$peer_pid" 2>/dev/null || true

cat > "$work/zone.db" <<EOF
\$TTL 60
@ IN SOA ns.grid.example. admin.grid.example. 1 3600 600 86400 60
@ IN NS ns.grid.example.
ns IN A 198.51.100.53
plain IN A 198.51.100.77
peer IN A 198.51.100.78
EOF
grep ' HIP ' "$work/hip.lines" >> "$work/zone.db"
cat > "$work/named.conf" <<EOF
options { directory "$work"; pid-file "$work/named.pid"; listen-on port 53 { 198.51.100.53; };
  listen-on-v6 { none; }; recursion no; dnssec-validation no; };
zone "grid.example" { type primary; file "zone.db"; };
EOF
ip netns exec "$NS" named -g -u root -c "$work/named.conf" 2>"$work/named.log" &
for _ in $(seq 100); do ip netns exec "$NS" dig +short +time=1 +tries=1 @198.51.100.53 grid.example SOA | grep -q . && break; sleep 0.2; done

mkdir -p "$work/a"
printf 'workers = 1\ndns_upstream = 198.51.100.53\ndns_proxy = 127.0.0.153:53\n' > "$work/a/hipd.conf"
ip netns exec "$NS" "$BIN/hipd" --foreground --config-dir "$work/a" --socket "$work/a.sock" 2>"$work/a.log" &
for _ in $(seq 100); do [ -S "$work/a.sock" ] && break; sleep 0.1; done

result=$(ip netns exec "$NS" python3 - "$N" <<'EOF'
import socket, statistics, struct, sys, time
n = int(sys.argv[1])
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
    s.recv(4096)
    d = time.perf_counter() - t
    s.close()
    return d
for name in ["plain.grid.example", "peer.grid.example"]:
    direct, proxy = [], []
    for i in range(n + 5):
        q = query(name, i)
        a, b = ask("198.51.100.53", q), ask("127.0.0.153", q)
        if i >= 5:  # warm-up
            direct.append(a); proxy.append(b)
    md, mp = statistics.median(direct) * 1e3, statistics.median(proxy) * 1e3
    print(f"| {name} | {n} | {md:.3f} | {mp:.3f} | {mp - md:+.3f} |")
EOF
)
echo "$result"
{
  echo
  echo "DNS proxy latency (\`sudo bash bench/dns.sh $N\`, $(date -u +%Y-%m-%d), one namespace:"
  echo "BIND 9 on 198.51.100.53, hipd's proxy on 127.0.0.153; A queries, median of $N, interleaved;"
  echo "the HIP name is answered with the LSI after the control actor installed the peer):"
  echo
  echo "| name | queries | direct ms | proxy ms | added ms |"
  echo "|---|---|---|---|---|"
  echo "$result"
} >> docs/PERFORMANCE.md
