#!/usr/bin/env python3
"""Celery prefork workers over a warm dataset: each pool child's private
memory and the tasks per second, stock twin against the fork.

    make servers
    build/stock/python Tools/immortal/servers/celerybench.py \\
        [--mb 100] [--tasks 400] [--concurrency 4] [--configs stock,freeze,fork]
        [--json FILE] [--svg FILE]

Each twin gets a venv of its own (its own venv and pip, a pip cache each)
with Celery and the Redis client from PyPI, pinned with hashes in
servers/celery/requirements.txt (made once, reused). A Redis server
(Debian's redis-server, on a free loopback port, no persistence) is the
broker and the result backend. For each configuration a worker starts
(`celery -A benchapp worker --pool prefork --concurrency N`): its main
process imports servers/celery/benchapp.py, which builds about --mb MiB of
records and, unless told not to, calls immortal_prefork.celery_setup().
The configurations:

    stock    stock twin, nothing prepared
    freeze   stock twin, celery_setup(): gc.collect() + gc.freeze()
    fork     the fork, celery_setup(): sys.immortalize_heap()

A client (in the same venv) then sends --tasks tasks, each reading a
16th of the records, waits for them all (tasks/s), and asks each child
for its USS (smaps_rollup), how its heap was prepared and whether the
dataset is immortal there.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
APP_DIR = os.path.join(HERE, "celery")
REQUIREMENTS = os.path.join(APP_DIR, "requirements.txt")
sys.path.insert(0, HERE)
import realapp  # noqa: E402  (make_venv, Failure, say)

CONFIGS = {"stock": ("stock", "0"), "freeze": ("stock", "1"),
           "fork": ("immortal", "1")}
EXPECTED = {"stock": None, "freeze": "freeze", "fork": "immortalize_heap"}

CLIENT = r"""
import json, sys, time
settings = json.loads(sys.argv[1])
import benchapp
deadline = time.monotonic() + settings["start_timeout"]
while not benchapp.app.control.ping(timeout=1.0):
    if time.monotonic() > deadline:
        raise SystemExit("client: the worker did not answer a ping")
parts = 16
# One round to warm the children up (not timed).
for r in [benchapp.lookup.delay(i % parts, parts)
          for i in range(settings["concurrency"] * 2)]:
    r.get(timeout=120)
t0 = time.perf_counter()
results = [benchapp.lookup.delay(i % parts, parts)
           for i in range(settings["tasks"])]
totals = [r.get(timeout=600) for r in results]
t1 = time.perf_counter()
children = {}
for attempt in range(10):
    for r in [benchapp.report.delay(0.3)
              for _ in range(settings["concurrency"] * 2)]:
        info = r.get(timeout=120)
        children[info["pid"]] = info
    if len(children) >= settings["concurrency"]:
        break
print(json.dumps({"tasks": len(totals), "seconds": t1 - t0,
                  "children": list(children.values())}))
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_command(port, *words):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall((" ".join(words) + "\r\n").encode())
        return s.recv(1024).decode()


def start_redis(tmp):
    exe = "/usr/bin/redis-server"
    if not os.path.exists(exe):
        raise realapp.Failure("no redis-server: run Tools/immortal/deps.sh "
                              "(it installs Debian's redis-server)")
    port = free_port()
    log = open(os.path.join(tmp, "redis.log"), "w")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", tmp], stdout=log,
        stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            if redis_command(port, "PING").startswith("+PONG"):
                return proc, port
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise realapp.Failure("redis-server did not start: "
                                  + realapp.tail(log.name))
        time.sleep(0.1)


def stop(proc, timeout=30):
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def run_config(name, vpython, port, args, tmp):
    twin, prepare = CONFIGS[name]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "CELERY"))}
    paths = [APP_DIR]
    if twin == "stock":                # immortal_prefork ships with the fork
        paths.append(os.path.join(ROOT, "Lib"))
    env.update(PYTHONPATH=os.pathsep.join(paths),
               CELERYBENCH_REDIS=f"redis://127.0.0.1:{port}/0",
               CELERYBENCH_MB=str(args.mb), CELERYBENCH_PREPARE=prepare)
    redis_command(port, "FLUSHALL")
    log_path = os.path.join(tmp, f"worker-{name}.log")
    log = open(log_path, "w")
    worker = subprocess.Popen(
        [vpython, "-m", "celery", "-A", "benchapp", "worker", "--pool",
         "prefork", "--concurrency", str(args.concurrency), "--loglevel",
         "WARNING", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-n", f"bench-{name}@localhost"],
        cwd=APP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        client_env = dict(env, CELERYBENCH_MB="0")   # no dataset in the client
        settings = {"tasks": args.tasks, "concurrency": args.concurrency,
                    "start_timeout": args.start_timeout}
        try:
            proc = subprocess.run(
                [vpython, "-c", CLIENT, json.dumps(settings)], cwd=APP_DIR,
                env=client_env, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
                timeout=args.start_timeout + 900)
        except subprocess.TimeoutExpired:
            raise realapp.Failure(f"{name}: the client had no answer after "
                                  f"{args.start_timeout + 900} s; worker "
                                  f"log:\n{realapp.tail(log_path)}")
        lines = proc.stdout.strip().splitlines()
        if proc.returncode or not lines:
            raise realapp.Failure(
                f"{name}: the client failed:\n{proc.stderr[-2000:]}\n"
                f"worker log:\n{realapp.tail(log_path)}")
        res = json.loads(lines[-1])
    finally:
        stop(worker)
        log.close()
    problems = [line for line in open(log_path, errors="replace")
                if realapp.LOG_PROBLEMS.search(line)]
    if problems:
        raise realapp.Failure(f"{name}: the worker's log has "
                              f"{problems[0].strip()!r} ({log_path})")
    kids = res["children"]
    if len(kids) < args.concurrency:
        raise realapp.Failure(f"{name}: {len(kids)} of {args.concurrency} "
                              "children answered")
    for kid in kids:
        if kid["prepared"] != EXPECTED[name]:
            raise realapp.Failure(f"{name}: a child says its heap was "
                                  f"prepared by {kid['prepared']!r}")
    return {"tasks_s": res["tasks"] / res["seconds"],
            "child_mib": statistics.mean(k["uss_kib"] for k in kids) / 1024,
            "children": kids}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stock-prefix", default=os.path.join(
        ROOT, "build", "prefix", "stock"))
    p.add_argument("--fork-prefix", default=os.path.join(
        ROOT, "build", "prefix", "immortal"))
    p.add_argument("--work", default=os.path.join(ROOT, "build",
                                                  "celerybench"),
                   help="where the venvs and pip caches live")
    p.add_argument("--configs", type=lambda s: s.split(","),
                   default=list(CONFIGS))
    p.add_argument("--mb", type=int, default=100)
    p.add_argument("--tasks", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--start-timeout", type=int, default=120)
    p.add_argument("--json")
    p.add_argument("--svg", help="a chart of each child's private and "
                                 "shared memory")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    unknown = set(args.configs) - set(CONFIGS)
    if unknown:
        sys.exit(f"celerybench: unknown configurations {sorted(unknown)}")
    prefixes = {"stock": args.stock_prefix, "immortal": args.fork_prefix}
    results = {}
    try:
        venvs = {}
        for name in args.configs:
            twin = CONFIGS[name][0]
            if twin not in venvs:
                if not os.path.exists(os.path.join(prefixes[twin], "bin",
                                                   "python3")):
                    raise realapp.Failure(f"{prefixes[twin]}: not built "
                                          "(make servers)")
                venvs[twin] = realapp.make_venv(
                    twin, prefixes[twin], requirements=REQUIREMENTS,
                    work=args.work)
        with tempfile.TemporaryDirectory(prefix="celerybench-") as tmp:
            redis, port = start_redis(tmp)
            try:
                for name in args.configs:
                    realapp.say(f"celery: {name}")
                    results[name] = run_config(name, venvs[CONFIGS[name][0]],
                                               port, args, tmp)
            finally:
                redis.terminate()
                redis.wait()
    except realapp.Failure as e:
        sys.exit(f"celerybench: {e}")
    base = results.get("stock")
    print(f"Celery prefork, {args.concurrency} children, {args.tasks} tasks "
          f"over about {args.mb} MiB of records")
    print(f"{'config':<8} {'child USS MiB':>14} {'vs stock':>8} "
          f"{'tasks/s':>8} {'vs stock':>8} {'immortal data':>13}")
    for name, r in results.items():
        line = f"{name:<8} {r['child_mib']:14.1f}"
        if base:
            line += (f" {r['child_mib'] / base['child_mib']:8.3f}"
                     f" {r['tasks_s']:8.1f}"
                     f" {r['tasks_s'] / base['tasks_s']:8.3f}")
        else:
            line += f" {'':>8} {r['tasks_s']:8.1f} {'':>8}"
        line += f" {str(all(k['immortal'] for k in r['children'])):>13}"
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.svg:
        sys.path.insert(0, os.path.dirname(HERE))
        from cowprobe import stacked_bars_svg
        stacked_bars_svg(
            [(name, CONFIGS[name][0], "%.0f tasks/s" % r["tasks_s"],
              [(k["uss_kib"] / 1024, k["shared_kib"] / 1024)
               for k in r["children"]])
             for name, r in results.items()],
            args.svg, "Celery prefork: per-child memory after the tasks (MiB)",
            ("private (USS)", "shared"))
        print(f"chart: {args.svg}")


if __name__ == "__main__":
    main()
