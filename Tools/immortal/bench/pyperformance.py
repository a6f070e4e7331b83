"""pyperformance as its users run it: the real runner, on both twins.

    build/stock/python Tools/immortal/bench/pyperformance.py \\
        [--rounds N] [--work DIR] [--bench LIST] [-- RUN-OPTIONS...]
    make pyperformance PYPERFORMANCE_OPTS="--rounds 3 -- --fast"

1. The runner: a venv (made by the stock twin's venv) with pyperformance
   and its dependencies from PyPI, pinned with hashes in
   Tools/immortal/bench/pyperformance/requirements.txt
   (Tools/immortal/lock_requirements.py writes it).
2. `pyperformance run --python build/stock/python` and `--python
   build/immortal/python`, each in a directory of its own, so each creates
   its benchmark venv with that interpreter's own venv and pip (and a pip
   cache of its own: both twins have the cp311 tag, and a shared cache
   would hand one the C extensions built for the other). Options after
   `--` go to `pyperformance run` (--fast, --rigorous, --affinity, ...).
3. --rounds N runs the suite N times, the twins alternating (stock, fork,
   fork, stock, ...), so drift of the machine hits both alike. Each round
   gives a geometric mean of fork/stock; the rounds' figures give its
   spread. The rounds' runs are then merged per twin and `pyperformance
   compare` prints the table.

Every benchmark that ran on one twin and not on the other is listed, with
the line of the run's log that says why. Results: WORK/{stock,fork}.json
(merged), WORK/TWIN/round-N.json and .log. PYTHONDONTWRITEBYTECODE and
the other PYTHON* variables are not passed on.
"""

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
REQUIREMENTS = os.path.join(HERE, "pyperformance", "requirements.txt")


def say(msg):
    print(f"pyperformance: {msg}", flush=True)


def _corpus_run():
    # The wheel corpus's pip helpers: pip_env(), sha256().
    path = os.path.join(HERE, os.pardir, "corpus", "run.py")
    spec = importlib.util.spec_from_file_location("corpus_run", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus_run = _corpus_run()


def clean_env(pip_cache):
    """corpus_run.pip_env(): no PYTHON* (the sandbox sets
    PYTHONDONTWRITEBYTECODE), none of the machine's pip configuration
    (find-links, constraints), a pip cache per twin; and pip's timeout, if
    one is set."""
    env = corpus_run.pip_env(pip_cache)
    if os.environ.get("PIP_DEFAULT_TIMEOUT"):
        env["PIP_DEFAULT_TIMEOUT"] = os.environ["PIP_DEFAULT_TIMEOUT"]
    return env


def run_logged(cmd, log, env, cwd=None, check=True):
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT,
                              env=env, cwd=cwd)
    if check and proc.returncode != 0:
        with open(log) as f:
            tail = "".join(f.readlines()[-20:])
        sys.exit(f"pyperformance: {cmd[0]} failed (exit {proc.returncode}; "
                 f"log: {log}):\n{tail}")
    return proc.returncode


def runner_venv(work, stock):
    """WORK/runner with pyperformance installed; reused while the
    requirements and the interpreter are unchanged."""
    venv = os.path.join(work, "runner")
    python = os.path.join(venv, "bin", "python")
    stamp = os.path.join(venv, "installed")
    want = corpus_run.sha256(REQUIREMENTS) + " " + os.path.realpath(stock)
    if os.path.exists(stamp) and open(stamp).read() == want:
        return python
    say(f"making the runner venv {venv}")
    shutil.rmtree(venv, ignore_errors=True)
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "runner.log")
    open(log, "w").close()
    env = clean_env(os.path.join(work, "pip-cache-runner"))
    run_logged([stock, "-m", "venv", venv], log, env)
    run_logged([python, "-m", "pip", "install", "--progress-bar", "off",
                "--require-hashes", "--only-binary=:all:", "-r",
                REQUIREMENTS], log, env)
    with open(stamp, "w") as f:
        f.write(want)
    return python


def failures(log):
    """{benchmark: reason} from a `pyperformance run` log."""
    out = {}
    current = None
    with open(log, errors="replace") as f:
        for line in f:
            # "( 3/88) creating venv for benchmark (name)", "[3/88] name..."
            m = (re.match(r"\(\s*\d+/\d+\) creating venv for benchmark "
                          r"\((\S+)\)", line)
                 or re.match(r"\[\s*\d+/\d+\]\s+(\S+)\.\.\.", line))
            if m:
                current = m.group(1)
                continue
            if current and re.search(r"ERROR|Error|failed", line) \
                    and current not in out:
                out[current] = line.strip()[:200]
    return out


COMPARE = r"""
import json, math, sys
import pyperf
stock = pyperf.BenchmarkSuite.load(sys.argv[1])
fork = pyperf.BenchmarkSuite.load(sys.argv[2])
s = {b.get_name(): b.mean() for b in stock.get_benchmarks()}
f = {b.get_name(): b.mean() for b in fork.get_benchmarks()}
common = sorted(set(s) & set(f))
ratios = {n: f[n] / s[n] for n in common}
geo = math.exp(sum(math.log(r) for r in ratios.values()) / len(ratios))
print(json.dumps({"geomean": geo, "count": len(common), "ratios": ratios,
                  "names": {"stock": sorted(s), "fork": sorted(f)}}))
"""


def compare_round(runner, stock_json, fork_json):
    out = subprocess.run([runner, "-c", COMPARE, stock_json, fork_json],
                         stdout=subprocess.PIPE, check=True, text=True,
                         env=clean_env(os.devnull)).stdout
    return json.loads(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stock", default=os.path.join(ROOT, "build", "stock",
                                                   "python"))
    p.add_argument("--fork", default=os.path.join(ROOT, "build", "immortal",
                                                  "python"))
    p.add_argument("--work", default=os.path.join(ROOT, "build",
                                                  "pyperformance"))
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--bench", help="pyperformance's -b (a list or a group)")
    p.add_argument("run_options", nargs="*",
                   help="after --: options for `pyperformance run`")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    pythons = {"stock": os.path.abspath(args.stock),
               "fork": os.path.abspath(args.fork)}
    for twin, exe in pythons.items():
        if not os.access(exe, os.X_OK):
            sys.exit(f"pyperformance: {exe} is missing: make immortal stock")
    work = os.path.abspath(args.work)
    runner = runner_venv(work, pythons["stock"])
    pyperformance = os.path.join(os.path.dirname(runner), "pyperformance")
    rounds = []
    for r in range(args.rounds):
        order = ["stock", "fork"] if r % 2 == 0 else ["fork", "stock"]
        outs = {}
        for twin in order:
            d = os.path.join(work, twin)
            os.makedirs(d, exist_ok=True)
            out = os.path.join(d, f"round-{r + 1}.json")
            log = os.path.join(d, f"round-{r + 1}.log")
            for stale in (out, log):
                if os.path.exists(stale):
                    os.unlink(stale)
            env = clean_env(os.path.join(d, "pip-cache"))
            # pyperformance gives pip and the benchmarks only HOME and
            # PATH unless told: without these, pip would read the
            # machine's configuration and share one cache between twins.
            inherit = sorted(k for k in env if k.startswith("PIP_"))
            cmd = [pyperformance, "run", "--python", pythons[twin],
                   "-o", out, "--inherit-environ", ",".join(inherit),
                   *args.run_options]
            if args.bench:
                cmd += ["-b", args.bench]
            say(f"round {r + 1}/{args.rounds}: {twin} (log: {log})")
            # A benchmark that fails makes the run exit non-zero; the
            # others' results are written all the same.
            run_logged(cmd, log, env, cwd=d, check=False)
            if not os.path.exists(out):
                sys.exit(f"pyperformance: {twin} wrote no results; see {log}")
            outs[twin] = out
        res = compare_round(runner, outs["stock"], outs["fork"])
        del res["names"]
        res["round"] = r + 1
        rounds.append(res)
        say(f"round {r + 1}: fork/stock geometric mean {res['geomean']:.4f} "
            f"over {res['count']} benchmarks")

    # Merge the rounds per twin: pyperf adds the runs of a benchmark that
    # is in both files.
    merged = {}
    for twin in pythons:
        files = [os.path.join(work, twin, f"round-{r + 1}.json")
                 for r in range(args.rounds)]
        merged[twin] = os.path.join(work, f"{twin}.json")
        if os.path.exists(merged[twin]):
            os.unlink(merged[twin])
        # One --add at a time: pyperf's convert keeps only the last.
        shutil.copy(files[0], merged[twin])
        for f in files[1:]:
            tmp = merged[twin] + ".tmp"
            subprocess.run([runner, "-m", "pyperf", "convert", merged[twin],
                            "--add", f, "-o", tmp], check=True,
                           env=clean_env(os.devnull),
                           stdout=subprocess.DEVNULL)
            os.replace(tmp, merged[twin])
    print()
    subprocess.run([pyperformance, "compare", merged["stock"], merged["fork"],
                    "-O", "table"], env=clean_env(os.devnull))

    print()
    geos = [r["geomean"] for r in rounds]
    total = compare_round(runner, merged["stock"], merged["fork"])
    # pyperf reads the names: a file's own JSON may keep a benchmark's
    # name in the suite's common metadata.
    names = {t: set(n) for t, n in total.pop("names").items()}
    print(f"fork/stock geometric mean over {total['count']} benchmarks, "
          f"rounds merged: {total['geomean']:.4f}")
    if len(geos) > 1:
        print("per round: " + ", ".join(f"{g:.4f}" for g in geos)
              + f"; spread {min(geos):.4f}-{max(geos):.4f}")
    for twin, other in (("stock", "fork"), ("fork", "stock")):
        missing = sorted(names[other] - names[twin])
        if missing:
            reasons = {}
            for r in range(args.rounds):
                reasons.update(failures(os.path.join(
                    work, twin, f"round-{r + 1}.log")))
            print(f"ran on {other}, not on {twin}:")
            for name in missing:
                print(f"    {name}: {reasons.get(name, 'see the logs')}")
    for twin in pythons:
        failed = {}
        for r in range(args.rounds):
            failed.update(failures(os.path.join(work, twin,
                                                f"round-{r + 1}.log")))
        failed = {n: why for n, why in failed.items()
                  if n not in names["stock"] and n not in names["fork"]}
        if failed:
            print(f"failed on both twins ({twin}'s log):")
            for name, why in sorted(failed.items()):
                print(f"    {name}: {why}")
    with open(os.path.join(work, "rounds.json"), "w") as f:
        json.dump({"rounds": rounds, "merged": total}, f, indent=1)


if __name__ == "__main__":
    main()
