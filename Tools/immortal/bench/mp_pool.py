"""A multiprocessing.Pool over a warm read-only dataset: each child's
private memory and the tasks per second, stock twin against the fork.

    build/stock/python Tools/immortal/bench/mp_pool.py \\
        [--mb 200] [--processes 4] [--tasks 64] [--json FILE]

The parent builds a dataset shaped like an application's warm caches
(dicts of records with str, int, float, tuple and list fields, an index of
str keys to lists of ids), then starts a pool of --processes children of
the "fork" context and maps --tasks tasks over it: each task walks a slice
of the records and looks every one up in the index (reads only). After
the tasks every child reports its USS (Private_Clean + Private_Dirty of
smaps_rollup). The configurations:

    stock          multiprocessing.get_context("fork").Pool, nothing prepared
    stock+freeze   immortal_prefork.pool() on stock: gc.collect() + gc.freeze()
    fork           immortal_prefork.pool(): sys.immortalize_heap()

Each in a fresh parent, one after the other, --rounds times.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))

CONFIGS = [("stock", "stock", False), ("stock+freeze", "stock", True),
           ("fork", "fork", True)]

# Run by the interpreter measured: argv[1] is JSON settings; prints JSON.
PARENT = r"""
import json, multiprocessing, os, sys, time
import immortal_prefork
settings = json.loads(sys.argv[1])

def uss():
    fields = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1])
    return fields["Private_Clean"] + fields["Private_Dirty"]

# About 1 KiB of objects a record.
n = settings["mb"] * 1024
records = {}
index = {}
for i in range(n):
    key = "rec-%08d" % i
    records[key] = {"id": i, "name": "record number %d" % i,
                    "score": i * 0.25, "tags": ("t%d" % (i % 97), "x"),
                    "values": [i, i + 1, i + 2], "key": key}
    index.setdefault("t%d" % (i % 997), []).append(key)
keys = list(records)
tag_of = {k: "t%d" % (records[k]["id"] % 997) for k in keys}

def task(t):
    total = 0
    step = settings["tasks"]
    for k in keys[t::step]:
        r = records[k]
        total += r["id"] + len(r["name"]) + len(r["tags"]) + r["values"][2]
        total += len(index[tag_of[k]])
    return os.getpid(), total

def report(_):
    time.sleep(0.2)          # every child takes one
    return os.getpid(), uss()

parent_uss = uss()
if settings["prepare"]:
    p = immortal_prefork.pool(settings["processes"])
else:
    p = multiprocessing.get_context("fork").Pool(settings["processes"])
with p:
    t0 = time.perf_counter()
    results = p.map(task, range(settings["tasks"]), chunksize=1)
    t1 = time.perf_counter()
    sizes = dict(p.map(report, range(settings["processes"] * 4), chunksize=1))
print(json.dumps({"prepared": immortal_prefork.prepared(),
                  "parent_kib": parent_uss, "children_kib": sizes,
                  "seconds": t1 - t0, "tasks": len(results)}))
"""


def run_parent(python, twin, prepare, args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    if twin == "stock":              # immortal_prefork ships with the fork
        env["PYTHONPATH"] = os.path.join(ROOT, "Lib")
    settings = {"mb": args.mb, "processes": args.processes,
                "tasks": args.tasks, "prepare": prepare}
    proc = subprocess.run([python, "-c", PARENT, json.dumps(settings)],
                          env=env, stdout=subprocess.PIPE, text=True,
                          cwd="/")
    if proc.returncode != 0:
        sys.exit(f"mp_pool: {python} failed ({proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stock", default=os.path.join(ROOT, "build/stock/python"))
    p.add_argument("--fork", default=os.path.join(ROOT,
                                                  "build/immortal/python"))
    p.add_argument("--mb", type=int, default=200,
                   help="about this many MiB of records (default 200)")
    p.add_argument("--processes", type=int, default=4)
    p.add_argument("--tasks", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json")
    args = p.parse_args(argv)
    pythons = {"stock": os.path.abspath(args.stock),
               "fork": os.path.abspath(args.fork)}
    for exe in pythons.values():
        if not os.access(exe, os.X_OK):
            sys.exit(f"mp_pool: {exe} is missing: make immortal stock")
    figures = {name: {"child_mib": [], "tasks_s": [], "parent_mib": []}
               for name, _, _ in CONFIGS}
    for rnd in range(args.rounds):
        for name, twin, prepare in CONFIGS:
            res = run_parent(pythons[twin], twin, prepare, args)
            want = ("immortalize_heap" if twin == "fork" else "freeze") \
                if prepare else None
            if res["prepared"] != want:
                sys.exit(f"mp_pool: {name} prepared {res['prepared']!r}")
            if len(res["children_kib"]) != args.processes:
                sys.exit(f"mp_pool: {name}: {len(res['children_kib'])} of "
                         f"{args.processes} children reported")
            fig = figures[name]
            fig["child_mib"].append(
                statistics.mean(res["children_kib"].values()) / 1024)
            fig["tasks_s"].append(res["tasks"] / res["seconds"])
            fig["parent_mib"].append(res["parent_kib"] / 1024)
            print(f"round {rnd + 1}: {name}: child {fig['child_mib'][-1]:.1f}"
                  f" MiB, {fig['tasks_s'][-1]:.1f} tasks/s", file=sys.stderr)
    base = figures["stock"]
    print(f"{args.processes} children, {args.tasks} tasks over about "
          f"{args.mb} MiB of records; medians of {args.rounds} rounds")
    print(f"{'config':<14} {'parent MiB':>10} {'child USS MiB':>14} "
          f"{'vs stock':>8} {'tasks/s':>8} {'vs stock':>8}")
    for name, fig in figures.items():
        child = statistics.median(fig["child_mib"])
        rate = statistics.median(fig["tasks_s"])
        print(f"{name:<14} {statistics.median(fig['parent_mib']):10.1f} "
              f"{child:14.1f} {child / statistics.median(base['child_mib']):8.3f}"
              f" {rate:8.1f} {rate / statistics.median(base['tasks_s']):8.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
