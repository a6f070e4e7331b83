"""Tools/immortal/privmap.py: a forked worker's private pages, attributed.

A master builds a heap, calls sys.immortalize_heap() and forks a worker
that plants two writes (a float's value, rewritten through ctypes, in a
pymalloc arena; an item of a 2,000-item list, whose array is a malloc
chunk in glibc's heap) and allocates new objects, then waits. privmap,
pointed at the worker, must report both planted pages as copied, name the
float object and the offset written and the list's array as a non-object
buffer, count the new objects, and find the big dict the worker never
touched shared. The tool reads /proc/PID/pagemap: the tests skip where
physical frame numbers read as 0 (not root).
"""

import json
import os
import struct
import subprocess
import sys
import textwrap
import unittest
from test import support


def find_tool():
    # make test sets IMMORTAL_SERVERS_DIR=.../Tools/immortal/servers;
    # otherwise look up from this file and from the interpreter (the dev
    # tree and the build directories are inside the repository).
    servers = os.environ.get("IMMORTAL_SERVERS_DIR", "")
    candidates = []
    if servers:
        candidates.append(os.path.join(os.path.dirname(servers),
                                       "privmap.py"))
    for start in (os.path.abspath(__file__), os.path.abspath(sys.executable)):
        d = os.path.dirname(start)
        while True:
            candidates.append(os.path.join(d, "Tools", "immortal",
                                           "privmap.py"))
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
    return next((c for c in candidates if os.path.exists(c)), None)


def pfns_readable():
    try:
        buf = bytearray(b"x" * 8192)
        addr = (id(buf) & ~4095)    # the object's page, surely present
        with open("/proc/self/pagemap", "rb") as f:
            f.seek(addr // 4096 * 8)
            entry, = struct.unpack("<Q", f.read(8))
    except OSError:
        return False
    return bool(entry >> 63) and bool(entry & ((1 << 55) - 1))


TOOL = find_tool()

MASTER = """
import ctypes, json, os, sys
floats = [float(i) + 0.5 for i in range(20000)]
items = list(range(100, 2100))        # its array: 16,000 bytes of malloc
big = {"key %d" % i: "value %d " % i * 3 for i in range(50000)}
sys.immortalize_heap()
pid = os.fork()
if pid == 0:
    victim = floats[10000]
    ctypes.c_double.from_address(id(victim) + 16).value = -1.0
    items[10] = None                  # the array's word, no object's
    fresh = ["fresh string %d" % i for i in range(20000)]
    array = ctypes.c_void_p.from_address(id(items) + 24).value
    keys = ctypes.c_void_p.from_address(id(big) + 32).value
    values = list(big.values())
    print(json.dumps({
        "pid": os.getpid(), "float": id(victim), "item": array + 10 * 8,
        "untouched": [id(v) for v in values[::2500]] + [id(big), keys + 65536],
    }), flush=True)
    os.read(0, 1)                     # wait for the test to be done
    os._exit(0)
os.waitpid(pid, 0)
"""


@unittest.skipUnless(sys.platform.startswith("linux"), "reads /proc")
@unittest.skipIf(support.check_sanitizer(address=True),
                 "AddressSanitizer's shadow memory maps terabytes: reading "
                 "their pagemap takes hours")
@unittest.skipUnless(hasattr(sys, "immortalize_heap"),
                     "needs Immortal CPython")
@unittest.skipUnless(TOOL, "Tools/immortal/privmap.py not found "
                     "(make test sets IMMORTAL_SERVERS_DIR)")
@unittest.skipUnless(pfns_readable(), "/proc/PID/pagemap gives no physical "
                     "frame numbers (needs root)")
@support.requires_subprocess()
class PrivmapTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.master = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-c",
             textwrap.dedent(MASTER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = cls.master.stdout.readline()
        if not line:
            cls.master.wait()
            raise AssertionError("the master printed nothing (rc %s)"
                                 % cls.master.returncode)
        cls.info = json.loads(line)

    @classmethod
    def tearDownClass(cls):
        cls.master.stdin.close()
        cls.master.stdout.close()
        cls.master.wait(60)

    def privmap(self, python, *args):
        info = self.info
        addrs = [info["float"], info["item"]] + info["untouched"]
        cmd = [python, TOOL, str(info["pid"])]
        for a in addrs:
            cmd += ["--addr", hex(a)]
        res = subprocess.run(cmd + list(args), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        return res.stdout.decode()

    def report(self, python=sys.executable):
        res = json.loads(self.privmap(python, "--json", "--top", "0"))
        self.assertEqual(res["master"], self.master.pid)
        return res, {int(a["addr"], 16): a for a in res["addresses"]}

    def check(self, res, addrs):
        info = self.info
        # The float: a copied page in a pymalloc arena, the word written
        # being the float object's ob_fval (+16), -1.0 in the worker.
        f = addrs[info["float"]]
        self.assertEqual(f["status"], "copied", f)
        self.assertEqual(f["category"], "pymalloc arenas", f)
        self.assertEqual(f["object"]["type"], "float", f)
        self.assertEqual(f["object"]["offset"], 0, f)
        self.assertTrue(f["object"]["immortal"], f)
        hit = [c for c in f["changed_words"]
               if int(c["addr"], 16) == info["float"] + 16]
        self.assertEqual(len(hit), 1, f)
        self.assertEqual(hit[0]["what"], "immortal float object +16")
        self.assertEqual(int(hit[0]["worker"], 16),
                         struct.unpack("<Q", struct.pack("<d", -1.0))[0])
        self.assertIn("immortal float object +16",
                      [w["what"] for w in res["writes"]])
        # The list item: a copied page of glibc's heap, the word in a
        # chunk in use that holds no object (an array of object pointers).
        it = addrs[info["item"]]
        self.assertEqual(it["status"], "copied", it)
        self.assertEqual(it["category"], "glibc heap [heap]", it)
        hit = [c for c in it["changed_words"]
               if int(c["addr"], 16) == info["item"]]
        self.assertEqual(len(hit), 1, it)
        self.assertIn("object pointer array (chunk of 16016 B, in use",
                      hit[0]["what"])
        # The big dict, its strings and its keys table: not touched.
        for a in info["untouched"]:
            self.assertEqual(addrs[a]["status"], "shared", addrs[a])
        # The new strings: new pages of pymalloc arenas.
        cats = res["categories"]
        self.assertGreater(cats["pymalloc arenas"]["copied_kib"], 0)
        self.assertGreater(cats["pymalloc arenas"]["new_kib"], 1000)
        strs = [t for t in res["types"] if t["type"] == "str"
                and t["category"] == "pymalloc arenas" and not t["immortal"]]
        self.assertEqual(len(strs), 1, res["types"])
        self.assertGreater(strs[0]["new_kib"], 1000)
        self.assertGreaterEqual(strs[0]["objects"], 20000)
        # A read-only worker copies little: the plants, glibc's and
        # ctypes's bookkeeping, the stack.
        self.assertLess(res["copied_kib"], 2048, res["categories"])
        total = sum(v["copied_kib"] + v["new_kib"] for v in cats.values())
        self.assertAlmostEqual(total, res["private_kib"], delta=1)

    def test_planted_writes(self):
        res, addrs = self.report()
        self.check(res, addrs)

    def test_text_output(self):
        out = self.privmap(sys.executable)
        self.assertIn("private pages by allocator", out)
        self.assertIn("address 0x%x: copied, pymalloc arenas"
                      % self.info["float"], out)
        self.assertIn("in immortal float object at 0x%x (+0)"
                      % self.info["float"], out)
        self.assertIn("immortal float object +16", out)

    @unittest.skipUnless(os.path.exists(
        os.environ.get("IMMORTAL_STOCK_PYTHON", "")),
        "IMMORTAL_STOCK_PYTHON (make test sets it)")
    def test_under_stock_python(self):
        # The tool is independent of the interpreter it runs under.
        res, addrs = self.report(os.environ["IMMORTAL_STOCK_PYTHON"])
        self.check(res, addrs)


if __name__ == "__main__":
    unittest.main()
