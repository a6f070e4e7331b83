"""PyPI's binary wheels, built for stock 3.11, on the fork and its twin.

The corpus (Tools/immortal/corpus/ of the Immortal CPython repository:
corpus.py names the projects and their smoke tests, wheels.txt pins every
wheel with its hash) is installed with each interpreter's own pip into a
venv of its own; each project then runs its smoke test in a process of its
own before sys.immortalize_heap() (the stock twin: gc.freeze()), after it,
and in a forked worker. `make test` says where the corpus is
(IMMORTAL_CORPUS_DIR) and names the stock twin (IMMORTAL_STOCK_PYTHON).

The wheels are downloaded once into a cache (~/.cache/immortal-cpython/
wheels, or $IMMORTAL_CACHE_DIR/wheels); later runs are offline. Without
PyPI and without the cache the test skips, saying so in one line, except
under CI (CI=true), which reaches PyPI: there it fails.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

from test import support
from test.support import import_helper

CORPUS_DIR = os.environ.get("IMMORTAL_CORPUS_DIR", "")
STOCK_PYTHON = os.environ.get("IMMORTAL_STOCK_PYTHON", "")


@unittest.skipUnless(hasattr(sys, "immortalize_heap") and hasattr(os, "fork"),
                     "needs Immortal CPython and os.fork()")
@unittest.skipUnless(CORPUS_DIR and STOCK_PYTHON,
                     "IMMORTAL_CORPUS_DIR and IMMORTAL_STOCK_PYTHON are not "
                     "set; `make test` sets them")
@support.requires_subprocess()
class WheelCorpusTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with import_helper.DirsOnSysPath(CORPUS_DIR):
            import corpus
        cls.projects = [e["name"] for e in corpus.WHEELS]
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "results.json")
            proc = subprocess.run(
                [sys.executable, os.path.join(CORPUS_DIR, "run.py"),
                 "--python", f"fork={sys.executable}",
                 "--python", f"stock={STOCK_PYTHON}", "--json", out],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            cls.output = proc.stdout
            if proc.returncode == 2:
                line = proc.stdout.strip().splitlines()[-1]
                if os.environ.get("CI"):
                    raise AssertionError(line)
                raise unittest.SkipTest(line)
            if not os.path.exists(out):
                raise AssertionError("the corpus driver failed:\n" +
                                     proc.stdout[-4000:])
            with open(out) as f:
                cls.results = json.load(f)["results"]

    def check(self, label):
        for name in self.projects:
            with self.subTest(interpreter=label, project=name):
                r = self.results[label][name]
                self.assertEqual(
                    {p: r.get(p) for p in ("before", "after", "worker")},
                    {"before": "ok", "after": "ok", "worker": "ok"})

    def test_stock_twin(self):
        # The smoke tests themselves are sound: they pass on stock 3.11.2
        # with gc.freeze().
        self.check("stock")

    def test_fork(self):
        # No abort, no crash, no wrong result before and after
        # sys.immortalize_heap() and in a forked worker.
        self.check("fork")
        for name in self.projects:
            with self.subTest(project=name):
                self.assertTrue(self.results["fork"][name]["event"]
                                .startswith("immortalize_heap: "))
                # The auditor (Lib/immortal_audit.py), right after the
                # call: no mortal object that an immortal one holds.
                self.assertEqual(self.results["fork"][name]["audit"], [])


CHECK = r"""
import os, struct, sys
import ujson
DATA = [{"id": i, "name": "user-%d" % i, "tags": ["t%d" % i, "b"]}
        for i in range(20000)]
sys.immortalize_heap()
PAGE = os.sysconf("SC_PAGE_SIZE")
def written(o):
    # Has this process written to the page of o's header since the fork?
    # pagemap's "exclusively mapped" bit (56): a read never sets it.
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(id(o) // PAGE * 8)
        entry, = struct.unpack("Q", f.read(8))
    return entry >> 56 & 1
sample = [d["name"] for d in DATA[::10]]
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    before = sum(map(written, sample))
    for i in range(0, len(DATA), 1000):
        ujson.dumps(DATA[i:i + 1000])
    assert ujson.loads(ujson.dumps(DATA[:3])) == DATA[:3]
    os.write(w, b"%d %d %d" % (before, sum(map(written, sample)), len(sample)))
    os._exit(0)
os.close(w)
print(os.read(r, 100).decode())
os.waitpid(pid, 0)
"""


@unittest.skipUnless(hasattr(sys, "immortalize_heap") and hasattr(os, "fork"),
                     "needs Immortal CPython and os.fork()")
@unittest.skipUnless(CORPUS_DIR, "IMMORTAL_CORPUS_DIR is not set; "
                     "`make test` sets it")
@unittest.skipUnless(os.path.exists("/proc/self/pagemap"), "needs Linux")
@support.requires_subprocess()
class WheelRebuildTest(unittest.TestCase):
    """The remedy for serializers built for stock 3.11: `python -m
    immortal_rebuild` rebuilds them from their sdist (from PyPI) against
    the fork's headers, after which serializing an immortal heap in a
    worker writes none of its pages."""

    def test_rebuilt_serializer_writes_no_immortal_page(self):
        with import_helper.DirsOnSysPath(CORPUS_DIR):   # run.py adds to it too
            import run
        line = [f"{n}=={v} " + " ".join(f"--hash=sha256:{h}" for h in hashes)
                for n, v, hashes in run.pinned() if n == "ujson"][0]
        with tempfile.TemporaryDirectory() as tmp:
            venv = os.path.join(tmp, "venv")
            python = os.path.join(venv, "bin", "python")
            env = run.pip_env(os.path.join(tmp, "pip-cache"))
            subprocess.run([sys.executable, "-m", "venv", venv], check=True,
                           env=env)
            req = os.path.join(tmp, "req.txt")
            with open(req, "w") as f:
                f.write(line + "\n")
            proc = subprocess.run(
                [python, "-m", "pip", "install", "-q", "--no-index",
                 "--find-links", run.CACHE, "--require-hashes", "-r", req],
                env=env, capture_output=True, text=True)
            if proc.returncode:
                msg = ("the ujson wheel is not in the corpus cache "
                       f"({run.CACHE}): run test_immortal_wheels' corpus "
                       "first")
                if os.environ.get("CI"):
                    self.fail(msg + "\n" + proc.stderr)
                self.skipTest(msg)

            def written():
                out = subprocess.run([python, "-c", CHECK], env=env,
                                     check=True, capture_output=True,
                                     text=True).stdout.split()
                return [int(x) for x in out]

            before, wheel, n = written()
            self.assertEqual(before, 0)
            # The wheel from PyPI writes the refcount of what it walks:
            # the measurement sees it.
            self.assertGreater(wheel, n // 2)

            proc = subprocess.run([python, "-m", "immortal_rebuild", "ujson"],
                                  env=env, capture_output=True, text=True)
            if proc.returncode:
                msg = ("immortal_rebuild could not rebuild ujson from its "
                       "sdist (needs PyPI): " +
                       (proc.stderr.strip().splitlines() or ["?"])[-1])
                if os.environ.get("CI"):
                    self.fail(msg + "\n" + proc.stdout + proc.stderr)
                self.skipTest(msg)
            self.assertIn("1 rebuilt, 0 failed", proc.stdout)
            before, rebuilt, n = written()
            self.assertEqual(before, 0)
            self.assertLessEqual(rebuilt, n // 100)

    def test_rust_extensions_are_left_alone(self):
        import immortal_rebuild
        self.assertEqual(immortal_rebuild.canonical("PyYAML"), "pyyaml")
        with tempfile.TemporaryDirectory() as tmp:
            rust = os.path.join(tmp, "m.cpython-311-x86_64-linux-gnu.so")
            with open(rust, "wb") as f:
                f.write(b"\x7fELF...rustc version 1.90.0...")
            c = os.path.join(tmp, "c.cpython-311-x86_64-linux-gnu.so")
            with open(c, "wb") as f:
                f.write(b"\x7fELF...PyInit_c...")
            self.assertTrue(immortal_rebuild.is_rust(rust))
            self.assertFalse(immortal_rebuild.is_rust(c))


if __name__ == "__main__":
    unittest.main()
