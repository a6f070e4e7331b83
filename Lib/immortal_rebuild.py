"""Rebuild installed extensions from their sdist against Immortal CPython.

    python3 -m immortal_rebuild              # the installed heap walkers
    python3 -m immortal_rebuild ujson msgpack
    python3 -m immortal_rebuild --list       # what is installed, and how
    python3 -m immortal_rebuild ujson -- --index-url URL   # pip options

Why: a wheel built for stock 3.11 has stock's Py_INCREF()/Py_DECREF()
compiled in, a plain ob_refcnt++/--. Immortal objects survive it, but each
of those writes dirties the page of the object in a forked worker. Most
extensions touch a handful of objects a request; a serializer or a
validator touches every object of the data it walks, so serializing a warm
heap once in a worker makes most of it private again (ujson, msgpack,
simplejson, PyYAML: 50-70% of the heap, as on stock; Doc/immortal/
wheels.md). Built from source against this interpreter's headers, their
refcounting leaves immortal objects alone and the heap stays shared.

Each project is reinstalled at the version installed, from its sdist, with
this interpreter's pip (`pip install --force-reinstall --no-deps
--no-binary NAME NAME==VERSION`): it needs a compiler and the build
dependencies the project names (pip fetches those as usual). Projects
whose extensions are written in Rust (PyO3: orjson, pydantic-core, cbor2,
...) cannot be helped this way: their refcounting is compiled Rust, which
tests for immortal objects only when built for 3.12 and later; the command
says so and leaves them alone.
"""

import argparse
import importlib.metadata
import os
import re
import subprocess
import sys

# Projects whose wheels, built for stock 3.11, write the refcount of every
# object of the data they walk (measured: Doc/immortal/wheels.md): rebuilt
# when no project is named, if installed. The Rust ones are named so that
# the command says why it leaves them alone. orjson and python-rapidjson
# write nothing there and need no rebuild.
HEAP_WALKERS = ("ujson", "simplejson", "msgpack", "PyYAML",
                "ruamel.yaml.clib", "bson", "cbor2", "pydantic-core",
                "ormsgpack")

EXTENSION = re.compile(r"\.(cpython-\d+[^/]*|abi3)\.so$")


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def extensions(dist):
    """Paths of the compiled extension modules a distribution installed."""
    out = []
    for f in dist.files or ():
        if EXTENSION.search(str(f)):
            path = f.locate()
            if os.path.exists(path):
                out.append(str(path))
    return out


def is_rust(path):
    """Is this extension module built from Rust (PyO3 and the like)?"""
    with open(path, "rb") as f:
        data = f.read()
    return any(marker in data for marker in
               (b"pyo3", b"rust_panic", b"/rustc/", b"rustc version"))


def classify(dist):
    """(kind, reason): 'none' (no extension), 'rust' (cannot be rebuilt
    this way) or 'c' (C, C++, Cython, ...: rebuildable from its sdist)."""
    mods = extensions(dist)
    if not mods:
        return "none", "no compiled extension modules"
    rust = [m for m in mods if is_rust(m)]
    if rust:
        return "rust", ("Rust (PyO3) extension: its refcounting is compiled "
                        "Rust, immortal-aware only when built for 3.12+")
    return "c", f"{len(mods)} compiled extension module(s)"


def installed():
    seen = {}
    for dist in importlib.metadata.distributions():
        seen.setdefault(canonical(dist.metadata["Name"]), dist)
    return seen


def rebuild(dist, pip_args, dry_run=False):
    name, version = dist.metadata["Name"], dist.version
    cmd = [sys.executable, "-m", "pip", "install", "--force-reinstall",
           "--no-deps", "--no-binary", name, "--no-cache-dir",
           f"{name}=={version}", *pip_args]
    print("immortal_rebuild:", " ".join(cmd), flush=True)
    if dry_run:
        return True
    if subprocess.call(cmd) != 0:
        print(f"immortal_rebuild: {name} {version}: pip failed (a compiler, "
              f"the project's build dependencies or its C libraries' "
              f"headers may be missing)", file=sys.stderr)
        return False
    importlib.invalidate_caches()
    after = installed().get(canonical(name))
    if after is None or not extensions(after):
        # Some projects (PyYAML without libyaml's headers) quietly build
        # without their extension: that is no remedy.
        print(f"immortal_rebuild: {name} {version}: rebuilt WITHOUT its "
              f"extension modules (missing C library headers?)",
              file=sys.stderr)
        return False
    return True


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    pip_args = []
    if "--" in argv:
        i = argv.index("--")
        argv, pip_args = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(
        prog="python -m immortal_rebuild",
        description=__doc__.split("\n\n")[0])
    ap.add_argument("projects", nargs="*",
                    help="projects to rebuild (default: the installed "
                         "heap walkers: " + ", ".join(HEAP_WALKERS) + ")")
    ap.add_argument("--list", action="store_true",
                    help="list installed projects with extension modules")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the pip commands, run none")
    args = ap.parse_args(argv)

    dists = installed()
    if args.list:
        for key in sorted(dists):
            kind, why = classify(dists[key])
            if kind != "none":
                verdict = ("cannot be rebuilt this way" if kind == "rust"
                           else "rebuildable from its sdist")
                print(f"{dists[key].metadata['Name']} {dists[key].version}: "
                      f"{verdict} ({why})")
        return 0

    if args.projects:
        names = args.projects
        unknown = [n for n in names if canonical(n) not in dists]
        if unknown:
            print(f"immortal_rebuild: not installed: {', '.join(unknown)}",
                  file=sys.stderr)
            return 2
    else:
        names = [n for n in HEAP_WALKERS if canonical(n) in dists]
        if not names:
            print("immortal_rebuild: none of the known heap walkers is "
                  "installed; name the projects to rebuild")
            return 0
    failed = skipped = 0
    for name in names:
        dist = dists[canonical(name)]
        kind, why = classify(dist)
        if kind != "c":
            print(f"immortal_rebuild: {dist.metadata['Name']} "
                  f"{dist.version}: left alone: {why}")
            skipped += 1
            continue
        if not rebuild(dist, pip_args, args.dry_run):
            failed += 1
    done = len(names) - failed - skipped
    print(f"immortal_rebuild: {done} rebuilt, {failed} failed, "
          f"{skipped} left alone")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
