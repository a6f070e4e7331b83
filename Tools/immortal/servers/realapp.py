#!/usr/bin/env python3
"""The real-application benchmark: a Wagtail 7.0 site (Django 4.2) under
gunicorn and uWSGI, 4 sync workers, in three configurations: the stock
twin as is, the stock twin with gc.collect() + gc.freeze() in the master,
and the fork with sys.immortalize_heap() in the master.

    make servers stock
    build/stock/python Tools/immortal/servers/realapp.py

Set-up (once, redone when requirements.txt or the site's sources change):
a venv per twin, made by the twin's own venv and filled by its own pip from
PyPI with realapp/requirements.txt (pinned, hashed); then the site's data,
in build/realapp/data: migrations, 301 pages with StreamField bodies, 50
Pillow-made images and their renditions, tags, the search index (Wagtail's
database backend), collected static files, and urls.txt: 200 URLs (pages in
16 languages, section pages, tag pages, searches, the sitemap, the two admin
login pages).

Each run: the server loads the site in its master, which requests each URL
once through the WSGI application (warm-up), prepares its heap
(realapp/realsite/prefork.py, with Lib/immortal_prefork.py) and forks the
workers; once each worker says it is up, its /proc/PID/smaps_rollup is read
("after fork"), then wrk rotates over the same URLs for --duration seconds
(-t2 -c8), and the workers are read again at --early seconds and at the end.
Per worker: private memory (USS = Private_Clean + Private_Dirty), Pss,
shared; requests/s and errors from wrk. Prints a table, writes the raw
figures (--json) and a chart (--svg). Loopback only; every step is bounded
in time, and every process started is killed at the end.
"""

import argparse
import hashlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "realapp")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from cowprobe import clean_env, has_immortalize, smaps_rollup, stacked_bars_svg  # noqa: E402
from serverbench import children, free_port, mib, parse_wrk  # noqa: E402


def _corpus_run():
    # The wheel corpus's pip helpers (an isolated pip environment, sha256).
    path = os.path.join(os.path.dirname(HERE), "corpus", "run.py")
    spec = importlib.util.spec_from_file_location("corpus_run", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus_run = _corpus_run()

REQUIREMENTS = os.path.join(APP, "requirements.txt")
WORK = os.path.join(ROOT, "build", "realapp")
DATA = os.path.join(WORK, "data")

# config -> (twin, REALAPP_PREPARE)
CONFIGS = {
    "stock": ("stock", "none"),        # stock twin, nothing before fork
    "freeze": ("stock", "prepare"),    # stock twin, gc.collect() + gc.freeze()
    "fork": ("immortal", "prepare"),   # the fork, sys.immortalize_heap()
}
EXPECTED_PREPARED = {"stock": None, "freeze": "freeze",
                     "fork": "immortalize_heap"}
SERVERS = ("gunicorn", "uwsgi")
LOG_PROBLEMS = re.compile(r"Traceback|Fatal Python error|Segmentation fault|"
                          r"core dumped|Aborted|SIGSEGV|SIGABRT|"
                          r"\[ERROR\]|Worker failed|WORKER TIMEOUT|"
                          r"DAMN ! worker")


class Failure(Exception):
    """A step failed; the message says which and why."""


def on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def say(msg):
    print(f"realapp: {msg}", file=sys.stderr, flush=True)


def tail(path, n=4000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return "(no log)"


def run_step(cmd, what, timeout, log, **kw):
    """Run cmd with its output in log; a failure or a timeout is a Failure
    with the log's end."""
    with open(log, "a") as f:
        try:
            proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT,
                                  timeout=timeout, start_new_session=True,
                                  **kw)
        except subprocess.TimeoutExpired:
            raise Failure(f"{what}: no result after {timeout} s "
                          f"(log: {log}):\n{tail(log)}")
    if proc.returncode:
        raise Failure(f"{what} failed (exit {proc.returncode}; log: {log}):"
                      f"\n{tail(log)}")


# --- set-up ------------------------------------------------------------------

def make_venv(twin, prefix, rebuild=False, requirements=REQUIREMENTS,
              work=WORK):
    """The twin's venv (its own -m venv, its own pip, its own pip cache),
    with requirements (default: the site's requirements.txt) installed from
    PyPI, under work/TWIN/. Reused while the requirements and the
    interpreter are unchanged. (celerybench.py uses it too.)"""
    python = os.path.join(prefix, "bin", "python3")
    venv = os.path.join(work, twin, "venv")
    vpython = os.path.join(venv, "bin", "python")
    stamp = os.path.join(venv, "realapp-installed")
    want = corpus_run.sha256(requirements) + " " + os.path.realpath(python)
    if not rebuild and os.path.exists(stamp) and open(stamp).read() == want:
        return vpython
    say(f"{twin}: making {venv} (pip install -r {os.path.relpath(requirements, ROOT)})")
    shutil.rmtree(venv, ignore_errors=True)
    env = corpus_run.pip_env(os.path.join(work, twin, "pip-cache"))
    log = os.path.join(work, twin, "venv.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    open(log, "w").close()
    run_step([python, "-m", "venv", venv], f"{twin}: {python} -m venv",
             300, log, env=env)
    run_step([vpython, "-m", "pip", "install", "--progress-bar", "off",
              "--require-hashes", "--only-binary=:all:", "-r", requirements],
             f"{twin}: pip install from PyPI (is PyPI reachable?)", 1200,
             log, env=env)
    with open(stamp, "w") as f:
        f.write(want)
    return vpython


def site_digest():
    h = hashlib.sha256(open(REQUIREMENTS, "rb").read())
    for top, dirs, files in os.walk(os.path.join(APP, "realsite")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith((".pyc", ".pyo")):
                path = os.path.join(top, name)
                h.update(os.path.relpath(path, APP).encode() + b"\0")
                h.update(open(path, "rb").read())
    return h.hexdigest()


def build_site(vpython, rebuild=False):
    """build/realapp/data: the database, media, static files, urls.txt."""
    stamp = os.path.join(DATA, "realapp-built")
    want = site_digest()
    if not rebuild and os.path.exists(stamp) and open(stamp).read() == want:
        return
    say(f"building the site's data in {DATA}")
    os.makedirs(DATA, exist_ok=True)
    if os.path.exists(stamp):
        os.unlink(stamp)
    env = clean_env()
    env.update(REALAPP_DATA=DATA, PYTHONPATH=APP)
    log = os.path.join(WORK, "content.log")
    open(log, "w").close()
    run_step([vpython, "-m", "realsite.content"], "building the site", 1200,
             log, env=env, cwd=APP)
    with open(stamp, "w") as f:
        f.write(want)


def versions(vpython):
    code = ("import json, sys, django, wagtail, gunicorn; print(json.dumps("
            "{'python': sys.version.split()[0], 'immortal': "
            "hasattr(sys, 'immortalize_heap'), 'django': django.__version__,"
            " 'wagtail': wagtail.__version__, 'gunicorn': gunicorn.__version__}))")
    out = subprocess.run([vpython, "-c", code], env=clean_env(), timeout=120,
                         stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(out.stdout)


# --- one run -------------------------------------------------------------------

def urls():
    with open(os.path.join(DATA, "urls.txt")) as f:
        return [line.strip() for line in f if line.strip()]


def wrk_script(path):
    """A wrk script that rotates over urls.txt, each thread from its own
    offset."""
    lines = ",\n  ".join(json.dumps(u) for u in urls())
    with open(path, "w") as f:
        f.write(f"""-- generated by realapp.py from urls.txt
local paths = {{
  {lines}
}}
local threads = 0
function setup(thread)
  thread:set("offset", threads * 61)
  threads = threads + 1
end
function init(args)
  n = offset or 0
end
function request()
  n = n + 1
  return wrk.format("GET", paths[(n - 1) % #paths + 1])
end
""")


def server_command(server, venv_python, port, workers):
    if server == "uwsgi":
        return ["uwsgi", "--ini", os.path.join(APP, "uwsgi.ini"),
                "--http11-socket", f"127.0.0.1:{port}", "--chdir", APP,
                "--processes", str(workers)]
    return [venv_python, "-m", "gunicorn",
            "-c", os.path.join(APP, "gunicorn.conf.py"), "--chdir", APP,
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "realsite.wsgi:application"]


def server_env(server, config, prefix, venv_python, rundir, helpers):
    env = clean_env()
    env.update(REALAPP_DATA=DATA,
               REALAPP_DB=os.path.join(rundir, "site.sqlite3"),
               REALAPP_PREPARE=CONFIGS[config][1],
               REALAPP_READY_DIR=os.path.join(rundir, "ready"))
    paths = [APP]
    if not os.path.exists(os.path.join(prefix, "lib", "python3.11",
                                       "immortal_prefork.py")):
        paths.append(helpers)       # the stock twin: Lib/immortal_prefork.py
    if server == "uwsgi":
        # Debian's plugin embeds the twin's libpython; the venv's packages
        # come on the path.
        paths.append(os.path.join(os.path.dirname(os.path.dirname(
            venv_python)), "lib", "python3.11", "site-packages"))
        env["LD_LIBRARY_PATH"] = os.path.join(prefix, "lib")
        # libpython's malloc() ahead of libc's (Doc/immortal/servers.md);
        # on the stock twin it changes nothing.
        env["LD_PRELOAD"] = os.path.join(prefix, "lib",
                                         "libpython3.11.so.1.0")
        env["PYTHONHOME"] = prefix
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def wait_workers(proc, ready_dir, count, timeout, log):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure(f"the server exited ({proc.returncode}) before its "
                          f"workers were up (log: {log}):\n{tail(log)}")
        up = {int(p) for p in os.listdir(ready_dir) if p.isdigit()}
        workers = sorted(up & set(children(proc.pid)))
        if len(workers) >= count:
            return workers[:count]
        time.sleep(0.2)
    raise Failure(f"{count} workers not up after {timeout} s (log: {log}):\n"
                  f"{tail(log)}")


def sample(pids):
    out = {}
    for pid in pids:
        try:
            r = smaps_rollup(pid)
        except OSError:
            out[pid] = None          # the worker is gone
            continue
        out[pid] = {"uss_kb": r["Private_Clean"] + r["Private_Dirty"],
                    "pss_kb": r["Pss"], "rss_kb": r["Rss"],
                    "shared_kb": r["Shared_Clean"] + r["Shared_Dirty"]}
    return out


def master_reports(log):
    reports = []
    with open(log, errors="replace") as f:
        for line in f:
            i = line.find("REALAPP-MASTER ")
            if i >= 0:
                try:
                    reports.append(json.loads(line[i + 15:]))
                except ValueError:
                    pass
    return reports


def log_problems(log, upto=None):
    """Excerpts of the server's log around tracebacks, crashes and errors,
    in its first upto bytes (before it was told to stop: gunicorn logs an
    [ERROR] for each worker it stops)."""
    with open(log, errors="replace") as f:
        lines = f.read(upto).splitlines()
    hits = [i for i, line in enumerate(lines) if LOG_PROBLEMS.search(line)]
    return ["\n".join(lines[max(0, i - 2):i + 25]) for i in hits[:3]]


def stop(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    try:                  # whatever is left of the group, the workers too
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        say(f"process {proc.pid} did not exit after SIGKILL")


def check_first_url(port):
    url = urls()[0]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", url)
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as e:
        raise Failure(f"GET {url}: {e}")
    finally:
        conn.close()
    if status != 200:
        raise Failure(f"GET {url}: HTTP {status}")


def privmap_worker(worker, master, rundir):
    """Tools/immortal/privmap.py on one worker, at the end of the load:
    what its private pages hold (rundir/privmap.txt and .json)."""
    tool = os.path.join(os.path.dirname(HERE), "privmap.py")
    for ext, extra in (("txt", []), ("json", ["--json"])):
        out = os.path.join(rundir, f"privmap.{ext}")
        with open(out, "w") as f:
            subprocess.run([sys.executable, tool, str(worker), "--master",
                            str(master)] + extra, stdout=f,
                           stderr=subprocess.STDOUT, timeout=300)
    say(f"privmap of worker {worker}: {os.path.join(rundir, 'privmap.txt')}")


def run_in_process(config, prefix, venv_python, passes, helpers):
    """realsite/inprocess.py: one worker, no server, USS read after every
    request and after a final gc.collect()."""
    rundir = os.path.join(WORK, "runs", f"inprocess-{config}")
    shutil.rmtree(rundir, ignore_errors=True)
    os.makedirs(os.path.join(rundir, "ready"))
    shutil.copy(os.path.join(DATA, "site.sqlite3"), rundir)
    env = server_env("gunicorn", config, prefix, venv_python, rundir, helpers)
    log = os.path.join(rundir, "inprocess.log")
    say(f"in-process-{config}: {passes} passes over the URLs in one worker "
        f"(log: {log})")
    with open(log, "w") as f:
        try:
            subprocess.run([venv_python, "-m", "realsite.inprocess",
                            str(passes)], env=env, cwd=APP, stdout=f,
                           stderr=subprocess.STDOUT, timeout=1200, check=True)
        except (subprocess.SubprocessError, OSError) as e:
            raise Failure(f"in-process {config}: {e}:\n{tail(log)}")
    for line in open(log):
        if line.startswith("REALAPP-INPROCESS "):
            return {"config": config, **json.loads(line.split(" ", 1)[1])}
    raise Failure(f"in-process {config}: no result:\n{tail(log)}")


def print_in_process(rows, out=sys.stdout):
    print(f"\n{'in-process':<10} {'USS fork':>8} {'mean':>6} {'max':>6} "
          f"{'last':>6} {'after gc':>8} {'vs':>5} {'s/pass':>7}", file=out)
    base = None
    for r in rows:
        base = base or r["collected_kib"]
        per_pass = r["seconds"] / max(1, r["requests"] / len(urls()))
        print(f"{r['config']:<10} {r['fork_kib'] / 1024:8.1f} "
              f"{r['mean_kib'] / 1024:6.1f} {r['max_kib'] / 1024:6.1f} "
              f"{r['last_kib'] / 1024:6.1f} {r['collected_kib'] / 1024:8.1f} "
              f"{r['collected_kib'] / base:5.0%} {per_pass:7.2f}", file=out)
    print("(MiB; one worker, no server: USS after every request (mean, "
          "largest, last), then after a gc.collect(); 'vs' is the last "
          "against the first config; seconds per pass over the URLs)",
          file=out)


def run_one(server, config, prefix, venv_python, args, helpers):
    name = f"{server}-{config}"
    rundir = os.path.join(WORK, "runs", name)
    shutil.rmtree(rundir, ignore_errors=True)
    os.makedirs(os.path.join(rundir, "ready"))
    shutil.copy(os.path.join(DATA, "site.sqlite3"), rundir)
    script = os.path.join(rundir, "urls.lua")
    wrk_script(script)
    log = os.path.join(rundir, "server.log")
    port = free_port()
    cmd = server_command(server, venv_python, port, args.workers)
    env = server_env(server, config, prefix, venv_python, rundir, helpers)
    wrk_cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}",
               f"-d{args.duration}s", "--timeout", "30s", "-s", script,
               f"http://127.0.0.1:{port}"]
    say(f"{name}: {' '.join(cmd)} (log: {log})")
    wrk = None
    t_start = time.monotonic()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=env, cwd=APP, stdout=f,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        workers = wait_workers(proc, os.path.join(rundir, "ready"),
                               args.workers, args.start_timeout, log)
        startup = time.monotonic() - t_start
        time.sleep(1)                 # let the last fork settle
        at_fork = sample(workers)
        master_fork = smaps_rollup(proc.pid)
        wrk_out = os.path.join(rundir, "wrk.txt")
        with open(wrk_out, "w") as f:
            wrk = subprocess.Popen(wrk_cmd, stdout=f, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        t0 = time.monotonic()
        time.sleep(max(0, args.early - (time.monotonic() - t0)))
        at_early = sample(workers)
        # A worker's USS moves by several MiB as its cyclic garbage waits
        # for and is freed by a collection: besides the readings at 15 and
        # 60 s, one every second from the first to the second.
        readings = {w: [] for w in workers}
        while wrk.poll() is None:
            if time.monotonic() - t0 > args.duration + 60:
                raise Failure(f"wrk still running {args.duration + 60} s "
                              f"after it started")
            for w, r in sample(workers).items():
                if r is not None:
                    readings[w].append(r["uss_kb"])
            time.sleep(1)
        if wrk.returncode:
            raise Failure(f"wrk failed (exit {wrk.returncode}):\n{tail(wrk_out)}")
        at_end = sample(workers)
        load_seconds = time.monotonic() - t0
        if args.privmap:
            privmap_worker(workers[0], proc.pid, rundir)
        master_end = smaps_rollup(proc.pid)
        now = set(children(proc.pid))
        load = parse_wrk(open(wrk_out).read())
        check_first_url(port)         # still serving after the load
    finally:
        log_size = os.path.getsize(log)
        if wrk is not None and wrk.poll() is None:
            os.killpg(wrk.pid, signal.SIGKILL)
            wrk.wait()
        stop(proc)
    reports = master_reports(log)
    prepared = [r for r in reports if r.get("event") == "prepared"]
    warm = [r for r in reports if r.get("event") == "warm-up"]
    if not prepared or prepared[-1]["prepared"] != EXPECTED_PREPARED[config]:
        raise Failure(f"{name}: the master reports {prepared or 'nothing'}, "
                      f"expected prepared={EXPECTED_PREPARED[config]!r} "
                      f"(log: {log})")
    rows = []
    for w in workers:
        rows.append({"pid": w, "fork": at_fork[w], "early": at_early[w],
                     "end": at_end[w],
                     "load_mean": ({"uss_kb": sum(readings[w]) / len(readings[w])}
                                   if readings[w] else None)})
    return {
        "server": server, "config": config, "prefix": prefix,
        "command": cmd, "wrk": wrk_cmd, "log": log,
        "startup_s": round(startup, 1), "load_s": round(load_seconds, 1),
        "early_s": args.early, "duration_s": args.duration,
        "workers": rows,
        "workers_died": [w for w in workers if at_end[w] is None],
        "workers_respawned": sorted(now - set(workers)),
        "master_fork": {k: master_fork[k] for k in ("Rss", "Pss")},
        "master_end": {k: master_end[k] for k in ("Rss", "Pss")},
        "prepared": prepared[-1], "warm_up": warm[-1] if warm else None,
        "log_problems": log_problems(log, log_size),
        **load,
    }


# --- results -------------------------------------------------------------------

def mean(run, when, key):
    values = [w[when][key] for w in run["workers"] if w[when] is not None]
    return sum(values) / len(values) if values else float("nan")


def print_table(runs, out=sys.stdout):
    early, end = runs[0]["early_s"], runs[0]["duration_s"]
    print(f"\n{'server':<9} {'config':<7} {'USS fork':>8} {'USS ' + str(early) + 's':>8}"
          f" {'USS ' + str(end) + 's':>8} {'mean':>6} {'Pss':>7} {'shared':>7} {'USS vs':>7}"
          f" {'req/s':>8} {'errors':>6}", file=out)
    base = {}
    for run in runs:
        uss = mean(run, "end", "uss_kb")
        base.setdefault(run["server"], uss)
        print(f"{run['server']:<9} {run['config']:<7}"
              f" {mib(mean(run, 'fork', 'uss_kb')):8.1f}"
              f" {mib(mean(run, 'early', 'uss_kb')):8.1f} {mib(uss):8.1f}"
              f" {mib(mean(run, 'load_mean', 'uss_kb')):6.1f}"
              f" {mib(mean(run, 'end', 'pss_kb')):7.1f}"
              f" {mib(mean(run, 'end', 'shared_kb')):7.1f}"
              f" {100 * uss / base[run['server']]:6.0f}%"
              f" {run['rps']:8.1f} {run['errors']:6d}", file=out)
    print(f"(MiB, mean per worker of {len(runs[0]['workers'])}; USS = "
          f"Private_Clean + Private_Dirty right after fork, after {early} s "
          f"and after {end} s of load; mean: of USS read every second from "
          f"{early} to {end} s; Pss and shared after {end} s; 'USS vs': "
          f"USS after {end} s relative to the first config of the server; "
          f"requests: {', '.join(str(r['requests']) for r in runs)})",
          file=out)
    for run in runs:
        p, w = run["prepared"], run["warm_up"] or {}
        extra = ""
        if p.get("objects") is not None:
            extra = f", {p['objects']} objects immortalized in {p['seconds']} s"
        print(f"{run['server']}-{run['config']}: master warm-up {w.get('urls')} "
              f"URLs in {w.get('seconds')} s, {w.get('modules')} modules, "
              f"master Rss {mib(run['master_fork']['Rss']):.1f} MiB; "
              f"prepared: {p['prepared']}{extra}", file=out)
        for what in ("workers_died", "workers_respawned"):
            if run[what]:
                print(f"  !! {what}: {run[what]}", file=out)
        for problem in run["log_problems"]:
            print(f"  !! in {run['log']}:\n" + "\n".join(
                "     " + line for line in problem.splitlines()), file=out)


def write_svg(runs, path):
    stacked_bars_svg(
        [(r["server"], r["config"], "%.0f req/s" % r["rps"],
          [(mib(w["fork"]["uss_kb"]),
            max(0.0, mib(w["end"]["uss_kb"] - w["fork"]["uss_kb"])))
           for w in r["workers"] if w["end"] is not None])
         for r in runs],
        path, "Wagtail 7.0: private memory (USS) per worker, MiB",
        ("right after fork (warm master)",
         f"added by {runs[0]['duration_s']} s of load"))


# --- main ----------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default=",".join(SERVERS),
                   help="comma-separated: gunicorn,uwsgi (default: both)")
    p.add_argument("--configs", default=",".join(CONFIGS),
                   help="comma-separated: stock,freeze,fork (default: all)")
    p.add_argument("--duration", type=int, default=60,
                   help="seconds of load per run (default 60)")
    p.add_argument("--early", type=int,
                   help="seconds of load at the intermediate reading "
                        "(default: a quarter of --duration, 15 s for 60)")
    p.add_argument("--privmap", action="store_true",
                   help="at the end of each run, attribute one worker's "
                        "private pages with Tools/immortal/privmap.py "
                        "(build/realapp/runs/SERVER-CONFIG/privmap.txt)")
    p.add_argument("--in-process", type=int, default=2, metavar="PASSES",
                   help="then, for each config, one worker without a server "
                        "making PASSES passes over the URLs (default 2; 0: "
                        "none): its memory between requests and after a "
                        "gc.collect()")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--start-timeout", type=int, default=300,
                   help="seconds for a server to load, warm up and fork")
    p.add_argument("--stock-prefix", default=os.path.join(ROOT, "build", "prefix", "stock"))
    p.add_argument("--fork-prefix", default=os.path.join(ROOT, "build", "prefix", "immortal"))
    p.add_argument("--rebuild", action="store_true",
                   help="remake the venvs and the site's data")
    p.add_argument("--setup-only", action="store_true",
                   help="make the venvs and the site's data, run nothing")
    p.add_argument("--json", default=os.path.join(ROOT, "build", "realapp.json"))
    p.add_argument("--svg", default=os.path.join(ROOT, "build", "realapp.svg"))
    args = p.parse_args(argv)
    args.servers = [s for s in args.servers.split(",") if s]
    args.configs = [c for c in args.configs.split(",") if c]
    for s in args.servers:
        if s not in SERVERS:
            p.error(f"unknown server {s!r} (gunicorn, uwsgi)")
    for c in args.configs:
        if c not in CONFIGS:
            p.error(f"unknown config {c!r} (stock, freeze, fork)")
    if args.duration < 2:
        p.error("--duration: at least 2 s")
    if args.early is None:
        args.early = max(1, args.duration // 4)
    if not 0 < args.early < args.duration:
        p.error("--early must be between 0 and --duration")
    return args


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    tools = ["wrk"] + (["uwsgi"] if "uwsgi" in args.servers else [])
    for tool in tools:
        if not shutil.which(tool):
            sys.exit(f"realapp: needs {tool} (Tools/immortal/deps.sh)")
    if "uwsgi" in args.servers and not os.path.exists(
            "/usr/lib/uwsgi/plugins/python3_plugin.so"):
        sys.exit("realapp: needs Debian's uwsgi-plugin-python3")
    prefixes = {"stock": args.stock_prefix, "immortal": args.fork_prefix}
    twins = sorted({CONFIGS[c][0] for c in args.configs} | {"stock"})
    for twin in twins:
        if not os.path.exists(os.path.join(prefixes[twin], "bin", "python3")):
            sys.exit(f"realapp: no {prefixes[twin]}/bin/python3 (make servers)")
    os.makedirs(WORK, exist_ok=True)
    helpers = os.path.join(WORK, "helpers")
    os.makedirs(helpers, exist_ok=True)
    shutil.copy(os.path.join(ROOT, "Lib", "immortal_prefork.py"), helpers)
    runs = []
    in_process = []
    try:
        venvs = {twin: make_venv(twin, prefixes[twin], args.rebuild)
                 for twin in twins}
        meta = {twin: versions(v) for twin, v in venvs.items()}
        for twin, m in meta.items():
            if m["immortal"] != (twin == "immortal"):
                raise Failure(f"{venvs[twin]} is not the {twin} twin: {m}")
        build_site(venvs["stock"], args.rebuild)
        if args.setup_only:
            say(f"set up: {', '.join(venvs.values())}, {DATA}")
            return
        for server in args.servers:
            for config in args.configs:
                twin = CONFIGS[config][0]
                runs.append(run_one(server, config, prefixes[twin],
                                    venvs[twin], args, helpers))
        for config in args.configs if args.in_process else ():
            twin = CONFIGS[config][0]
            in_process.append(run_in_process(
                config, prefixes[twin], venvs[twin], args.in_process,
                helpers))
    except (Failure, KeyboardInterrupt) as e:
        if runs:
            print("realapp: partial results, before the failure below:")
            print_table(runs)
        if isinstance(e, KeyboardInterrupt):
            sys.exit("realapp: interrupted (every process it started was "
                     "stopped)")
        sys.exit(f"realapp: {e}")
    if runs:
        print_table(runs)
    if in_process:
        print_in_process(in_process)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"versions": meta, "urls": len(urls()), "runs": runs,
                       "in_process": in_process}, f, indent=1)
        print(f"figures: {args.json}")
    if args.svg and runs:
        write_svg(runs, args.svg)
        print(f"chart: {args.svg}")


if __name__ == "__main__":
    main()
