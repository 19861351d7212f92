"""Summarise criterion output of hip-esp's `esp` bench: for each suite and
size, the median over runs of criterion's point estimate, and the median of
the per-run ratios to the raw ring AES-128-GCM baseline of the same run."""
import re
import statistics
import sys

UNITS = {"ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}


def parse(path):
    res, name = {}, None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^seal\+open/(\S+)/(\d+)", line)
        if m:
            name = (m.group(1), int(m.group(2)))
        t = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
        if t and name:
            res[name] = float(t.group(1)) * UNITS[t.group(2)]
            name = None
    return res


runs = [parse(p) for p in sys.argv[1:]]
keys = sorted({k for r in runs for k in r}, key=lambda k: (k[1], k[0]))
print("| suite | payload (B) | median time (ns) | ratio to raw AES-128-GCM (median of runs) | runs |")
print("|---|---|---|---|---|")
for suite, size in keys:
    times = [r[(suite, size)] for r in runs if (suite, size) in r]
    ratios = [r[(suite, size)] / r[("raw-ring-aes128gcm", size)]
              for r in runs if (suite, size) in r and ("raw-ring-aes128gcm", size) in r]
    ratio = "%.2f" % statistics.median(ratios) if ratios else "- (no baseline)"
    print("| %s | %d | %.0f | %s | %d |" % (suite, size, statistics.median(times), ratio,
                                           len(times)))
