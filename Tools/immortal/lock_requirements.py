#!/usr/bin/env python3
"""Regenerate DIR/requirements.txt from DIR/requirements.in, for the
benchmarks' and tests' venvs that install from PyPI.

    python3 Tools/immortal/lock_requirements.py DIR [--dest D] [--check]

DIR: Tools/immortal/bench/pyperformance (make pyperformance's runner),
Tools/immortal/servers/celery (the Celery prefork test and benchmark).
The Wagtail benchmark's lock (Tools/immortal/servers/realapp/lock.py) on
those files: pip download from PyPI alone, binary wheels for CPython 3.11
on manylinux x86_64, one `name==version --hash=sha256:...` line per
distribution. --check fails (exit 1) if requirements.txt would change.
Stdlib only.
"""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__.split("\n\n")[1])
    directory = os.path.abspath(sys.argv.pop(1))
    requirements_in = os.path.join(directory, "requirements.in")
    if not os.path.exists(requirements_in):
        sys.exit(f"lock_requirements.py: no {requirements_in}")
    # Under its own name: it imports the corpus's lock.py as "lock".
    spec = importlib.util.spec_from_file_location(
        "realapp_lock", os.path.join(HERE, "servers", "realapp", "lock.py"))
    realapp_lock = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(realapp_lock)
    rel = os.path.relpath(directory, ROOT)
    realapp_lock.main(
        __doc__, requirements_in, os.path.join(directory, "requirements.txt"),
        title=f"The venvs of {rel}",
        script=f"Tools/immortal/lock_requirements.py {rel}")


if __name__ == "__main__":
    main()
