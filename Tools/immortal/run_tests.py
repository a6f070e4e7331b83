"""Run CPython's whole regression suite, plus our own tests, and judge it.

Run by the interpreter under test, from its build directory:

    build/immortal/python Tools/immortal/run_tests.py \
        --known Tools/immortal/known-stock-failures.txt \
        --shell-test Tools/immortal/tests/test_tree_tools.sh [regrtest args]

Regrtest runs the way upstream's `make test` runs it (Tools/scripts/run_tests.py:
-E -bb -W default, -w to re-run failures, -u all,-largefile,-audio,-gui), with
-j2 and a per-test timeout. The known-failures file lists, with a reason each,
what also fails on the stock twin on Debian 12; anything else that fails fails
the run. The last line printed is "N passed, N failed, N skipped", counting
test modules (each shell test counts as one; a module that passed but
"altered the execution environment" counts as passed, as regrtest's exit
status has it; a module that ran no tests counts as skipped).

Known-failures file: one pattern per line, '#' starts a reason or comment.
A bare module name (test_foo) leaves that module out; anything else
(test_foo.SomeCase, SomeCase.test_bar, globs) is a regrtest --ignore pattern
that leaves those test cases out of their module, which still runs.
"""

import argparse
import faulthandler
import os
import subprocess
import sys
import tempfile

REGRTEST_DEFAULTS = ['-w', '-u', 'all,-largefile,-audio,-gui']
INTERPRETER_FLAGS = ['-u', '-W', 'default', '-bb', '-E']
CHILD_MARK = '--_immortal-child'


def parse_known(path):
    """Return (modules to leave out, ignore patterns), each with reasons."""
    modules, patterns = [], []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            entry, _, reason = line.partition('#')
            entry = entry.strip()
            if not entry:
                continue
            if ' ' in entry:
                raise SystemExit(f'{path}:{lineno}: one pattern per line: {entry!r}')
            if not reason.strip():
                raise SystemExit(f'{path}:{lineno}: {entry} has no reason')
            item = (entry, reason.strip())
            if entry.startswith('test_') and '.' not in entry and '*' not in entry:
                modules.append(item)
            else:
                patterns.append(item)
    return modules, patterns


def run_shell_tests(paths):
    passed, failed = [], []
    for path in paths:
        name = os.path.basename(path)
        print(f'== {name}', flush=True)
        rc = subprocess.call(['bash', path])
        (passed if rc == 0 else failed).append(name)
    return passed, failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--known', help='known stock failures file')
    parser.add_argument('--shell-test', action='append', default=[],
                        help='a shell test to run first (counts as a module)')
    parser.add_argument('-j', dest='jobs', default='2')
    parser.add_argument('--timeout', default='1200',
                        help='per-test-module timeout in seconds')
    parser.add_argument(CHILD_MARK, dest='child', action='store_true',
                        help=argparse.SUPPRESS)
    opts, regrtest_args = parser.parse_known_args()

    if not opts.child:
        # Re-run under the interpreter flags upstream's test runner uses, in
        # an environment without PYTHON* variables: the tests' subprocesses
        # inherit them (PYTHONUNBUFFERED, PYTHONDONTWRITEBYTECODE, ... make
        # test_cmd_line and test_compileall fail on stock too).
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('PYTHON')}
        dropped = sorted(set(os.environ) - set(env))
        if dropped:
            print('run_tests: unset for the tests:', ' '.join(dropped))
        os.execve(sys.executable, [sys.executable, *INTERPRETER_FLAGS,
                                   os.path.abspath(__file__), CHILD_MARK,
                                   *sys.argv[1:]], env)

    shell_passed, shell_failed = run_shell_tests(opts.shell_test)

    args = [*REGRTEST_DEFAULTS, '-j', opts.jobs, '--timeout', opts.timeout]
    # Test names on the command line select tests; then nothing is left out.
    selecting = any(not a.startswith('-') for a in regrtest_args)
    left_out = []
    ignore = None
    if opts.known:
        modules, patterns = parse_known(opts.known)
        print(f'Known to fail on stock 3.11.2 here too ({opts.known}):')
        for entry, reason in modules + patterns:
            print(f'    {entry}: {reason}')
        if patterns:
            with tempfile.NamedTemporaryFile('w', suffix='.txt',
                                             delete=False) as ignore:
                ignore.write(''.join(p + '\n' for p, _ in patterns))
            args += ['--ignorefile', ignore.name]
        if not selecting:
            left_out = [m for m, _ in modules]
    args += regrtest_args
    if left_out:
        # -x: the test names that follow are the ones to leave out.
        args += ['-x', *left_out]
    print('regrtest', ' '.join(args), flush=True)

    from test.libregrtest.main import Regrtest
    regrtest = Regrtest()
    sys.argv[1:] = args
    try:
        regrtest.main()
    except SystemExit:
        pass
    finally:
        # Regrtest arms an exit watchdog when it finishes; we exit ourselves.
        faulthandler.cancel_dump_traceback_later()
        if ignore is not None:
            os.unlink(ignore.name)

    # A regrtest that stopped early (bad arguments, interrupt) selected
    # tests it never ran: they count as failed.
    omitted = set(regrtest.selected or ()) - regrtest.get_executed()
    failed = sorted(set(regrtest.bad) | omitted) + shell_failed
    passed = len(regrtest.good) + len(regrtest.environment_changed) + len(shell_passed)
    skipped = len(regrtest.skipped) + len(regrtest.run_no_tests)
    if regrtest.interrupted:
        failed.append('(interrupted)')

    print()
    if failed:
        print('Failed (not known to fail on stock):', ' '.join(failed))
    print(f'{passed} passed, {len(failed)} failed, {skipped} skipped', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
