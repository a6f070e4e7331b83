"""Instruction counts of the fork against its stock twin, under callgrind.

Counts are deterministic for a given binary and input, so small differences
show on this noisy 2-core machine, where wall time cannot resolve them.

    build/stock/python Tools/immortal/bench/callgrind.py [options]

Workloads: Tools/immortal/bench/workloads.py (ours, always), and with
--pyperformance DIR --pyperf DIR the benchmarks of a pyperformance checkout,
each run once in-process (pyperf's worker mode: one loop, one value). Start-up is
measured separately (workload `empty`, and `-c pass` for pyperformance) and
subtracted. Prints a table and the geometric mean of fork/stock.
"""

import argparse
import concurrent.futures
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
WORKLOADS = os.path.join(HERE, 'workloads.py')
COLLECTED = re.compile(rb'Collected\s*:\s*(\d+)')


# Run from the build tree, CPython 3.11 imports the stdlib from source; an
# installed one (what users run, and what pyperformance's venvs run) uses
# the deep-frozen modules (os, posixpath, collections.abc, importlib, ...).
PYTHON_OPTIONS = ['-X', 'frozen_modules=on']


def count(python, args, env=None):
    """Instructions executed by `python args` (the whole process)."""
    cmd = ['valgrind', '--tool=callgrind', '--callgrind-out-file=/dev/null',
           python, *PYTHON_OPTIONS, *args]
    # A fixed hash seed: with a random one, dict and set layouts (and so
    # the counts of the container workloads) move by up to 1% between runs.
    env = dict(os.environ if env is None else env, PYTHONHASHSEED='0')
    proc = subprocess.run(cmd, capture_output=True, env=env)
    m = COLLECTED.findall(proc.stderr)
    if proc.returncode or not m:
        tail = proc.stderr.decode(errors='replace')[-2000:]
        raise RuntimeError(f'{" ".join(cmd)} failed ({proc.returncode}):\n{tail}')
    return int(m[-1])


class StockCache:
    """Counts of the stock twin kept in a JSON file between runs.

    A count is deterministic for a binary and its input, and the stock twin
    changes only when upstream does: keyed by the binary's sha256, the
    options and the arguments, a kept count is what a new run would give.
    """

    def __init__(self, path, exe):
        self.path = path
        with open(exe, 'rb') as f:
            self.binary = hashlib.sha256(f.read()).hexdigest()
        try:
            with open(path) as f:
                self.counts = json.load(f)
        except FileNotFoundError:
            self.counts = {}

    def key(self, args):
        return ' '.join([self.binary, *PYTHON_OPTIONS, *args])

    def get(self, args):
        return self.counts.get(self.key(args))

    def put(self, args, n):
        self.counts[self.key(args)] = n

    def save(self):
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with open(self.path, 'w') as f:
            json.dump(self.counts, f, indent=0, sort_keys=True)


def our_workloads():
    out = subprocess.run([sys.executable, WORKLOADS], check=True,
                         capture_output=True, text=True).stdout.split()
    return [(name, [WORKLOADS, name]) for name in out if name != 'empty']


def manifest_benchmarks(bench_dir):
    """(name, script, arguments) for pyperformance's default group."""
    names = []
    in_benchmarks = False
    with open(os.path.join(bench_dir, 'MANIFEST')) as f:
        for line in f:
            line = line.strip()
            if line.startswith('['):
                in_benchmarks = line == '[benchmarks]'
                continue
            if not in_benchmarks or not line or line.startswith('name'):
                continue
            name, _, metafile = line.partition('\t')
            metafile = metafile.strip()
            base = (metafile[len('<local:'):-1]
                    if metafile.startswith('<local:') else name)
            names.append((name, base))
    found = []
    for name, base in names:
        bm = os.path.join(bench_dir, f'bm_{base}')
        script = os.path.join(bm, 'run_benchmark.py')
        if not os.path.exists(script):
            continue
        # A benchmark's arguments are its metadata's extra_opts: in
        # pyproject.toml, or in bm_NAME.toml for a variant of the script.
        meta = os.path.join(bm, 'pyproject.toml' if name == base
                            else f'bm_{name}.toml')
        extra = []
        if os.path.exists(meta):
            with open(meta, 'rb') as f:
                extra = (tomllib.load(f).get('tool', {})
                         .get('pyperformance', {}).get('extra_opts', []))
        found.append((name, script, list(extra)))
    return found


def pyperformance_workloads(pyperformance, names):
    bench_dir = os.path.join(pyperformance, 'pyperformance', 'data-files',
                             'benchmarks')
    if not os.path.isfile(os.path.join(bench_dir, 'MANIFEST')):
        raise SystemExit(f'{pyperformance} is not a pyperformance checkout '
                         f'(no {bench_dir}/MANIFEST): fetch python/pyperformance')
    known = {name: (script, variant)
             for name, script, variant in manifest_benchmarks(bench_dir)}
    found = []
    for name in names:
        if name not in known:
            raise SystemExit(f'no benchmark {name} in {bench_dir}/MANIFEST')
        script, variant = known[name]
        # One value of one loop, computed in this process (pyperf's worker
        # mode): callgrind follows no child processes.
        found.append((f'pyperformance/{name}',
                      [script, *variant, '--worker', '-l', '1', '-n', '1',
                       '-w', '0']))
    return found


# Benchmarks of pyperformance that need nothing beyond the stdlib and run
# in reasonable time under callgrind once.
DEFAULT_PYPERFORMANCE = [
    'async_tree', 'chaos', 'comprehensions', 'coroutines', 'deepcopy',
    'deltablue', 'fannkuch', 'float', 'generators', 'go', 'hexiom',
    'json_dumps', 'json_loads', 'logging', 'nbody', 'nqueens', 'pathlib',
    'pickle_pure_python', 'pprint', 'pyflate', 'raytrace', 'regex_compile',
    'richards', 'scimark', 'spectral_norm', 'unpack_sequence',
]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--stock', default=os.path.join(ROOT, 'build/stock/python'))
    p.add_argument('--fork', default=os.path.join(ROOT, 'build/immortal/python'))
    p.add_argument('--pyperformance', metavar='DIR',
                   help='a pyperformance checkout (python/pyperformance)')
    p.add_argument('--pyperf', metavar='DIR',
                   help='a pyperf checkout (psf/pyperf), for --pyperformance')
    p.add_argument('--bench', action='append',
                   help='pyperformance benchmark (repeatable; default: a '
                        'stdlib-only set)')
    p.add_argument('--only-pyperformance', action='store_true')
    p.add_argument('--frozen-modules', choices=('on', 'off'), default='on',
                   help='-X frozen_modules for both (default on: as '
                        'installed)')
    p.add_argument('--stock-cache', metavar='FILE',
                   help='keep the stock twin\'s counts in FILE and reuse '
                        'those of the same binary (halves a rerun)')
    p.add_argument('-j', '--jobs', type=int, default=os.cpu_count() or 2)
    opts = p.parse_args()
    PYTHON_OPTIONS[:] = ['-X', f'frozen_modules={opts.frozen_modules}']

    for exe in (opts.stock, opts.fork):
        if not os.access(exe, os.X_OK):
            raise SystemExit(f'{exe} is missing: build it (make, make stock)')
    if not shutil.which('valgrind'):
        raise SystemExit('valgrind is missing: apt-get install valgrind')
    if opts.pyperf and not opts.pyperformance:
        raise SystemExit('--pyperf is for --pyperformance DIR: give both')

    jobs = [] if opts.only_pyperformance else our_workloads()
    env = None
    if opts.pyperformance:
        if not opts.pyperf or not os.path.isdir(os.path.join(opts.pyperf, 'pyperf')):
            raise SystemExit('--pyperformance needs --pyperf DIR, a checkout '
                             'of psf/pyperf')
        jobs += pyperformance_workloads(opts.pyperformance,
                                        opts.bench or DEFAULT_PYPERFORMANCE)
        env = dict(os.environ, PYTHONPATH=opts.pyperf)

    baselines = [('(start-up)', [WORKLOADS, 'empty'])]
    if opts.pyperformance:
        baselines.append(('(start-up, pyperf)', ['-c', 'import pyperf']))
    cache = StockCache(opts.stock_cache, opts.stock) if opts.stock_cache else None
    results = {}
    todo = []
    for name, args in baselines + jobs:
        for which, exe in (('stock', opts.stock), ('fork', opts.fork)):
            kept = cache.get(args) if which == 'stock' and cache else None
            if kept is not None:
                results[name, which] = kept
            else:
                todo.append(((name, which), exe, args))
    # Counted as users run: from .pyc files. Compiling the modules a
    # workload imports costs more than most workloads (pyperf's start-up:
    # 237 M instructions with them, 926 M without), and the sandbox's
    # PYTHONDONTWRITEBYTECODE would have every run compile again. One plain
    # run of each workload to be counted writes them first.
    env = dict(os.environ if env is None else env)
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    with concurrent.futures.ThreadPoolExecutor(opts.jobs) as pool:
        for f in [pool.submit(subprocess.run, [exe, *PYTHON_OPTIONS, *args],
                              env=env, check=True, capture_output=True)
                  for _, exe, args in todo]:
            f.result()
        tasks = {key: pool.submit(count, exe, args, env)
                 for key, exe, args in todo}
        results.update((key, f.result()) for key, f in tasks.items())
    if cache:
        for name, args in baselines + jobs:
            cache.put(args, results[name, 'stock'])
        cache.save()

    print(f'{"workload":<34} {"stock":>15} {"fork":>15} {"fork/stock":>10}')
    ratios = []
    for name, args in baselines + jobs:
        base = '(start-up, pyperf)' if name.startswith('pyperformance/') else '(start-up)'
        s, f = results[name, 'stock'], results[name, 'fork']
        if not name.startswith('('):
            s -= results[base, 'stock']
            f -= results[base, 'fork']
            ratios.append(f / s)
        print(f'{name:<34} {s:>15,} {f:>15,} {f / s:>10.4f}')
    geo = math.exp(sum(map(math.log, ratios)) / len(ratios))
    print(f'{"geometric mean (start-up excluded)":<66} {geo:>10.4f}  '
          f'({(geo - 1) * 100:+.2f}%, {len(ratios)} workloads)')


if __name__ == '__main__':
    main()
