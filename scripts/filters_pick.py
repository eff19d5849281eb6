#!/usr/bin/env python3
"""Pick one label per (label set, target selectivity) from `quarry labels --counts-out`:
the label whose count is nearest target * n (log scale). Prints `set target label count`
lines for scripts/filters_bench.sh."""
import json
import math
import sys

TARGETS = [0.001, 0.01, 0.1, 0.5]

d = json.load(open(sys.argv[1]))
n = d["n"]
counts = dict((int(l), int(c)) for l, c in d["labels"])
for s in d["sets"]:
    labels = [l for l in range(s["first"], s["first"] + s["labels"]) if counts.get(l, 0) > 0]
    for t in TARGETS:
        best = min(labels, key=lambda l: abs(math.log(counts[l] / (t * n))))
        print(s["kind"], t, best, counts[best])
