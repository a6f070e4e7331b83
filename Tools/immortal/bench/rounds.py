#!/usr/bin/env python3
"""A master that calls sys.immortalize_heap() again and again: its memory.

Each round allocates short-lived objects (tuples of an int and a str),
keeps one in a thousand, frees the rest, then calls sys.immortalize_heap()
(the stock twin: gc.collect()), as a long-running master that re-warms
after each reload would. Prints the master's RSS every --every rounds, per
interpreter, side by side.

    build/stock/python Tools/immortal/bench/rounds.py \\
        --python stock=build/stock/python --python fork=build/immortal/python

Stdlib only; Linux (/proc/self/statm).
"""

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import gc, json, os, sys
rounds, per_round, every = map(int, sys.argv[1:4])
page = os.sysconf("SC_PAGE_SIZE")
def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page / 2**20
call = getattr(sys, "immortalize_heap", gc.collect)
keep, curve = [], [(0, rss_mib())]
for i in range(1, rounds + 1):
    short = [(j, "short-lived-%d" % j) for j in range(per_round)]
    keep.append(short[::1000])
    del short
    call()
    if i % every == 0:
        curve.append((i, rss_mib()))
print(json.dumps(curve))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", required=True,
                    metavar="LABEL=PATH")
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--per-round", type=int, default=100_000)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    curves = {}
    for spec in args.python:
        label, path = spec.split("=", 1)
        out = subprocess.run(
            [path, "-c", CHILD, str(args.rounds), str(args.per_round),
             str(args.every)], env=env, check=True, capture_output=True,
            text=True).stdout
        curves[label] = json.loads(out.strip().splitlines()[-1])
    labels = list(curves)
    print(f"RSS of the master, MiB ({args.per_round} short-lived tuples a "
          f"round, one in 1000 kept; call = immortalize_heap() on the fork, "
          f"gc.collect() on stock)")
    print("round " + " ".join(f"{label:>10}" for label in labels))
    for row in zip(*(curves[label] for label in labels)):
        print(f"{row[0][0]:5d} " + " ".join(f"{r:10.1f}" for _, r in row))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(curves, f)


if __name__ == "__main__":
    main()
