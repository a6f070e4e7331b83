"""How fast a worker runs, and how much it copies, for each way the master
can leave its code: the demo shop's workers after sys.immortalize_heap().

    build/stock/python Tools/immortal/bench/worker_speed.py \\
        [--rounds 5] [--requests 400] [--callgrind] [--json FILE]

A master imports the demo shop (Tools/immortal/servers/demoapp) the way the
servers do: its database and cache, three requests to each of three pages
through Django's test client, then (unless told DEMOAPP_WARM_UP=0)
immortal_prefork.warm_up() over the request mix; it prepares its heap and
forks one worker, which runs after_fork() and then serves --requests
requests through the WSGI application, in-process: no sockets and no load
generator competing with it for this machine's two cores, so what is
measured is the worker's own work. The configurations:

    stock                 stock twin, nothing prepared
    stock+freeze          stock twin, gc.collect() + gc.freeze()
    fork-unprepared       the fork, nothing prepared (its interpreter's cost)
    fork-no-warm_up       sys.immortalize_heap(), DEMOAPP_WARM_UP=0
    fork                  sys.immortalize_heap(): code frozen (the default)
    fork+spec-no-warm_up  sys.immortalize_heap(specialize=True), no warm_up()
    fork+specialize       sys.immortalize_heap(specialize=True)

Per worker: CPU seconds per request (time.process_time(); configurations
interleaved round by round, median over the rounds) and its private memory
after the requests (USS, smaps_rollup). With --callgrind, each master runs
once more under valgrind's callgrind and forks two workers, serving
--cg-requests A,B requests: (instructions of B - instructions of A) /
(B - A) is the instructions per request of a warm worker, exact, whatever
the machine's noise. Needs Debian's python3-django (Tools/immortal/deps.sh)
and `make immortal stock` (valgrind for --callgrind).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
SERVERS = os.path.join(ROOT, "Tools", "immortal", "servers")
HELPER_DIR = os.path.join(ROOT, "Lib")          # immortal_prefork for stock
DIST_PACKAGES = "/usr/lib/python3/dist-packages"

# (name, twin, prepare, warm_up, specialize)
CONFIGS = [
    ("stock", "stock", None, True, False),
    ("stock+freeze", "stock", "prepare", True, False),
    ("fork-unprepared", "fork", None, True, False),
    ("fork-no-warm_up", "fork", "prepare", False, False),
    ("fork", "fork", "prepare", True, False),
    ("fork+spec-no-warm_up", "fork", "prepare", False, True),
    ("fork+specialize", "fork", "prepare", True, True),
]

# Run by the interpreter measured. argv[1]: JSON settings. One JSON line
# per worker on stdout.
MASTER = r"""
import json, os, sys, time
settings = json.loads(sys.argv[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demoapp.settings")
import demoapp.wsgi
import immortal_prefork
from wsgiref.util import setup_testing_defaults

app = demoapp.wsgi.application
WORDS = ["red+steel", "travel", "blue", "wood+smart"]

def path(n):
    k = n % 4
    if k == 0:
        return "/"
    if k == 1:
        return "/product/%d/" % (n * 7919 % 20000 + 1)
    return "/api/search/?q=" + WORDS[n // 4 % 4]

def get(p):
    p, _, q = p.partition("?")
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": p, "QUERY_STRING": q,
               "SERVER_NAME": "localhost", "HTTP_HOST": "localhost"}
    setup_testing_defaults(environ)
    status = []
    def start_response(s, h, exc_info=None):
        status.append(s)
    body = app(environ, start_response)
    size = sum(len(chunk) for chunk in body)
    body.close()
    if not status[0].startswith("200") or size == 0:
        raise SystemExit("worker: %s answered %s" % (p, status[0]))

if settings["prepare"]:
    immortal_prefork.prepare_fork(specialize=settings["specialize"])

for requests in settings["workers"]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        immortal_prefork.after_fork()
        c0, t0 = time.process_time(), time.perf_counter()
        for n in range(requests):
            get(path(n))
        c1, t1 = time.process_time(), time.perf_counter()
        fields = {}
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    fields[parts[0].rstrip(":")] = int(parts[1])
        os.write(w, json.dumps({
            "pid": os.getpid(), "requests": requests, "cpu": c1 - c0,
            "wall": t1 - t0,
            "uss_kib": fields["Private_Clean"] + fields["Private_Dirty"],
            "pss_kib": fields["Pss"],
            "prepared": immortal_prefork.prepared(),
        }).encode())
        os.close(w)
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        raise SystemExit("worker failed: exit status %d"
                         % os.waitstatus_to_exitcode(status))
    print(data.decode(), flush=True)
"""


def clean_env(twin, db, warm_up):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "DEMOAPP_", "DJANGO_"))}
    env["DEMOAPP_DB"] = db
    if not warm_up:
        env["DEMOAPP_WARM_UP"] = "0"
    env["PYTHONHASHSEED"] = "0"
    paths = [SERVERS, DIST_PACKAGES]
    if twin == "stock":
        paths.insert(1, HELPER_DIR)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_master(python, config, workers, db, valgrind_dir=None):
    name, twin, prepare, warm_up, specialize = config
    settings = {"prepare": prepare, "specialize": specialize,
                "workers": workers}
    cmd = [python, "-c", MASTER, json.dumps(settings)]
    if valgrind_dir is not None:
        cmd = ["valgrind", "--tool=callgrind", "--dump-instr=no",
               "--compress-strings=no",
               f"--callgrind-out-file={valgrind_dir}/callgrind.%p"] + cmd
    proc = subprocess.run(cmd, env=clean_env(twin, db, warm_up), cwd=SERVERS,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    if proc.returncode != 0:
        sys.exit(f"{name}: master failed ({proc.returncode}):\n"
                 f"{proc.stderr[-3000:]}")
    results = [json.loads(line) for line in proc.stdout.splitlines()
               if line.startswith("{")]
    expected = "immortalize_heap" if twin == "fork" else "freeze"
    for res in results:
        if res["prepared"] != (expected if prepare else None):
            sys.exit(f"{name}: the worker was prepared by "
                     f"{res['prepared']!r}: wrong interpreter?")
    return results


def callgrind_total(path):
    """Instructions in a callgrind output file (its summary line)."""
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise ValueError(f"{path}: no totals")


def instructions_per_request(python, config, counts, db, keep=None):
    with tempfile.TemporaryDirectory(prefix="worker-speed-cg-") as d:
        results = run_master(python, config, counts, db, valgrind_dir=d)
        files = [os.path.join(d, f"callgrind.{r['pid']}") for r in results]
        totals = [callgrind_total(f) for f in files]
        if keep:
            os.makedirs(keep, exist_ok=True)
            for f, r in zip(files, results):
                shutil.copy(f, os.path.join(
                    keep, f"{config[0]}.{r['requests']}.callgrind"))
    (a, b), (ia, ib) = counts, totals
    return (ib - ia) / (b - a)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stock", default=os.path.join(ROOT, "build", "stock",
                                                   "python"))
    p.add_argument("--fork", default=os.path.join(ROOT, "build", "immortal",
                                                  "python"))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--requests", type=int, default=400,
                   help="requests each worker serves (default 400)")
    p.add_argument("--configs", type=lambda s: s.split(","),
                   default=[c[0] for c in CONFIGS])
    p.add_argument("--callgrind", action="store_true",
                   help="also count instructions per request")
    p.add_argument("--cg-requests", default="20,120",
                   type=lambda s: [int(x) for x in s.split(",")],
                   help="the two workers' requests under callgrind")
    p.add_argument("--keep-callgrind", metavar="DIR",
                   help="keep the workers' callgrind files here, as "
                        "CONFIG.REQUESTS.callgrind (for callgrind_annotate)")
    p.add_argument("--json", help="write the figures here")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    configs = [c for c in CONFIGS if c[0] in args.configs]
    unknown = set(args.configs) - {c[0] for c in CONFIGS}
    if unknown:
        sys.exit(f"unknown configurations: {', '.join(sorted(unknown))}")
    pythons = {"stock": os.path.abspath(args.stock),
               "fork": os.path.abspath(args.fork)}
    # The stock twin also makes the database, whatever --configs says.
    for exe in pythons.values():
        if not os.access(exe, os.X_OK):
            sys.exit(f"worker_speed: {exe} is missing: make immortal stock")
    if args.callgrind and shutil.which("valgrind") is None:
        sys.exit("worker_speed: --callgrind needs valgrind (apt-get install "
                 "valgrind)")
    if len(args.cg_requests) != 2 or args.cg_requests[0] >= args.cg_requests[1]:
        sys.exit("worker_speed: --cg-requests wants A,B with A < B")
    figures = {c[0]: {"cpu_ms": [], "uss_kib": []} for c in configs}
    with tempfile.TemporaryDirectory(prefix="worker-speed-") as tmp:
        db = os.path.join(tmp, "demo.sqlite3")
        # The first master creates the database; not measured.
        run_master(pythons["stock"], CONFIGS[0], [4], db)
        for rnd in range(args.rounds):
            for config in configs:
                res, = run_master(pythons[config[1]], config,
                                  [args.requests], db)
                figures[config[0]]["cpu_ms"].append(
                    1000 * res["cpu"] / res["requests"])
                figures[config[0]]["uss_kib"].append(res["uss_kib"])
            print(f"round {rnd + 1}/{args.rounds}: " + ", ".join(
                f"{c[0]} {figures[c[0]]['cpu_ms'][-1]:.2f} ms"
                for c in configs), file=sys.stderr, flush=True)
        if args.callgrind:
            for config in configs:
                ipr = instructions_per_request(
                    pythons[config[1]], config, args.cg_requests, db,
                    args.keep_callgrind)
                figures[config[0]]["instructions"] = ipr
                print(f"callgrind: {config[0]} {ipr:,.0f} instructions "
                      "per request", file=sys.stderr, flush=True)
    base = figures.get("stock")
    print(f"{args.rounds} rounds of {args.requests} requests per worker; "
          "CPU ms per request: median (min-max); USS after the requests")
    head = (f"{'config':<21} {'ms/req':>7} {'(min-max)':>13} {'vs stock':>8}"
            f" {'USS MiB':>8} {'vs stock':>8}")
    if args.callgrind:
        head += f" {'instr/req':>11} {'vs stock':>8}"
    print(head)

    def ratio(value, base_value):
        return f"{value / base_value:8.3f}" if base_value else f"{'-':>8}"

    for name, fig in figures.items():
        line = f"{name:<21}"
        if fig["cpu_ms"]:
            cpu = statistics.median(fig["cpu_ms"])
            uss = statistics.median(fig["uss_kib"]) / 1024
            spread = "(%.2f-%.2f)" % (min(fig["cpu_ms"]), max(fig["cpu_ms"]))
            line += f" {cpu:7.3f} {spread:>13}"
            if base:
                line += " " + ratio(cpu, statistics.median(base["cpu_ms"]))
            line += f" {uss:8.1f}"
            if base:
                line += " " + ratio(uss, statistics.median(base["uss_kib"]) / 1024)
        else:                               # --rounds 0: callgrind only
            line += f" {'-':>7} {'':>13} {'':>8} {'-':>8} {'':>8}"
        if args.callgrind:
            line += f" {fig['instructions']:11,.0f}"
            if base:
                line += " " + ratio(fig["instructions"], base["instructions"])
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": args.rounds, "requests": args.requests,
                       "figures": figures}, f, indent=1)


if __name__ == "__main__":
    main()
