#!/usr/bin/env python3
"""The copy-on-write probe: what a forked worker costs in private memory.

A master process imports modules and builds a warm heap, then (by mode)
does nothing (``stock``), calls ``gc.freeze()`` (``freeze``) or
``sys.immortalize_heap()`` (``immortalize``), and forks workers. Each
worker reads every object of the heap once, runs a full collection, then
serves "requests" that allocate and free garbage. Between the steps it
reads its own /proc/self/smaps_rollup; at the end, with every worker
alive, the master reads theirs. The driver runs the same heap under
several interpreters and modes, prints a table and writes an SVG chart.

    build/stock/python Tools/immortal/cowprobe.py \\
        --python stock=build/stock/python --python fork=build/immortal/python

Figures per worker: Private_Dirty growth after reading the heap and a full
collection ("read"), and after the requests too ("+req"), in MiB and as a
share of the warm heap; Pss and shared (Shared_Clean + Shared_Dirty) with
all workers alive. The warm heap is the master's Rss growth from start-up
(before the imports) to the end of the build. Immortalize time is compared
with one full gc.collect() of the same heap, timed just before, in the
same process.

Runs with no dependency beyond the standard library, under any Python 3.11
(the driver and the interpreters measured may differ). Linux only.
"""

import argparse
import gc
import json
import os
import subprocess
import sys
import time

DEFAULT_MODULES = (
    "argparse asyncio collections csv dataclasses datetime decimal "
    "email.message email.parser fractions http.client json logging "
    "pathlib re sqlite3 statistics string textwrap typing unittest "
    "urllib.parse urllib.request uuid xml.etree.ElementTree"
).split()

SHAPES = ("records", "dicts", "tuples", "strings")

MODES = ("stock", "freeze", "immortalize")


# --- /proc ----------------------------------------------------------------

def smaps_rollup(pid="self"):
    """Fields of /proc/PID/smaps_rollup in KiB."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1])
    return fields


# --- The master and its workers (run under the interpreter measured) ------

class Record:
    """An app-like object: an instance with a handful of attributes."""

    def __init__(self, i):
        self.id = i * 7919
        self.name = f"record-{i:08d}-{'x' * (i % 13)}"
        self.score = i * 0.5
        self.tags = ("alpha", "beta", f"t{i % 97}")
        self.meta = {"created": i * 3, "owner": f"user{i % 1009}",
                     "active": bool(i & 1)}
        self.history = [i, i + 1000, i + 2000, i + 3000, i + 4000]


def make_item(shape, i):
    if shape == "records":
        return Record(i)
    if shape == "dicts":
        return {"id": i * 31, "title": f"title {i} " * 3,
                "price": i / 7, "sku": f"SKU{i:09d}",
                "dims": [i % 10, i % 20, i % 30]}
    if shape == "tuples":
        return (i * 17, f"key{i:010d}", float(i), (i, -i), b"v%d" % i)
    if shape == "strings":
        return f"{i:012d}:" + "lorem ipsum dolor sit amet " * (1 + i % 4)
    raise ValueError(shape)


def build_heap(heap_mb, shapes):
    """Items of the given shapes, round robin, until Rss grew by heap_mb."""
    start = smaps_rollup()["Rss"]
    items, index = [], {}
    target = heap_mb * 1024
    i = 0
    while True:
        for _ in range(5000):
            shape = shapes[i % len(shapes)]
            item = make_item(shape, i)
            items.append(item)
            if shape == "records":
                index[item.name] = item
            i += 1
        if smaps_rollup()["Rss"] - start >= target:
            return {"items": items, "index": index}


def read_object(obj, depth=0):
    """Touch obj and everything it holds, as request code reading it
    would (each access takes and drops a reference)."""
    n = 1
    if depth > 4:
        return n
    if isinstance(obj, (list, tuple)):
        for x in obj:
            n += read_object(x, depth + 1)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            n += read_object(k, depth + 1) + read_object(v, depth + 1)
    elif isinstance(obj, Record):
        for v in (obj.id, obj.name, obj.score, obj.tags, obj.meta,
                  obj.history):
            n += read_object(v, depth + 1)
    return n


def read_modules(modules):
    """Touch every module's namespace (what request code does by calling
    into them)."""
    n = 0
    for name in modules:
        mod = sys.modules.get(name)
        if mod is None:
            continue
        for value in list(vars(mod).values()):
            n += 1
            if isinstance(value, type):
                n += len(value.__dict__)
    return n


def serve_requests(heap, count):
    """Request-shaped garbage: responses built from heap data, encoded,
    dropped; a reference cycle now and then for the collector."""
    import json
    items = heap["items"]
    total = 0
    for r in range(count):
        start = (r * 37) % max(1, len(items) - 20)
        body = []
        for item in items[start:start + 20]:
            if isinstance(item, Record):
                body.append({"id": item.id, "name": item.name.upper(),
                             "score": item.score * 2,
                             "tags": list(item.tags)})
            else:
                body.append(repr(item)[:40])
        resp = {"request": r, "items": body}
        total += len(json.dumps(resp))
        if r % 10 == 0:
            cycle = {"self": None, "data": body}
            cycle["self"] = cycle
    return total


def worker(heap, modules, requests, report_fd, release_fd):
    base = smaps_rollup()
    read_object(heap["items"])
    read_object(heap["index"])
    read_modules(modules)
    gc.collect()
    after_read = smaps_rollup()
    serve_requests(heap, requests)
    gc.collect()
    after_requests = smaps_rollup()
    os.write(report_fd, (json.dumps({
        "base": base, "read": after_read, "requests": after_requests,
    }) + "\n").encode())
    os.close(report_fd)
    os.read(release_fd, 1)      # stay alive until the master has read Pss
    os._exit(0)                 # no teardown: it would write to the heap


def master(args):
    start_rss = smaps_rollup()["Rss"]
    imported, missing = [], []
    import importlib
    for name in args.modules:
        try:
            importlib.import_module(name)
            imported.append(name)
        except ImportError:
            missing.append(name)
    heap = build_heap(args.heap_mb, args.shapes)
    built = smaps_rollup()
    heap_kb = built["Rss"] - start_rss

    gc.collect()                # the garbage of the build
    t = time.perf_counter()
    gc.collect()
    collect_seconds = time.perf_counter() - t
    tracked = len(gc.get_objects())

    result = {
        "python": sys.executable, "version": sys.version, "mode": args.mode,
        "heap_kb": heap_kb, "items": len(heap["items"]),
        "shapes": args.shapes, "modules": imported, "missing": missing,
        "tracked": tracked, "collect_seconds": collect_seconds,
        "workers": [],
    }
    if args.mode == "freeze":
        gc.freeze()
    elif args.mode == "immortalize":
        if not hasattr(sys, "immortalize_heap"):
            sys.exit(f"{sys.executable} has no sys.immortalize_heap()")
        t = time.perf_counter()
        stats = sys.immortalize_heap()
        result["immortalize_seconds"] = time.perf_counter() - t
        result["immortalize"] = {k: getattr(stats, k) for k in (
            "objects", "tracked", "untracked", "str", "bytes", "int",
            "float", "code", "other", "kept_mortal", "collected",
            "sealed_bytes", "collect_seconds", "seconds")}

    # Workers stay alive until the master has read their Pss: they block
    # reading this pipe until the master closes its end.
    release_r, release_w = os.pipe()
    children = []
    for _ in range(args.workers):
        report_r, report_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(report_r)
                os.close(release_w)
                worker(heap, imported, args.requests, report_w, release_r)
            finally:
                os._exit(1)
        os.close(report_w)
        with os.fdopen(report_r) as f:      # one worker at a time: 2 cores
            line = f.readline()
        if not line:
            sys.exit(f"worker {pid} died")
        children.append((pid, json.loads(line)))

    for pid, report in children:
        report["final"] = smaps_rollup(pid)
        result["workers"].append(report)
    os.close(release_w)
    for pid, report in children:
        os.waitpid(pid, 0)
    print(json.dumps(result))


# --- The shape table: one master per shape (run under the interpreter) ----

def shape_master(args):
    """Build one shape to args.shape_mb of Rss, apply the mode, fork one
    worker that reads it twice and collects; print the figures."""
    import cowshapes
    sh = cowshapes.SHAPES[args.shape_master]
    gc.collect()
    start = smaps_rollup()["Rss"]
    c = sh.new()
    i = 0
    while smaps_rollup()["Rss"] - start < args.shape_mb * 1024:
        for _ in range(500):
            sh.add(c, i)
            i += 1
    sh.warm(c)
    gc.collect()
    shape_kb = smaps_rollup()["Rss"] - start
    result = {"shape": sh.name, "doc": sh.doc, "mode": args.mode,
              "items": i, "shape_kb": shape_kb}
    if args.mode == "freeze":
        gc.freeze()
    elif args.mode == "immortalize":
        t = time.perf_counter()
        sys.immortalize_heap()
        result["immortalize_seconds"] = time.perf_counter() - t
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            # Warm the reading code up on a small container of the worker's
            # own, so that the baseline holds the worker's stack and
            # allocator state, not the shape.
            own = sh.new()
            for j in range(200):
                sh.add(own, 10 ** 9 + j)
            sh.read(own)
            sh.read(own)
            base = smaps_rollup()
            sh.read(c)
            sh.read(c)
            gc.collect()
            after = smaps_rollup()
            os.write(w, json.dumps({"base": base, "after": after}).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        report = json.loads(f.read())
    os.waitpid(pid, 0)
    result["private_kb"] = (report["after"]["Private_Dirty"]
                            - report["base"]["Private_Dirty"])
    # Pages copied from the master, as opposed to the worker's own new
    # pages: a copy-on-write fault turns a mapped page private without
    # growing Rss.
    result["copied_kb"] = result["private_kb"] - (
        report["after"]["Rss"] - report["base"]["Rss"])
    print(json.dumps(result))


def shape_table(args, pythons):
    """Every shape in every interpreter and mode; one row per shape."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cowshapes
    names = args.shape_names or list(cowshapes.SHAPES)
    columns = []
    for label, exe, has_immortal in pythons:
        modes = ("immortalize",) if has_immortal else ("stock", "freeze")
        if args.all_modes and has_immortal:
            modes = MODES
        columns += [(label, exe, mode) for mode in modes]
    rows = {name: {} for name in names}
    for name in names:
        # Interleaved: one shape under every column before the next shape.
        for label, exe, mode in columns:
            proc = subprocess.run(
                [exe, os.path.abspath(__file__), "--shape-master", name,
                 "--mode", mode, "--shape-mb", str(args.shape_mb)],
                stdout=subprocess.PIPE, text=True, env=clean_env())
            if proc.returncode:
                sys.exit(f"cowprobe: shape {name}, {label} {mode} failed "
                         f"(exit {proc.returncode})")
            rows[name][(label, mode)] = json.loads(
                proc.stdout.strip().splitlines()[-1])
        print(f"cowprobe: shape {name} done", file=sys.stderr, flush=True)
    print_shape_table(rows, columns)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([dict(r, label=k[0]) for row in rows.values()
                       for k, r in row.items()], f, indent=1)
    return rows, columns


def print_shape_table(rows, columns, out=sys.stdout):
    w = out.write
    w("\nshapes: each built to its size in a master of its own; one worker "
      "reads it twice and collects; private: the worker's Private_Dirty "
      "growth as a share of the shape's memory; copied: the part of it "
      "that was the master's pages (the rest is the worker's own new "
      "memory)\n")
    heads = ["%s %s" % (label, mode) for label, _, mode in columns]
    w("%-20s %8s | %s | %-7s | %s\n" % ("shape", "MiB", " | ".join(
        "%-14s" % h for h in heads), "copied", "target <= 1%"))
    missed = []
    for name, row in rows.items():
        cells, fork_share, copied = [], None, ""
        size = None
        for label, _, mode in columns:
            r = row[(label, mode)]
            size = size or r["shape_kb"]
            share = r["private_kb"] / r["shape_kb"]
            cells.append("%5.1f%% %6.2fM" % (100 * share, mib(r["private_kb"])))
            if mode == "immortalize":
                fork_share = share
                copied = "%5.1f%%" % (100 * r["copied_kb"] / r["shape_kb"])
        ok = fork_share is None or fork_share <= 0.01
        if not ok:
            missed.append(name)
        w("%-20s %8.1f | %s | %-7s | %s\n" % (name, mib(size), " | ".join(
            "%-14s" % c for c in cells), copied,
            "-" if fork_share is None else verdict(ok)))
    w("shapes within target: %d of %d%s\n" % (
        len(rows) - len(missed), len(rows),
        (" (not: %s)" % ", ".join(missed)) if missed else ""))


# --- The driver --------------------------------------------------------------

def mib(kb):
    return kb / 1024


def summarize(run):
    heap = run["heap_kb"]
    rows = []
    for w in run["workers"]:
        read = w["read"]["Private_Dirty"] - w["base"]["Private_Dirty"]
        req = w["requests"]["Private_Dirty"] - w["base"]["Private_Dirty"]
        final = w["final"]
        rows.append({
            "read_kb": read, "req_kb": req,
            "read_share": read / heap, "req_share": req / heap,
            "pss_kb": final["Pss"],
            "shared_kb": final["Shared_Clean"] + final["Shared_Dirty"],
            "private_kb": final["Private_Clean"] + final["Private_Dirty"],
        })
    return rows


def print_table(runs, out=sys.stdout):
    w = out.write
    w("\nheap: %s items (%s), %d workers, %d requests each\n" % (
        runs[0]["items"], "+".join(runs[0]["shapes"]),
        len(runs[0]["workers"]), runs[0]["requests"]))
    w("%-8s %-12s %8s | %-18s %-18s %8s %8s | %s\n" % (
        "python", "mode", "heap MiB", "private: read", "+req",
        "Pss MiB", "shared", "immortalize"))
    for run in runs:
        rows = summarize(run)
        n = len(rows)
        read = sum(r["read_kb"] for r in rows) / n
        req = sum(r["req_kb"] for r in rows) / n
        pss = sum(r["pss_kb"] for r in rows) / n
        shared = sum(r["shared_kb"] for r in rows) / n
        heap = run["heap_kb"]
        imm = ""
        if "immortalize" in run:
            s = run["immortalize"]
            imm = "%.3f s (%.2fx gc.collect %.3f s), %d objects, %.2fM/s" % (
                run["immortalize_seconds"],
                run["immortalize_seconds"] / run["collect_seconds"],
                run["collect_seconds"], s["objects"],
                s["objects"] / run["immortalize_seconds"] / 1e6)
        w("%-8s %-12s %8.1f | %7.1f MiB %5.1f%% %7.1f MiB %5.1f%% %8.1f %8.1f | %s\n"
          % (run["label"], run["mode"], mib(heap), mib(read),
             100 * read / heap, mib(req), 100 * req / heap, mib(pss),
             mib(shared), imm))
    w("(private: Private_Dirty growth of each worker, mean of %d, after "
      "reading the heap + gc.collect(), then after the requests too; "
      "%% of the warm heap)\n" % len(runs[0]["workers"]))
    for run in runs:
        if "immortalize" not in run:
            continue
        rows = summarize(run)
        worst_read = max(r["read_share"] for r in rows)
        worst_req = max(r["req_share"] for r in rows)
        ratio = run["immortalize_seconds"] / run["collect_seconds"]
        w("targets (%s): read <= 2%%: %s (worst worker %.2f%%); "
          "+req <= 3%%: %s (%.2f%%); immortalize <= 1.5x gc.collect: "
          "%s (%.2fx)\n" % (
              run["label"], verdict(worst_read <= 0.02), 100 * worst_read,
              verdict(worst_req <= 0.03), 100 * worst_req,
              verdict(ratio <= 1.5), ratio))


def verdict(ok):
    return "met" if ok else "NOT met"


def svg_chart(runs, path):
    """Per worker: private (after the requests) and shared MiB, stacked;
    one group of bars per interpreter and mode."""
    groups = []
    for run in runs:
        rows = summarize(run)
        share = sum(r["req_share"] for r in rows) / len(rows)
        groups.append((run["label"], run["mode"],
                       f"{100 * share:.1f}% private",
                       [(mib(r["req_kb"]), mib(r["shared_kb"])) for r in rows]))
    stacked_bars_svg(groups, path,
                     "Per-worker memory after reading the heap, a full "
                     "collection and the requests (MiB)",
                     ("private (Private_Dirty growth)",
                      "shared (Shared_Clean+Dirty)"))


def stacked_bars_svg(groups, path, title, legend_labels):
    """groups: (label, sublabel, caption, [(low, high), ...]): one bar per
    pair, low stacked under high; written to path as SVG."""
    bar, gap, group_gap, top, left, height = 22, 4, 30, 40, 70, 300
    legend = 240
    peak = max(low + high for *_, bars in groups for low, high in bars) or 1
    width = max(620, left + sum(len(bars) * (bar + gap) + group_gap
                                for *_, bars in groups) + legend)
    scale = height / peak
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{top + height + 80}" font-family="sans-serif" '
        f'font-size="12">',
        f'<text x="{left}" y="20" font-size="14">{title}</text>',
    ]
    for tick in range(0, int(peak) + 1, nice_step(peak)):
        y = top + height - tick * scale
        out.append(f'<line x1="{left - 5}" x2="{width - legend}" y1="{y:.1f}" '
                   f'y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{tick}</text>')
    x = left
    for label, sublabel, caption, bars in groups:
        x0 = x
        for low, high in bars:
            y_low = top + height - low * scale
            out.append(f'<rect x="{x}" y="{y_low:.1f}" width="{bar}" '
                       f'height="{low * scale:.1f}" fill="#d62728">'
                       f'<title>{legend_labels[0]}: {low:.1f}</title></rect>')
            out.append(f'<rect x="{x}" y="{y_low - high * scale:.1f}" '
                       f'width="{bar}" height="{high * scale:.1f}" '
                       f'fill="#1f77b4"><title>{legend_labels[1]}: '
                       f'{high:.1f}</title></rect>')
            x += bar + gap
        mid = (x0 + x - gap) / 2
        for dy, text in ((18, label), (34, sublabel), (50, caption)):
            out.append(f'<text x="{mid:.1f}" y="{top + height + dy}" '
                       f'text-anchor="middle">{text}</text>')
        x += group_gap
    lx = width - legend + 20
    for i, (text, color) in enumerate(zip(legend_labels,
                                           ("#d62728", "#1f77b4"))):
        y = top + 22 * i
        out.append(f'<rect x="{lx}" y="{y}" width="14" height="14" '
                   f'fill="{color}"/><text x="{lx + 20}" y="{y + 12}">'
                   f'{text}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def nice_step(peak):
    """1, 2 or 5 times a power of ten, for at most 6 ticks."""
    base = 1
    while True:
        for step in (base, 2 * base, 5 * base):
            if peak / step <= 6:
                return step
        base *= 10


def driver(args):
    if args.shape_table:
        return shape_table(args, interpreters(args))
    pythons = [(label, exe) for label, exe, _ in interpreters(args)]
    runs = []
    for label, exe in pythons:
        has_immortal = has_immortalize(exe)
        for mode in args.modes:
            if mode == "immortalize" and not has_immortal:
                continue
            if mode == "stock" and has_immortal and not args.all_modes:
                continue
            if mode == "freeze" and has_immortal and not args.all_modes:
                continue
            cmd = [exe, os.path.abspath(__file__), "--master",
                   "--mode", mode, "--heap-mb", str(args.heap_mb),
                   "--workers", str(args.workers),
                   "--requests", str(args.requests),
                   "--shapes", ",".join(args.shapes),
                   "--modules", ",".join(args.modules)]
            print(f"cowprobe: {label} {mode}: {exe}", file=sys.stderr,
                  flush=True)
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True,
                                  env=clean_env())
            if proc.returncode:
                sys.exit(f"cowprobe: {label} {mode} failed "
                         f"(exit {proc.returncode})")
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            run["label"] = label
            run["requests"] = args.requests
            runs.append(run)
    if not runs:
        sys.exit("cowprobe: nothing to run")
    print_table(runs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)
    if args.svg:
        svg_chart(runs, args.svg)
        print(f"chart: {args.svg}")
    return runs


def has_immortalize(exe):
    return subprocess.run(
        [exe, "-c", "import sys; sys.exit(not hasattr(sys, 'immortalize_heap'))"],
        env=clean_env()).returncode == 0


def interpreters(args):
    pythons = []
    for spec in args.python or [f"this={sys.executable}"]:
        label, _, exe = spec.partition("=")
        if not exe:
            label, exe = os.path.basename(spec), spec
        pythons.append((label, exe, has_immortalize(exe)))
    return pythons


def clean_env():
    # The interpreters measured must not pick up this process's settings.
    return {k: v for k, v in os.environ.items()
            if not k.startswith("PYTHON")}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python", action="append", metavar="LABEL=PATH",
                   help="an interpreter to measure (repeatable); default: "
                        "this one")
    p.add_argument("--modes", type=lambda s: s.split(","),
                   default=list(MODES),
                   help="comma-separated, of %s (default: all; stock and "
                        "freeze run only on interpreters without "
                        "immortalize_heap unless --all-modes)" % (MODES,))
    p.add_argument("--all-modes", action="store_true",
                   help="run every mode on every interpreter")
    p.add_argument("--heap-mb", type=int, default=150,
                   help="warm heap to build, in MiB of Rss (default 150)")
    p.add_argument("--shapes", type=lambda s: s.split(","),
                   default=list(SHAPES),
                   help="comma-separated, of %s (default: all)" % (SHAPES,))
    p.add_argument("--modules", type=lambda s: [m for m in s.split(",") if m],
                   default=DEFAULT_MODULES,
                   help="modules the master imports (comma-separated)")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--requests", type=int, default=2000,
                   help="requests each worker serves (default 2000)")
    p.add_argument("--shape-table", action="store_true",
                   help="measure each shape of Tools/immortal/cowshapes.py "
                        "in a master of its own and print one row per shape")
    p.add_argument("--shape-names", type=lambda s: s.split(","),
                   help="with --shape-table: only these (comma-separated)")
    p.add_argument("--shape-mb", type=int, default=16,
                   help="with --shape-table: each shape's size in MiB of "
                        "Rss (default 16)")
    p.add_argument("--shape-master", help=argparse.SUPPRESS)
    p.add_argument("--svg", help="write the chart there")
    p.add_argument("--json", help="write the raw figures there")
    p.add_argument("--master", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for m in args.modes:
        if m not in MODES:
            p.error(f"unknown mode {m!r}")
    for s in args.shapes:
        if s not in SHAPES:
            p.error(f"unknown shape {s!r}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if not os.path.exists("/proc/self/smaps_rollup"):
        sys.exit("cowprobe: needs Linux's /proc/PID/smaps_rollup")
    if args.shape_master:
        shape_master(args)
    elif args.master:
        master(args)
    else:
        driver(args)


if __name__ == "__main__":
    main()
