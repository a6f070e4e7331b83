#!/usr/bin/env python3
"""Regenerate wheels.txt from corpus.py.

    python3 Tools/immortal/corpus/lock.py [--dest DIR] [--python PY] [--check]

Resolves every corpus entry (name[extras]==version, plus its `requires`)
together with the pinned pip, with pip download for CPython 3.11 on manylinux
x86_64 (binary wheels only), into DIR (default: the wheel cache,
$IMMORTAL_CACHE_DIR/wheels or ~/.cache/immortal-cpython/wheels), then writes
wheels.txt: one `name==version --hash=sha256:...` per distribution pip
downloaded, with the sha256 of the downloaded file.

pip runs with PIP_CONFIG_FILE=os.devnull and without PIP_FIND_LINKS (and the
other PIP_* settings that change what is found), so the lock comes from PyPI
alone, never from a machine-local wheel directory or constraint file.

--check resolves again and fails (exit 1) if wheels.txt would change.
Stdlib only.
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WHEELS_TXT = os.path.join(HERE, "wheels.txt")

# Debian 12 has glibc 2.36: every manylinux tag up to 2_36 installs there.
MANYLINUX = ["manylinux_2_%d_x86_64" % m
             for m in (36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24,
                       17, 12, 5)]
MANYLINUX += ["manylinux2014_x86_64", "manylinux2010_x86_64",
              "manylinux1_x86_64"]

# pip settings that would make the lock depend on this machine.
DROP_ENV = ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
            "PIP_NO_INDEX", "PIP_CONSTRAINT", "PIP_REQUIREMENT",
            "PIP_PREFER_BINARY", "PIP_NO_BINARY", "PIP_ONLY_BINARY",
            "PIP_PLATFORM", "PIP_PYTHON_VERSION", "PIP_IMPLEMENTATION",
            "PIP_ABI", "PIP_TARGET", "PIP_USER", "PIP_REQUIRE_HASHES")


def load_corpus():
    ns = {"__name__": "corpus", "__file__": os.path.join(HERE, "corpus.py")}
    with open(ns["__file__"]) as f:
        exec(compile(f.read(), ns["__file__"], "exec"), ns)
    return ns


def canon(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(ns):
    reqs = []
    for w in ns["WHEELS"]:
        extras = "[%s]" % ",".join(w["extras"]) if w.get("extras") else ""
        reqs.append("%s%s==%s" % (w["name"], extras, w["version"]))
        reqs.extend(w.get("requires", ()))
    reqs.append("pip==%s" % ns["PIP_VERSION"])
    names = [canon(re.split(r"[\[=<>!~ ]", r, 1)[0]) for r in reqs]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        sys.exit("lock.py: corpus names a project twice: %s" % ", ".join(dups))
    return reqs


def pip_env():
    env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONUTF8"] = "1"
    return env


def download(python, reqs, dest):
    os.makedirs(dest, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(reqs) + "\n")
        req_file = f.name
    cmd = [python, "-m", "pip", "download", "--only-binary=:all:",
           "--python-version", "3.11", "--implementation", "cp",
           "--abi", "cp311", "--progress-bar", "off", "-d", dest,
           "-r", req_file]
    for p in MANYLINUX:
        cmd += ["--platform", p]
    print("lock.py: resolving %d requirements with pip download into %s"
          % (len(reqs), dest), file=sys.stderr)
    try:
        proc = subprocess.run(cmd, env=pip_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    finally:
        os.unlink(req_file)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout)
        sys.exit("lock.py: pip download failed (exit %d)" % proc.returncode)
    # pip says, for each distribution of the resolution, either
    # "Saved <path>" or "File was already downloaded <path>".
    files = set()
    for line in proc.stdout.splitlines():
        m = re.match(r"\s*(?:Saved|File was already downloaded)\s+(\S+\.whl)\s*$",
                     line)
        if m:
            files.add(os.path.join(dest, os.path.basename(m.group(1))))
    if not files:
        sys.stderr.write(proc.stdout)
        sys.exit("lock.py: found no downloaded wheel in pip's output")
    return sorted(files)


WHEEL_RE = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?"
                      r"-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$")


def describe(path):
    m = WHEEL_RE.match(os.path.basename(path))
    if not m:
        sys.exit("lock.py: not a wheel name: %s" % path)
    py, abi, plat = m.group("py"), m.group("abi"), m.group("plat")
    ok_plat = plat == "any" or all(
        p in MANYLINUX for p in plat.split("."))
    ok_abi = (abi in ("cp311", "abi3", "none")
              and any(t in ("cp311", "py3", "py2.py3") or t.startswith("cp3")
                      for t in py.split(".")))
    if not (ok_plat and ok_abi):
        sys.exit("lock.py: unexpected wheel tags: %s" % path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return canon(m.group("name")), m.group("version"), h.hexdigest(), path


def render(ns, rows, python):
    corpus = {canon(w["name"]) for w in ns["WHEELS"]}
    for w in ns["WHEELS"]:
        corpus.update(canon(r.split("==")[0]) for r in w.get("requires", ()))
    total = sum(os.path.getsize(r[3]) for r in rows)
    out = [
        "# Immortal CPython's PyPI binary-wheel corpus: every distribution it",
        "# installs (the corpus of Tools/immortal/corpus/corpus.py and all of",
        "# their dependencies), pinned, with the sha256 of the cp311 manylinux",
        "# x86_64 wheel (or the py3-none-any wheel of a pure-Python one).",
        "#",
        "# Generated by Tools/immortal/corpus/lock.py: do not edit by hand; edit",
        "# corpus.py and run it again. It ran, from PyPI only",
        "# (PIP_CONFIG_FILE=%s, no PIP_FIND_LINKS):" % os.devnull,
        "#   %s -m pip download --only-binary=:all: --python-version 3.11"
        % os.path.basename(python),
        "#     --implementation cp --abi cp311 --platform manylinux_2_36_x86_64",
        "#     ... --platform manylinux1_x86_64 -r <corpus requirements>",
        "# %d wheels, %.1f MB in all." % (len(rows), total / 1e6),
        "#",
        "# Fill a directory, then install offline:",
        "#   pip download --only-binary=:all: --require-hashes -r wheels.txt -d DIR",
        "#   pip install --no-index --find-links DIR --require-hashes \\",
        "#       --only-binary=:all: -r wheels.txt",
        "#",
        "# pip itself is pinned too (py3-none-any), so a venv of CPython 3.11.2",
        "# (bundled pip 22.3.1) can upgrade pip offline first:",
        "#   grep -A1 '^pip==' wheels.txt > pip.txt   # pip==%s and its hash"
        % ns["PIP_VERSION"],
        "#   python -m pip install --no-index --find-links DIR --require-hashes \\",
        "#       --only-binary=:all: -r pip.txt",
        "# (installing all of wheels.txt also upgrades it).",
        "# Lines marked '# dependency' are not corpus entries themselves.",
        "",
    ]
    for name, version, digest, _ in sorted(rows):
        note = "" if name in corpus else "  # dependency"
        if name == "pip":
            note = "  # the installer itself"
        out.append("%s==%s \\\n    --hash=sha256:%s%s" % (name, version, digest, note))
    return "\n".join(out) + "\n"


def parse_lock_args(doc, lockfile):
    """The options of a lock script (this one, servers/realapp/lock.py):
    --dest, --python, --check."""
    default_cache = os.path.join(
        os.environ.get("IMMORTAL_CACHE_DIR")
        or os.path.join(os.path.expanduser("~"), ".cache", "immortal-cpython"),
        "wheels")
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--dest", default=default_cache,
                    help="download directory (default: %(default)s)")
    ap.add_argument("--python", default=sys.executable,
                    help="the Python whose pip resolves (default: this one)")
    ap.add_argument("--check", action="store_true",
                    help="fail if %s is not what the lock gives" % lockfile)
    return ap.parse_args()


def main():
    args = parse_lock_args(__doc__, "wheels.txt")

    ns = load_corpus()
    reqs = requirements(ns)
    files = download(args.python, reqs, args.dest)
    rows = [describe(p) for p in files]
    seen = {}
    for r in rows:
        if r[0] in seen:
            sys.exit("lock.py: two wheels for %s: %s, %s" % (r[0], seen[r[0]], r[3]))
        seen[r[0]] = r[3]
    for w in ns["WHEELS"]:
        n = canon(w["name"])
        if n not in seen:
            sys.exit("lock.py: %s was not downloaded" % w["name"])
        got = [r[1] for r in rows if r[0] == n][0]
        if got != w["version"]:
            sys.exit("lock.py: %s: corpus says %s, pip got %s"
                     % (w["name"], w["version"], got))
    text = render(ns, rows, args.python)
    if args.check:
        with open(WHEELS_TXT) as f:
            old = f.read()
        if old != text:
            sys.exit("lock.py: wheels.txt is out of date; run lock.py")
        print("lock.py: wheels.txt is up to date (%d wheels)" % len(rows))
        return
    with open(WHEELS_TXT, "w") as f:
        f.write(text)
    print("lock.py: wrote %s: %d wheels, %.1f MB"
          % (WHEELS_TXT, len(rows), sum(os.path.getsize(r[3]) for r in rows) / 1e6))


if __name__ == "__main__":
    main()
