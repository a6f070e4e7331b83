#!/usr/bin/env python3
"""The server benchmark: the demo Django shop under uWSGI and gunicorn, on
the stock twin and on the fork, 4 workers each; wrk drives requests on
loopback, then each worker's /proc/PID/smaps_rollup is read.

    make servers
    build/stock/python Tools/immortal/servers/serverbench.py \\
        --python stock=build/prefix/stock --python fork=build/prefix/immortal

Per worker: private memory (USS = Private_Clean + Private_Dirty), Pss and
shared (Shared_Clean + Shared_Dirty), after warm-up and after the load;
requests/s from wrk. Prints a table, writes an SVG chart (--svg) and the
raw figures (--json). The master prepares its heap with immortal_prefork:
sys.immortalize_heap() on the fork, gc.collect() + gc.freeze() on stock.
Needs Debian's uwsgi-core, uwsgi-plugin-python3, gunicorn, python3-django
and wrk (Tools/immortal/deps.sh installs them). Loopback only; each run is
bounded by --duration.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))
from cowprobe import smaps_rollup, stacked_bars_svg, clean_env  # noqa: E402

DIST_PACKAGES = "/usr/lib/python3/dist-packages"

WRK_SCRIPT = """
local n = 0
request = function()
  n = n + 1
  local k = n % 4
  if k == 0 then return wrk.format("GET", "/") end
  if k == 1 then return wrk.format("GET", "/product/" .. (n % 20000 + 1) .. "/") end
  if k == 2 then return wrk.format("GET", "/api/search/?q=red+steel") end
  return wrk.format("GET", "/api/search/?q=" .. ({"blue","wood","smart","travel"})[n % 4 + 1])
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                return True
        except (OSError, http.client.HTTPException):
            time.sleep(0.3)
        finally:
            conn.close()
    return False


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return sorted(out)


PYPI_REQUIREMENTS = os.path.join(HERE, "pypi-stack", "requirements.txt")


def pypi_venv(label, prefix, work):
    """The twin's venv with the PyPI stack (Django 4.2 LTS, gunicorn),
    made once by its own venv and pip (realapp.make_venv())."""
    import realapp          # here: realapp imports this module
    try:
        return realapp.make_venv(label, prefix,
                                 requirements=PYPI_REQUIREMENTS, work=work)
    except realapp.Failure as e:
        sys.exit(f"serverbench: {e}")


def site_packages(venv_python):
    return os.path.join(os.path.dirname(os.path.dirname(venv_python)), "lib",
                        "python3.11", "site-packages")


def server_command(server, prefix, port, venv_python=None):
    if server == "uwsgi":
        return ["uwsgi", "--ini", os.path.join(HERE, "uwsgi.ini"),
                "--http11-socket", f"127.0.0.1:{port}", "--chdir", HERE]
    python = venv_python or os.path.join(prefix, "bin", "python3")
    return [python, "-m", "gunicorn",
            "-c", os.path.join(HERE, "gunicorn.conf.py"),
            "--chdir", HERE, "--bind", f"127.0.0.1:{port}",
            "demoapp.wsgi:application"]


def server_env(server, prefix, db, helper_dir, venv_python=None):
    env = clean_env()
    env["DEMOAPP_DB"] = db
    paths = [HERE]
    if not os.path.exists(os.path.join(prefix, "lib", "python3.11",
                                       "immortal_prefork.py")):
        paths.append(helper_dir)      # stock: the same hooks, gc.freeze()
    if venv_python:                   # the PyPI stack: Django 4.2, gunicorn
        paths.append(site_packages(venv_python))
    else:
        paths.append(DIST_PACKAGES)   # Debian's django, gunicorn
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if server == "uwsgi":
        env["LD_LIBRARY_PATH"] = os.path.join(prefix, "lib")
        # libpython's malloc() ahead of libc's (Doc/immortal/servers.md);
        # on the stock twin it changes nothing.
        env["LD_PRELOAD"] = os.path.join(prefix, "lib",
                                         "libpython3.11.so.1.0")
        env["PYTHONHOME"] = prefix
    return env


def run_wrk(port, args, tmp):
    script = os.path.join(tmp, "requests.lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT)
    out = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}",
         f"-d{args.duration}s", "-s", script, f"http://127.0.0.1:{port}/"],
        stdout=subprocess.PIPE, text=True, check=True,
        timeout=args.duration + 60).stdout
    return parse_wrk(out)


def parse_wrk(out):
    """Requests/s, requests and errors (non-2xx answers, socket errors)
    from wrk's report."""
    rps = requests = errors = 0
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Requests/sec:"):
            rps = float(line.split()[1])
        elif "requests in" in line:
            requests = int(line.split()[0])
        elif line.startswith("Non-2xx") or line.startswith("Socket errors"):
            errors += sum(int(x) for x in line.replace(",", " ").split()
                          if x.isdigit())
    return {"rps": rps, "requests": requests, "errors": errors}


def run_one(server, label, prefix, args, db, tmp, venv_python=None):
    port = free_port()
    log_path = os.path.join(tmp, f"{server}-{label}.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(server_command(server, prefix, port,
                                               venv_python),
                                env=server_env(server, prefix, db, tmp,
                                               venv_python),
                                stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        if not wait_ready(port, proc, time.monotonic() + 120):
            with open(log_path) as f:
                sys.exit(f"serverbench: {server} on {label} did not start:\n"
                         + f.read()[-3000:])
        workers = children(proc.pid)
        before = {w: smaps_rollup(w) for w in workers}
        load = run_wrk(port, args, tmp)
        after = {w: smaps_rollup(w) for w in workers}
        master = smaps_rollup(proc.pid)
    finally:
        stop(proc)
    rows = []
    for w in workers:
        a, b = after[w], before[w]
        rows.append({
            "pid": w,
            "uss_kb": a["Private_Clean"] + a["Private_Dirty"],
            "uss_before_kb": b["Private_Clean"] + b["Private_Dirty"],
            "pss_kb": a["Pss"],
            "shared_kb": a["Shared_Clean"] + a["Shared_Dirty"],
        })
    return {"server": server, "label": label, "prefix": prefix,
            "workers": rows, "master_rss_kb": master["Rss"], **load}


def stop(proc):
    """Stop a server started in a session of its own, workers included:
    SIGTERM, then SIGKILL after 30 s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def mib(kb):
    return kb / 1024


def print_table(runs):
    print("\n%-9s %-6s %8s %8s %8s %9s %10s %7s" % (
        "server", "python", "USS MiB", "Pss MiB", "shared", "USS vs", "req/s",
        "errors"))
    base = {}
    for run in runs:
        n = len(run["workers"])
        uss = sum(r["uss_kb"] for r in run["workers"]) / n
        pss = sum(r["pss_kb"] for r in run["workers"]) / n
        shared = sum(r["shared_kb"] for r in run["workers"]) / n
        base.setdefault(run["server"], uss)
        rel = uss / base[run["server"]]
        print("%-9s %-6s %8.1f %8.1f %8.1f %8.0f%% %10.1f %7d" % (
            run["server"], run["label"], mib(uss), mib(pss), mib(shared),
            100 * rel, run["rps"], run["errors"]))
    print("(mean per worker of %d, after the load; USS = Private_Clean + "
          "Private_Dirty; 'USS vs' relative to the first python listed; "
          "requests: %s)" % (len(runs[0]["workers"]),
                             ", ".join(str(r["requests"]) for r in runs)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--python", action="append", metavar="LABEL=PREFIX",
                   help="an installed interpreter (make servers); "
                        "repeatable; default: stock and fork from build/prefix")
    p.add_argument("--servers", default="uwsgi,gunicorn")
    p.add_argument("--duration", type=int, default=10,
                   help="seconds of load per run (default 10)")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--products", type=int, default=20000)
    p.add_argument("--stack", choices=("debian", "pypi"), default="debian",
                   help="Debian's Django 3.2 and gunicorn (default), or "
                        "Django 4.2 LTS and gunicorn from PyPI, pinned in "
                        "servers/pypi-stack/requirements.txt, in a venv per "
                        "twin (uWSGI stays Debian's plugin)")
    p.add_argument("--work", default=os.path.join(ROOT, "build",
                                                  "serverbench-pypi"),
                   help="where --stack pypi keeps its venvs")
    p.add_argument("--svg")
    p.add_argument("--json")
    args = p.parse_args(argv)
    for tool in ("uwsgi", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"serverbench: needs {tool} (Tools/immortal/deps.sh)")
    pythons = []
    for spec in args.python or [
            f"stock={ROOT}/build/prefix/stock",
            f"fork={ROOT}/build/prefix/immortal"]:
        label, _, prefix = spec.partition("=")
        if not os.path.exists(os.path.join(prefix, "bin", "python3")):
            sys.exit(f"serverbench: no {prefix}/bin/python3 (make servers)")
        pythons.append((label, prefix))
    venvs = {label: (pypi_venv(label, prefix, args.work)
                     if args.stack == "pypi" else None)
             for label, prefix in pythons}
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(ROOT, "Lib", "immortal_prefork.py"), tmp)
        db = os.path.join(tmp, "demo.sqlite3")
        os.environ["DEMOAPP_PRODUCTS"] = str(args.products)
        for server in args.servers.split(","):
            for label, prefix in pythons:
                print(f"serverbench: {server} on {label} ({prefix})",
                      file=sys.stderr, flush=True)
                runs.append(run_one(server, label, prefix, args, db, tmp,
                                    venvs[label]))
    print_table(runs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)
    if args.svg:
        stacked_bars_svg(
            [(r["server"], r["label"], "%.0f req/s" % r["rps"],
              [(mib(w["uss_kb"]), mib(w["shared_kb"])) for w in r["workers"]])
             for r in runs],
            args.svg, "Per-worker memory after the load (MiB)",
            ("private (USS)", "shared"))
        print(f"chart: {args.svg}")


if __name__ == "__main__":
    main()
