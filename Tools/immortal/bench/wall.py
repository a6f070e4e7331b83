"""pyperformance wall-time timings of the fork against its stock twin.

There is no PyPI here, so `pyperformance run` (which builds a venv with pip)
cannot work. Instead each benchmark's run_benchmark.py runs directly under
the interpreter being measured, with pyperf on PYTHONPATH; the two
interpreters alternate benchmark by benchmark (and, with --rounds, round by
round), so slow drift of the machine hits both alike. Then `pyperf
compare_to` prints the table and the geometric mean.

    build/stock/python Tools/immortal/bench/wall.py \
        --pyperformance DIR --pyperf DIR [--out DIR] [--fast] [--bench NAME]...

DIR: checkouts of python/pyperformance and psf/pyperf (run beside the
project, never committed). Benchmarks that need packages this machine lacks
are reported and left out.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


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
            base = metafile[len('<local:'):-1] if metafile.startswith('<local:') else name
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
                extra = (tomllib.load(f).get('tool', {}).get('pyperformance', {})
                         .get('extra_opts', []))
        found.append((name, script, list(extra)))
    return found


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--pyperformance', metavar='DIR',
                   help='a checkout of python/pyperformance (required)')
    p.add_argument('--pyperf', metavar='DIR',
                   help='a checkout of psf/pyperf (required)')
    p.add_argument('--stock', default=os.path.join(ROOT, 'build/stock/python'))
    p.add_argument('--fork', default=os.path.join(ROOT, 'build/immortal/python'))
    p.add_argument('--out', default=os.path.join(ROOT, 'build/bench'))
    p.add_argument('--bench', action='append', help='only these (repeatable)')
    p.add_argument('--rounds', type=int, default=1,
                   help='alternate stock/fork this many times per benchmark')
    p.add_argument('--fast', action='store_true', help="pyperf's --fast")
    p.add_argument('--rigorous', action='store_true', help="pyperf's --rigorous")
    opts = p.parse_args()

    if not opts.pyperformance or not opts.pyperf:
        raise SystemExit('give --pyperformance DIR and --pyperf DIR: checkouts '
                         'of python/pyperformance and psf/pyperf, kept beside '
                         'the project (make bench-wall PYPERFORMANCE=... '
                         'PYPERF=...)')
    bench_dir = os.path.join(opts.pyperformance, 'pyperformance', 'data-files',
                             'benchmarks')
    if not os.path.isfile(os.path.join(bench_dir, 'MANIFEST')):
        raise SystemExit(f'{opts.pyperformance} is not a pyperformance checkout '
                         f'(no {bench_dir}/MANIFEST): fetch python/pyperformance')
    if not os.path.isdir(os.path.join(opts.pyperf, 'pyperf')):
        raise SystemExit(f'{opts.pyperf} is not a pyperf checkout: fetch psf/pyperf')
    for exe in (opts.stock, opts.fork):
        if not os.access(exe, os.X_OK):
            raise SystemExit(f'{exe} is missing: build it (make, make stock)')

    benches = manifest_benchmarks(bench_dir)
    if opts.bench:
        benches = [b for b in benches if b[0] in opts.bench]
    os.makedirs(opts.out, exist_ok=True)
    results = {'stock': os.path.join(opts.out, 'stock.json'),
               'fork': os.path.join(opts.out, 'fork.json')}
    for path in results.values():
        if os.path.exists(path):
            os.unlink(path)
    env = dict(os.environ, PYTHONPATH=opts.pyperf)
    flags = ['--fast'] if opts.fast else ['--rigorous'] if opts.rigorous else []
    skipped = []
    for name, script, variant in benches:
        ok = True
        for _ in range(opts.rounds):
            for which, exe in (('stock', opts.stock), ('fork', opts.fork)):
                with tempfile.TemporaryDirectory() as tmp:
                    out = os.path.join(tmp, 'out.json')
                    proc = subprocess.run(
                        [exe, script, *variant, *flags, '--quiet', '-o', out],
                        env=env, capture_output=True, text=True)
                    if proc.returncode:
                        last = (proc.stderr.strip().splitlines() or ['?'])[-1]
                        skipped.append(f'{name} ({which}): {last}')
                        ok = False
                        break
                    # Merge this run into the interpreter's suite file.
                    suite = results[which]
                    merge = ([suite, '--add', out] if os.path.exists(suite)
                             else [out])
                    merged = os.path.join(tmp, 'merged.json')
                    subprocess.run([exe, '-m', 'pyperf', 'convert', *merge,
                                    '-o', merged],
                                   env=env, check=True, capture_output=True)
                    os.replace(merged, suite)
            if not ok:
                break
        print(f'{name}: {"done" if ok else "left out"}', flush=True)

    if skipped:
        print('\nLeft out (they fail on this machine):')
        for line in skipped:
            print('   ', line)
    print()
    subprocess.run([opts.stock, '-m', 'pyperf', 'compare_to', results['stock'],
                    results['fork'], '--table', '-G'], env=env)


if __name__ == '__main__':
    main()
