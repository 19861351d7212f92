"""Summarise criterion output of hip-proto's `bex` bench: per algorithm set the
median over runs of the initiator's and the responder's CPU time for one base
exchange and their sum; then the responder's per-packet rates."""
import re
import statistics
import sys

UNITS = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}


def parse(path):
    res, name = {}, None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^(bex|responder)/(.+?)\s*$", line)
        if m and "time:" not in line:
            name = (m.group(1), m.group(2))
        t = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
        if t and name:
            res[name] = float(t.group(1)) * UNITS[t.group(2)]
            name = None
    return res


runs = [parse(p) for p in sys.argv[1:]]
sets = []
for r in runs:
    for (g, n) in r:
        if g == "bex":
            s = n.rsplit("/", 1)[0]
            if s not in sets:
                sets.append(s)
med = lambda k: statistics.median([r[k] for r in runs if k in r])
print("| algorithm set | initiator (µs) | responder (µs) | whole exchange (µs) | runs |")
print("|---|---|---|---|---|")
for s in sets:
    i, rr = med(("bex", s + "/initiator")), med(("bex", s + "/responder"))
    print("| %s | %.0f | %.0f | %.0f | %d |" % (s, i, rr, i + rr, len(runs)))
print()
print("| responder operation | median time (µs) | per second per core | runs |")
print("|---|---|---|---|")
for op in ["I1 -> precomputed R1", "I2 verification + R2"]:
    t = med(("responder", op))
    print("| %s | %.2f | %.0f | %d |" % (op, t, 1e6 / t, len(runs)))
