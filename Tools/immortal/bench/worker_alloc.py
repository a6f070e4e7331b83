#!/usr/bin/env python3
"""A worker's private memory with each raw allocator (Python/immortal_alloc.c).

    build/stock/python Tools/immortal/bench/worker_alloc.py \\
        --python build/immortal/python [--seconds 10] [--mb 200]

For each allocator (PYTHONIMMORTALALLOC=malloc: glibc, as before;
mimalloc: the default), a master builds a warm heap of --mb MiB whose
glibc part has holes (dicts, lists and str past pymalloc's 512 bytes, a
third of them freed again, as a real warm-up leaves them), calls
sys.immortalize_heap() and forks one worker. The worker serves "requests"
for --seconds: it reads the warm data and builds and drops request-sized
structures (dicts of 50 entries, lists, rendered text of 2-20 KiB, JSON),
keeping none. Printed per allocator: the worker's private memory (USS)
and the part of it that is pages copied from the master (private growth
less Rss growth, as cowprobe counts it), and requests done.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from cowprobe import clean_env  # noqa: E402

CHILD = r"""
import json, os, random, sys, time

def rollup():
    out = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                out[parts[0][:-1]] = int(parts[1])
    return out

mb, seconds = int(sys.argv[1]), float(sys.argv[2])
rng = random.Random(1)
warm, drop = [], []
size = 0
i = 0
while size < mb << 20:
    k = i % 4
    if k == 0:
        obj = {f"key{j}": j for j in range(rng.randrange(20, 200))}
        n = 40 * len(obj)
    elif k == 1:
        obj = list(range(rng.randrange(100, 2000)))
        n = 36 * len(obj)
    elif k == 2:
        obj = "text %d " % i * rng.randrange(60, 600)
        n = len(obj)
    else:
        obj = {j: str(j) for j in range(rng.randrange(20, 100))}
        n = 90 * len(obj)
    (drop if rng.random() < 0.33 else warm).append(obj)
    size += n
    i += 1
del drop
stats = sys.immortalize_heap()
sys.stdout.flush()
pid = os.fork()
if pid == 0:
    before = rollup()
    t_end = time.monotonic() + seconds
    done = 0
    while time.monotonic() < t_end:
        for r in range(50):
            page = warm[rng.randrange(len(warm))]
            ctx = {f"v{j}": j for j in range(50)}
            rows = [str(x) for x in range(rng.randrange(50, 500))]
            body = "<li>%s</li>" * len(rows) % tuple(rows)
            payload = json.dumps({"rows": rows[:100], "n": len(body)})
            _ = len(page) + len(ctx) + len(payload)
            done += 1
    after = rollup()
    uss = lambda r: r["Private_Clean"] + r["Private_Dirty"]
    grown = uss(after) - uss(before)
    copied = grown - (after["Rss"] - before["Rss"])
    print(json.dumps({"allocator": stats.worker_allocator,
                      "uss_kib": uss(after), "grown_kib": grown,
                      "copied_kib": copied, "requests": done}))
    sys.stdout.flush()
    os._exit(0)
os.waitpid(pid, 0)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default="build/immortal/python")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--mb", type=int, default=200)
    args = ap.parse_args()
    rows = []
    for alloc in ("malloc", "mimalloc"):
        env = clean_env()
        env["PYTHONIMMORTALALLOC"] = alloc
        out = subprocess.run(
            [args.python, "-c", CHILD, str(args.mb), str(args.seconds)],
            env=env, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"worker after {args.seconds:g} s over a {args.mb} MiB warm heap")
    print(f"{'allocator':>10} {'private MiB':>12} {'copied MiB':>11} "
          f"{'requests':>9}")
    for r in rows:
        print(f"{r['allocator']:>10} {r['uss_kib'] / 1024:12.1f} "
              f"{r['copied_kib'] / 1024:11.1f} {r['requests']:9d}")


if __name__ == "__main__":
    main()
