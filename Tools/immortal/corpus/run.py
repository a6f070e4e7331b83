#!/usr/bin/env python3
"""The PyPI wheel corpus: binary wheels built for stock 3.11, on the fork.

For each interpreter named (the fork and its stock twin), a venv made with
its own `venv` and `pip`; into it, with that pip, every wheel pinned with
its hash in wheels.txt (downloaded once into a cache, offline afterwards).
Then, for each project of corpus.py, in a process of its own: import it
and run its smoke test; call sys.immortalize_heap() (the stock twin:
gc.freeze()); run the smoke test again; fork; run it in the child. An
abort, a crash, a hang, an exception or a wrong result is a failure.

    build/stock/python Tools/immortal/corpus/run.py \\
        --python fork=build/immortal/python --python stock=build/stock/python

With --serializers, for each project that walks user data (its
"serialize" expression), a worker's memory after serializing a warm heap
once, stock twin vs fork: what it copied from the master (private growth
less Rss growth) and its private growth; with --rebuild fork, also the
fork with those projects rebuilt from their sdists (immortal_rebuild).

Exit status: 0 when every smoke test passed everywhere; 1 when one
failed; 2 when the wheels are neither cached nor downloadable (one line
says so). Stdlib only; runs under any Python 3.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
WHEELS_TXT = os.path.join(HERE, "wheels.txt")
sys.path.insert(0, HERE)
import corpus  # noqa: E402

CACHE = os.path.join(
    os.environ.get("IMMORTAL_CACHE_DIR")
    or os.path.join(os.path.expanduser("~"), ".cache", "immortal-cpython"),
    "wheels")
PHASES = ("before", "after", "worker")

# The standard library's serializers, built with each interpreter's own
# headers: what a serializer costs when its refcounting knows immortality.
BASELINES = [
    {"name": "json (stdlib)", "imports": ["json"],
     "serialize": "json.dumps(DATA)"},
    {"name": "pickle (stdlib)", "imports": ["pickle"],
     "serialize": "pickle.dumps(DATA)"},
]


# --- pip, isolated from this machine's configuration ------------------------

def pip_env(pip_cache):
    """An environment for pip: no configuration files (a machine's pip.conf
    may add constraints or find-links), no PIP_* or PYTHON* variables, a
    cache of its own for each interpreter (they share the cp311 tag)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "PYTHON"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_CACHE_DIR"] = pip_cache
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if os.environ.get("PIP_CERT"):
        env["PIP_CERT"] = os.environ["PIP_CERT"]
    return env


def pinned():
    """(name, version, [sha256, ...]) of each line of wheels.txt."""
    with open(WHEELS_TXT) as f:
        text = f.read().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", line)
        out.append((m.group(1), m.group(2),
                    re.findall(r"--hash=sha256:([0-9a-f]{64})", line)))
    return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def missing_wheels():
    """Pinned distributions with no file of a pinned hash in the cache."""
    have = set()
    if os.path.isdir(CACHE):
        for name in os.listdir(CACHE):
            if name.endswith(".whl"):
                have.add(sha256(os.path.join(CACHE, name)))
    return [(n, v) for n, v, hashes in pinned() if not have & set(hashes)]


def fetch(python, workdir):
    """Fill the cache from PyPI if it lacks a wheel. Returns an error
    line, or None."""
    missing = missing_wheels()
    if not missing:
        return None
    os.makedirs(CACHE, exist_ok=True)
    print(f"corpus: downloading {len(missing)} wheel(s) into {CACHE}",
          flush=True)
    proc = subprocess.run(
        [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--require-hashes", "-r", WHEELS_TXT, "-d", CACHE, "-q"],
        env=pip_env(os.path.join(workdir, "pip-cache-download")),
        capture_output=True, text=True)
    missing = missing_wheels()
    if proc.returncode or missing:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return (f"corpus: PyPI unreachable and {len(missing)} pinned wheel(s) "
                f"not cached in {CACHE} (first: {'=='.join(missing[0])}): "
                f"{last}")
    return None


# --- one venv per interpreter ------------------------------------------------

def make_venv(label, python, workdir, rebuild=False):
    """The venv of one interpreter, with the corpus installed by its own
    pip (and with rebuild, its heap walkers rebuilt from their sdists by
    `python -m immortal_rebuild`, which needs PyPI). Reused while
    wheels.txt is unchanged."""
    venv = os.path.join(workdir, label, "venv")
    vpython = os.path.join(venv, "bin", "python")
    stamp = os.path.join(venv, "corpus-installed")
    want = sha256(WHEELS_TXT) + " " + os.path.realpath(python)
    if rebuild:
        want += " rebuilt"
    if os.path.exists(stamp) and open(stamp).read() == want:
        return vpython
    shutil.rmtree(venv, ignore_errors=True)
    env = pip_env(os.path.join(workdir, label, "pip-cache"))
    subprocess.run([python, "-m", "venv", venv], check=True, env=env)
    # The bundled pip first replaces itself with the pinned one, then the
    # pinned one installs the rest, all offline from the cache.
    base = [vpython, "-m", "pip", "install", "-q", "--no-index",
            "--find-links", CACHE, "--only-binary=:all:"]
    pip_line = [line for line in open(WHEELS_TXT).read()
                .replace("\\\n", " ").splitlines()
                if re.match(r"pip==", line)]
    if pip_line:
        req = os.path.join(workdir, label, "pip-req.txt")
        with open(req, "w") as f:
            f.write(pip_line[0] + "\n")
        subprocess.run([*base, "--require-hashes", "-r", req],
                       check=True, env=env)
    subprocess.run([*base, "--require-hashes", "-r", WHEELS_TXT],
                   check=True, env=env)
    if rebuild:
        subprocess.run([vpython, "-m", "immortal_rebuild"], check=True,
                       env=env)
    with open(stamp, "w") as f:
        f.write(want)
    return vpython


# --- the smoke test of one project, in a process of its own -----------------

SMOKE = r"""
import gc, json, os, sys, traceback
entry = json.loads(sys.argv[1])
DATA = [{"id": i, "name": "n%d" % i, "tags": ["a", "b"], "score": i / 3,
         "ok": i % 2 == 0} for i in range(2000)]
results = {}

def smoke(phase):
    try:
        exec(compile(entry["smoke"], "<smoke of %s>" % entry["name"], "exec"),
             {"DATA": DATA, "__name__": "__smoke__"})
        results[phase] = "ok"
    except BaseException as e:
        tb = traceback.extract_tb(e.__traceback__)
        where = "line %d: " % tb[-1].lineno if tb else ""
        results[phase] = "%s%s: %s" % (where, type(e).__name__, e)

try:
    import immortal_audit           # before the call, like the rest
except ImportError:                 # the stock twin
    immortal_audit = None
smoke("before")
def immortalize():
    # The auditor's findings right after the call (Lib/immortal_audit.py),
    # before this script stores anything new in the heap: in a function,
    # whose locals the audit does not follow.
    objects = sys.immortalize_heap().objects
    return objects, [repr(f) for f in immortal_audit.audit(limit=5)]

if hasattr(sys, "immortalize_heap"):
    objects, audit = immortalize()
    results["audit"] = audit
    results["event"] = "immortalize_heap: %d objects" % objects
else:
    gc.freeze()
    results["event"] = "gc.freeze"
smoke("after")
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    smoke("worker")
    os.write(w, results["worker"].encode()[:60000])
    os._exit(0)
os.close(w)
chunks = []
while True:
    chunk = os.read(r, 65536)
    if not chunk:
        break
    chunks.append(chunk)
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
results["worker"] = (b"".join(chunks).decode() if code == 0
                     else "worker exited with %d" % code)
print("CORPUS-RESULT " + json.dumps(results))
"""


def describe_exit(rc, stderr):
    if rc < 0:
        import signal
        name = signal.Signals(-rc).name
        fatal = [line for line in stderr.splitlines()
                 if "Fatal Python error" in line or "Assertion" in line]
        return f"killed by {name}" + (f" ({fatal[0].strip()})" if fatal else "")
    tail = (stderr.strip().splitlines() or ["no output"])[-1]
    return f"exit {rc}: {tail}"


def run_smoke(vpython, entry, timeout):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        proc = subprocess.run(
            [vpython, "-X", "faulthandler", "-c", SMOKE, json.dumps(entry)],
            capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {p: f"timed out after {timeout} s" for p in PHASES}
    for line in proc.stdout.splitlines():
        if line.startswith("CORPUS-RESULT "):
            return json.loads(line[len("CORPUS-RESULT "):])
    why = describe_exit(proc.returncode, proc.stderr)
    return {p: why for p in PHASES}


def passed(result):
    return all(result.get(p) == "ok" for p in PHASES)


# --- serializers: a worker's private memory after one pass ------------------

SERIALIZE = r"""
import gc, json, os, sys, time
entry = json.loads(sys.argv[1])
records = int(sys.argv[2])

def rollup():
    out = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out

exec(entry["setup"], globals())
serialize = eval("lambda DATA: " + entry["serialize"], globals())
start = rollup()["Rss"]
DATA = [{"id": i, "name": "user-%d" % i, "email": "u%d@example.org" % i,
         "tags": ["t%d" % (i % 7), "t%d" % (i % 11)], "score": i / 7,
         "active": i % 3 == 0, "address": {"city": "c%d" % (i % 100),
         "zip": "%05d" % i}} for i in range(records)]
CHUNKS = [DATA[i:i + 1000] for i in range(0, len(DATA), 1000)]
heap_kb = rollup()["Rss"] - start
serialize(CHUNKS[0][:10])          # lazily made module state, before
if hasattr(sys, "immortalize_heap"):
    sys.immortalize_heap()
else:
    gc.freeze()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    for chunk in CHUNKS[:2]:       # the worker's own allocations settle
        len(chunk)
    before = rollup()
    for chunk in CHUNKS:
        serialize(chunk)
    after = rollup()
    private = lambda d: d["Private_Clean"] + d["Private_Dirty"]
    # Pages copied from the master turn shared into private without
    # growing Rss; the worker's own new pages grow both.
    grown = private(after) - private(before)
    os.write(w, json.dumps({"heap_kb": heap_kb, "private_kb": grown,
                            "copied_kb": grown - (after["Rss"] - before["Rss"])})
             .encode())
    os._exit(0)
os.close(w)
out = os.read(r, 10000)
os.waitpid(pid, 0)
print("CORPUS-RESULT " + out.decode())
"""


def run_serializer(vpython, entry, records, timeout):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    top = entry["imports"][0]
    job = {"setup": "import " + ", ".join(entry["imports"]) +
           f"\n{top.split('.')[0]} = __import__({top.split('.')[0]!r})",
           "serialize": entry["serialize"]}
    proc = subprocess.run([vpython, "-c", SERIALIZE, json.dumps(job),
                           str(records)],
                          capture_output=True, text=True, timeout=timeout,
                          env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("CORPUS-RESULT "):
            return json.loads(line[len("CORPUS-RESULT "):])
    return {"error": describe_exit(proc.returncode, proc.stderr)}


# --- the table ---------------------------------------------------------------

def cell(result):
    if passed(result):
        return "ok"
    bad = [f"{p}: {result.get(p, 'not run')}" for p in PHASES
           if result.get(p) != "ok"]
    return "FAIL " + "; ".join(bad)[:200]


def markdown(labels, entries, results, serial, serial_labels):
    lines = ["| project | version | build kind | " +
             " | ".join(labels) + " |",
             "|---|---|---|" + "---|" * len(labels)]
    for e in entries:
        lines.append(f"| {e['name']} | {e['version']} | {e['kind']} | " +
                     " | ".join(cell(results[label][e['name']])
                                for label in labels) + " |")
    if serial:
        lines += ["", "| serializer (one pass over the heap, in a worker) | " +
                  " | ".join(f"{label}: copied MiB (% of heap), private MiB"
                             for label in serial_labels) + " |",
                  "|---|" + "---|" * len(serial_labels)]
        for name, per in serial.items():
            cells = []
            for label in serial_labels:
                r = per[label]
                if "error" in r:
                    cells.append("error: " + r["error"][:80])
                else:
                    # Pages of libraries the worker reads for the first
                    # time grow Rss, not private: the estimate can dip
                    # below zero by that much.
                    copied = max(r["copied_kb"], 0)
                    cells.append(f"{copied / 1024:.1f} "
                                 f"({100 * copied / r['heap_kb']:.1f}%)"
                                 f", {r['private_kb'] / 1024:.1f}")
            lines.append(f"| {name}: `{per['expr']}` | " + " | ".join(cells) +
                         " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", required=True,
                    metavar="LABEL=PATH", help="an interpreter to test")
    ap.add_argument("--workdir", default=os.path.join(ROOT, "build", "corpus"))
    ap.add_argument("--only", nargs="+", metavar="PROJECT")
    ap.add_argument("--serializers", action="store_true",
                    help="also measure private memory after serializing")
    ap.add_argument("--records", type=int, default=100_000,
                    help="records of the serializers' warm heap")
    ap.add_argument("--rebuild", nargs="+", default=[], metavar="LABEL",
                    help="with --serializers: also measure a venv of these "
                         "interpreters whose heap walkers `python -m "
                         "immortal_rebuild` rebuilt from their sdists")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--markdown", help="write the table here")
    args = ap.parse_args(argv)

    pythons = dict(p.split("=", 1) for p in args.python)
    entries = [e for e in corpus.WHEELS
               if not args.only or e["name"] in args.only]
    os.makedirs(args.workdir, exist_ok=True)

    venvs = {}
    for label, python in pythons.items():
        python = os.path.abspath(python)
        if label == next(iter(pythons)):
            # Download with a pip that runs: that of the first venv made.
            bootstrap = os.path.join(args.workdir, "bootstrap")
            if missing_wheels():
                if not os.path.exists(os.path.join(bootstrap, "bin", "python")):
                    subprocess.run([python, "-m", "venv", bootstrap],
                                   check=True,
                                   env=pip_env(os.path.join(args.workdir,
                                                            "pip-cache")))
                error = fetch(os.path.join(bootstrap, "bin", "python"),
                              args.workdir)
                if error:
                    print(error)
                    return 2
        print(f"corpus: {label}: installing {len(pinned())} pinned "
              f"distributions with {python}'s pip", flush=True)
        venvs[label] = make_venv(label, python, args.workdir)

    rebuilt = {}
    if args.serializers and args.rebuild:
        for label, python in pythons.items():
            if label in args.rebuild:
                rebuilt[label + "+rebuilt"] = make_venv(
                    label + "+rebuilt", os.path.abspath(python), args.workdir,
                    rebuild=True)

    results = {label: {} for label in pythons}
    jobs = [(label, e) for e in entries for label in pythons]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run_smoke, venvs[label], e, args.timeout):
                   (label, e) for label, e in jobs}
        for fut in concurrent.futures.as_completed(futures):
            label, e = futures[fut]
            results[label][e["name"]] = r = fut.result()
            print(f"corpus: {label:>6} {e['name']}: {cell(r)}", flush=True)

    serial = {}
    if args.serializers:
        for e in BASELINES + entries:
            if not e.get("serialize"):
                continue
            serial[e["name"]] = per = {"expr": e["serialize"]}
            for label, vpython in {**venvs, **rebuilt}.items():
                per[label] = r = run_serializer(vpython, e, args.records,
                                                args.timeout)
                print(f"corpus: serialize {label:>6} {e['name']}: {r}",
                      flush=True)

    table = markdown(list(pythons), entries, results, serial,
                     list(pythons) + list(rebuilt))
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "serializers": serial}, f, indent=1)
    failures = [(label, name) for label in results
                for name, r in results[label].items() if not passed(r)]
    print(f"corpus: {len(entries)} projects x {len(pythons)} interpreters: "
          f"{len(entries) * len(pythons) - len(failures)} passed, "
          f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
