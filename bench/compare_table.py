"""Turn bench/compare.sh's raw lines into a markdown table.

Input lines (other lines are ignored; SKIP lines are listed under the table):
  RUN round=R tunnel=NAME mbps=X gbit=G retr=N rtt_us=U cpu_s=C secs=S
  SKIP tunnel=NAME reason=WHY
Per tunnel: median Mbit/s over its runs; the median of the per-round ratios to
the plain veth measured in the same round; the same against wireguard-go; the
median ping RTT; CPU seconds of both tunnel ends per Gbit received (median of
per-run values). A run whose iperf3 failed (mbps=nan) is left out of the
medians; a run that carried nothing (mbps=0) stays in the Mbit/s and ratio
medians. Both are listed under the table and not counted in "runs with data".
  python3 bench/compare_table.py RAWFILE [RAWFILE...]   (or lines on stdin)
"""
import math
import statistics
import sys

FIELDS = ("round", "tunnel", "mbps", "gbit", "retr", "rtt_us", "cpu_s", "secs")


def num(text):
    try:
        return float(text)
    except ValueError:
        return math.nan


def parse(lines):
    runs, skips = [], []
    for lineno, line in enumerate(lines, 1):
        words = line.split()
        if not words or words[0] not in ("RUN", "SKIP"):
            continue
        kv = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        if words[0] == "SKIP":
            skips.append((kv.get("tunnel", "?"), kv.get("reason", "?")))
            continue
        missing = [f for f in FIELDS if f not in kv]
        if missing:
            sys.exit("line %d: RUN line without %s: %s" % (lineno, ", ".join(missing), line.strip()))
        run = {f: num(kv[f]) for f in FIELDS if f != "tunnel"}
        run["tunnel"] = kv["tunnel"]
        runs.append(run)
    return runs, skips


def med(values):
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def ratio_to(runs, name, base):
    """Median over rounds of mbps(name) / mbps(base) in that round."""
    by_round = {}
    for r in runs:
        by_round.setdefault(r["round"], {})[r["tunnel"]] = r["mbps"]
    ratios = []
    for tunnels in by_round.values():
        a, b = tunnels.get(name, math.nan), tunnels.get(base, math.nan)
        if not math.isnan(a) and not math.isnan(b) and b > 0:
            ratios.append(a / b)
    return med(ratios)


def fmt(value, spec):
    return "-" if math.isnan(value) else spec % value


def main():
    if len(sys.argv) > 1:
        lines = []
        for path in sys.argv[1:]:
            try:
                with open(path, encoding="utf-8") as f:
                    lines.extend(f)
            except OSError as e:
                sys.exit("cannot read %s: %s" % (path, e))
    else:
        lines = sys.stdin.readlines()
    runs, skips = parse(lines)
    if not runs:
        sys.exit("no RUN lines in the input")
    order = []
    for r in runs:
        if r["tunnel"] not in order:
            order.append(r["tunnel"])
    print("| tunnel | median Mbit/s | ratio to veth (same round) | ratio to wireguard-go "
          "| median ping RTT µs | CPU-s per Gbit (both ends) | runs with data x s |")
    print("|---|---|---|---|---|---|---|")
    for name in order:
        mine = [r for r in runs if r["tunnel"] == name]
        ok = [r for r in mine if not math.isnan(r["mbps"])]
        cpu = med([r["cpu_s"] / r["gbit"] for r in ok if r["gbit"] > 0])
        data = [r for r in ok if r["mbps"] > 0]
        secs = sorted({int(r["secs"]) for r in mine if not math.isnan(r["secs"])})
        print("| %s | %s | %s | %s | %s | %s | %d/%d x %s |" % (
            name,
            fmt(med([r["mbps"] for r in ok]), "%.0f"),
            fmt(ratio_to(runs, name, "veth"), "%.3f"),
            fmt(ratio_to(runs, name, "wireguard-go"), "%.2f"),
            fmt(med([r["rtt_us"] for r in mine]), "%.0f"),
            fmt(cpu, "%.2f"),
            len(data), len(mine), "/".join(str(s) for s in secs) or "?"))
    bad = [("iperf3 failed" if math.isnan(r["mbps"]) else "carried 0 bytes", r)
           for r in runs if math.isnan(r["mbps"]) or r["mbps"] <= 0]
    if bad or skips:
        print()
    for what, r in bad:
        print("%s: %s, round %d" % (what, r["tunnel"], r["round"]))
    if skips:
        for name, reason in skips:
            print("skipped: %s (%s)" % (name, reason))


if __name__ == "__main__":
    main()
