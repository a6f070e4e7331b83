#!/usr/bin/env python3
"""ASGI pre-fork servers: per-worker private memory and requests/s, stock
twin vs stock + gc.freeze() vs fork.

gunicorn 27 with 4 uvicorn workers (uvloop, httptools), all from PyPI
(servers/asgi/requirements.txt, one venv per twin, made by the twin's own
pip), runs one of two apps with servers/asgi/gunicorn.conf.py:

  fastapi   servers/asgi/fastapp.py: a warm cache of pydantic models; one
            server per route (models, dicts, orjson, count, rendered) and
            one with the routes mixed
  django    the demo shop (servers/demoapp) through Django's ASGI handler

Each server is loaded by wrk on loopback with a new connection per request
(`Connection: close`), so every worker gets its share: the table shows each
worker's share of the CPU time the workers spent. USS (private memory) is
read from each worker's /proc/PID/smaps_rollup right after the fork (before
the first request) and after the load.

    make asgibench ASGIOPTS="--duration 60 --models 150000"
    build/stock/python Tools/immortal/servers/asgibench.py --app fastapi \\
        --routes models,rendered --duration 20 --svg build/asgibench.svg

Needs make servers (both twins as build/prefix/{immortal,stock}), wrk, and
PyPI for the first run (venvs and wheels are cached under
~/.cache/immortal-cpython/asgi).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from cowprobe import smaps_rollup, stacked_bars_svg, clean_env  # noqa: E402
from serverbench import free_port, children, parse_wrk, mib, stop  # noqa: E402
# The demo shop's request mix: serverbench's.
from serverbench import WRK_SCRIPT as DJANGO_SCRIPT  # noqa: E402

ASGI = os.path.join(HERE, "asgi")
REQUIREMENTS = os.path.join(ASGI, "requirements.txt")
FASTAPI_ROUTES = ["models", "dicts", "orjson", "count", "rendered"]
CONFIGS = {
    # label: (twin, prepare the heap before the fork?)
    "stock": ("stock", False),
    "stock+freeze": ("stock", True),
    "fork": ("immortal", True),
}
MIXED_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  local k = counter % 4
  if k == 0 then return wrk.format("GET", "/models") end
  if k == 1 then return wrk.format("GET", "/dicts") end
  if k == 2 then return wrk.format("GET", "/orjson") end
  return wrk.format("GET", "/count")
end
"""
def cache_work():
    return os.path.join(os.environ.get("IMMORTAL_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "immortal-cpython"), "asgi")


def venv_for(twin, prefix, work):
    import realapp
    try:
        return realapp.make_venv(twin, prefix, requirements=REQUIREMENTS,
                                 work=work)
    except realapp.Failure as e:
        sys.exit(f"asgibench: {e}")


def gunicorn_conf(tmp, prepare):
    """The shipped config, or (prepare False) the same settings without
    its hooks: plain stock, nothing done before the fork."""
    shipped = os.path.join(ASGI, "gunicorn.conf.py")
    if prepare:
        return shipped
    conf = os.path.join(tmp, "gunicorn-plain.conf.py")
    with open(conf, "w") as f:
        for line in open(shipped):
            if not line.startswith("from immortal_prefork"):
                f.write(line)
    return conf


def server(app, venv_python, conf, port, db, helper_dir, args):
    env = clean_env()
    paths = [ASGI if app == "fastapi" else HERE]
    if not os.path.exists(os.path.join(
            os.path.dirname(os.path.dirname(os.path.realpath(venv_python))),
            "lib", "python3.11", "immortal_prefork.py")):
        paths.append(helper_dir)      # stock: the same hooks, gc.freeze()
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["ASGIAPP_MODELS"] = str(args.models)
    env["DEMOAPP_DB"] = db
    target = "fastapp:app" if app == "fastapi" else "demoapp.asgi:application"
    argv = [venv_python, "-m", "gunicorn", "-c", conf, "--workers",
            str(args.workers), "--bind", f"127.0.0.1:{port}", target]
    return argv, env


def get(port, path, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_workers(port, proc, workers, deadline):
    """Until the server answers and all its workers are up."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if get(port, "/_prefork/")[0] == 200 and \
                    len(children(proc.pid)) >= workers:
                return True
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.3)
    return False


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(port, path, script, args, tmp):
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}",
           f"-d{args.duration}s", "-H", "Connection: close"]
    if script:
        lua = os.path.join(tmp, "requests.lua")
        with open(lua, "w") as f:
            f.write(script)
        cmd += ["-s", lua]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True,
                         timeout=args.duration + 120).stdout
    return parse_wrk(out)


def run_one(app, route, config, venv_python, args, db, tmp):
    twin, prepare = CONFIGS[config]
    port = free_port()
    conf = gunicorn_conf(tmp, prepare)
    argv, env = server(app, venv_python, conf, port, db, tmp, args)
    log_path = os.path.join(tmp, f"{app}-{route}-{config}.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=tmp,
                                start_new_session=True)
    try:
        # Workers' memory right after the fork: before any request.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and \
                len(children(proc.pid)) < args.workers and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(2)
        workers = children(proc.pid)
        fresh = {w: smaps_rollup(w) for w in workers}
        if not wait_workers(port, proc, args.workers, deadline):
            with open(log_path) as f:
                sys.exit(f"asgibench: {app} {route} on {config} did not "
                         "start:\n" + f.read()[-3000:])
        status, body = get(port, "/_prefork/")
        info = json.loads(body) if status == 200 else {}
        cpu0 = {w: cpu_seconds(w) for w in workers}
        if app == "fastapi":
            path = "/models" if route == "mixed" else f"/{route}"
            load = run_wrk(port, path, MIXED_SCRIPT if route == "mixed"
                           else None, args, tmp)
        else:
            load = run_wrk(port, "/", DJANGO_SCRIPT, args, tmp)
        cpu = {w: cpu_seconds(w) - cpu0[w] for w in workers}
        after = {w: smaps_rollup(w) for w in workers}
        master = smaps_rollup(proc.pid)
    finally:
        stop(proc)
    total_cpu = sum(cpu.values()) or 1
    rows = [{"pid": w,
             "uss_fork_kb": fresh[w]["Private_Clean"] + fresh[w]["Private_Dirty"],
             "uss_kb": after[w]["Private_Clean"] + after[w]["Private_Dirty"],
             "cpu_share": cpu[w] / total_cpu}
            for w in workers]
    return {"app": app, "route": route, "config": config, "twin": twin,
            "workers": rows, "master_rss_kb": master["Rss"],
            "prepared": info.get("prepared"), **load}


def print_table(runs):
    print()
    print(f"{'app':8} {'route':9} {'config':13} {'USS after fork':>15} "
          f"{'USS after load':>15} {'vs stock+freeze':>16} {'req/s':>8} "
          f"{'errors':>7} {'CPU share min-max':>18}")
    base = {(r["app"], r["route"]): r for r in runs
            if r["config"] == "stock+freeze"}
    for r in runs:
        ws = r["workers"]
        fork_mib = mib(sum(w["uss_fork_kb"] for w in ws) / len(ws))
        load_mib = mib(sum(w["uss_kb"] for w in ws) / len(ws))
        b = base.get((r["app"], r["route"]))
        vs = ""
        if b is not None:
            bl = mib(sum(w["uss_kb"] for w in b["workers"]) / len(b["workers"]))
            vs = f"{(load_mib / bl - 1) * 100:+.0f}%" if bl else ""
        shares = [w["cpu_share"] for w in ws]
        print(f"{r['app']:8} {r['route']:9} {r['config']:13} "
              f"{fork_mib:12.1f} MiB {load_mib:12.1f} MiB {vs:>16} "
              f"{r['rps']:8.0f} {r['errors']:7d} "
              f"{min(shares) * 100:8.0f}-{max(shares) * 100:.0f}%")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--app", default="fastapi,django",
                   help="fastapi, django or both (default: both)")
    p.add_argument("--routes", default=",".join(FASTAPI_ROUTES + ["mixed"]),
                   help="the FastAPI routes, one server each (default: all "
                        "and mixed)")
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--models", type=int, default=150000,
                   help="pydantic models in the FastAPI app's cache")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--duration", type=int, default=60)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--stock-prefix",
                   default=os.path.join(ROOT, "build", "prefix", "stock"))
    p.add_argument("--fork-prefix",
                   default=os.path.join(ROOT, "build", "prefix", "immortal"))
    p.add_argument("--svg")
    p.add_argument("--json")
    args = p.parse_args(argv)
    if not shutil.which("wrk"):
        sys.exit("asgibench: needs wrk (Tools/immortal/deps.sh)")
    work = cache_work()
    prefixes = {"stock": args.stock_prefix, "immortal": args.fork_prefix}
    venvs = {twin: venv_for(twin + "-asgi", prefix, work)
             for twin, prefix in prefixes.items()}
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(ROOT, "Lib", "immortal_prefork.py"), tmp)
        db = os.path.join(tmp, "shop.sqlite3")
        for app in args.app.split(","):
            routes = args.routes.split(",") if app == "fastapi" else ["mixed"]
            for route in routes:
                for config in args.configs.split(","):
                    twin = CONFIGS[config][0]
                    print(f"asgibench: {app} {route} on {config} ...",
                          file=sys.stderr)
                    runs.append(run_one(app, route, config, venvs[twin],
                                        args, db, tmp))
    print_table(runs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)
    if args.svg:
        groups = []
        for r in runs:
            groups.append((f"{r['app']} {r['route']}", r["config"], "",
                           [(mib(w["uss_fork_kb"]),
                             max(0.0, mib(w["uss_kb"] - w["uss_fork_kb"])))
                            for w in r["workers"]]))
        stacked_bars_svg(groups, args.svg,
                         "ASGI workers: private memory per worker (MiB)",
                         ["after the fork", "added by the load"])
        print(f"chart: {args.svg}")


if __name__ == "__main__":
    main()
