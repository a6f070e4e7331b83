"""Binary extensions built for stock 3.11 (Debian's python3-* packages) on
the fork: each imports and passes a smoke test before and after
sys.immortalize_heap(), and in a worker forked afterwards.

Their compiled code uses stock 3.11's Py_INCREF/Py_DECREF (a plain
ob_refcnt++/--): immortal objects must survive that, and the objects these
extensions create and keep in the heap must survive being made immortal.
A package that is not installed is skipped, naming the Debian package.
"""

import json
import os
import sys
import textwrap
import unittest
from test.support import script_helper

DIST_PACKAGES = "/usr/lib/python3/dist-packages"

# Debian package -> (module to import, smoke test: an expression that must
# be true, run with the module imported).
CORPUS = {
    "python3-numpy": ("numpy", "numpy.arange(12).reshape(3, 4).sum() == 66"
                      " and float(numpy.array(HEAP['floats']).mean()) > 0"),
    "python3-lxml": ("lxml.etree", "lxml.etree.fromstring(b'<a><b>x</b><b>y"
                     "</b></a>').xpath('count(//b)') == 2"),
    "python3-yaml": ("yaml", "yaml.load(yaml.dump(HEAP['records'][:50], "
                     "Dumper=yaml.CSafeDumper), Loader=yaml.CSafeLoader)"
                     " == HEAP['records'][:50]"),
    "python3-psutil": ("psutil", "psutil.Process().memory_info().rss > 0"),
    "python3-markupsafe": ("markupsafe", "str(markupsafe.escape('<a&>')) =="
                           " '&lt;a&amp;&gt;'"),
    "python3-cryptography": (
        "cryptography.hazmat.primitives.hashes",
        "len(__import__('hashlib').sha256(b'x').digest()) == 32 and "
        "(lambda h: (h.update(b'abc'), len(h.finalize()))[1])("
        "cryptography.hazmat.primitives.hashes.Hash("
        "cryptography.hazmat.primitives.hashes.SHA256())) == 32"),
    "python3-msgpack": ("msgpack", "msgpack.unpackb(msgpack.packb("
                        "HEAP['records'])) == HEAP['records']"),
    "python3-simplejson": ("simplejson", "simplejson.loads(simplejson.dumps("
                           "HEAP['records'])) == HEAP['records']"),
    "python3-regex": ("regex", "regex.findall(r'\\p{L}+', 'h\\u00e9llo "
                      "w\\u00f6rld') == ['h\\u00e9llo', 'w\\u00f6rld']"),
    "python3-pil": ("PIL.Image", "len(PIL.Image.new('RGB', (8, 8), 'red')"
                    ".resize((4, 4)).tobytes()) == 48"),
    "python3-ujson": ("ujson", "ujson.loads(ujson.dumps(HEAP['records'])) =="
                      " HEAP['records']"),
    "python3-bcrypt": ("bcrypt", "bcrypt.checkpw(b'pw', bcrypt.hashpw(b'pw',"
                       " bcrypt.gensalt(4)))"),
}

SCRIPT = """
import importlib, json, os, sys
CORPUS = json.loads(sys.argv[1])
HEAP = {
    "records": [{"id": i, "name": "n%d" % i, "tags": ["a", "b"],
                 "score": i / 3} for i in range(500)],
    "floats": [i * 0.5 for i in range(1, 1000)],
}
results = {pkg: {} for pkg in CORPUS}
modules = {}
for pkg, (name, check) in CORPUS.items():
    try:
        modules[pkg] = importlib.import_module(name)
    except ImportError as e:
        results[pkg]["import"] = "missing: %s" % e

def smoke(phase):
    for pkg, (name, check) in CORPUS.items():
        if pkg not in modules:
            continue
        top = name.split(".")[0]
        try:
            ok = eval(check, {top: sys.modules[top], "HEAP": HEAP,
                              "__import__": __import__})
            results[pkg][phase] = "ok" if ok else "wrong result"
        except Exception as e:
            results[pkg][phase] = "%s: %s" % (type(e).__name__, e)

smoke("before")
# Objects the extensions made, kept in the heap, become immortal too.
HEAP["made"] = [getattr(m, "__dict__", None) for m in modules.values()]
stats = sys.immortalize_heap()
smoke("after")
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    smoke("worker")
    os.write(w, json.dumps({k: v.get("worker") for k, v in results.items()}).encode())
    os._exit(0)
os.close(w)
child = json.loads(os.read(r, 1 << 20).decode())
os.waitpid(pid, 0)
for pkg, v in child.items():
    if v is not None:
        results[pkg]["worker"] = v
print(json.dumps(results))
"""


@unittest.skipUnless(hasattr(sys, "immortalize_heap") and hasattr(os, "fork"),
                     "needs Immortal CPython and os.fork()")
@unittest.skipUnless(os.path.isdir(DIST_PACKAGES),
                     f"needs Debian's {DIST_PACKAGES}")
class CorpusTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        env = {"PYTHONPATH": DIST_PACKAGES}
        res = script_helper.assert_python_ok(
            "-c", textwrap.dedent(SCRIPT), json.dumps(CORPUS), **env)
        cls.results = json.loads(res.out.decode().strip().splitlines()[-1])

    def test_corpus(self):
        for pkg in CORPUS:
            with self.subTest(package=pkg):
                r = self.results[pkg]
                if "import" in r:
                    self.skipTest(f"{pkg} is not installed "
                                  f"(Tools/immortal/deps.sh installs it): "
                                  f"{r['import']}")
                self.assertEqual(r, {"before": "ok", "after": "ok",
                                     "worker": "ok"})


if __name__ == "__main__":
    unittest.main()
