"""The write detector: sys._immortal_detect_writes() in a forked worker
write-protects the master's sealed arenas and reports each page's first
write, with the object written and the C and Python stacks.

Each test runs in a fresh interpreter that immortalizes its heap and forks.
"""

import os
import sys
import tempfile
import textwrap
import unittest
from test import support
from test.support import script_helper, import_helper

if not hasattr(sys, "immortalize_heap"):
    raise unittest.SkipTest("needs Immortal CPython")
if not sys.platform.startswith("linux"):
    raise unittest.SkipTest("the detector is written for Linux")
if not support.with_pymalloc():
    raise unittest.SkipTest("the detector protects pymalloc's sealed "
                            "arenas: a build without pymalloc (as ASan "
                            "builds are) has none")


# Runs child() in a forked worker; what it prints comes back on stdout,
# the detector's reports on stderr.
FORK = """
import os, sys
def in_worker(child):
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            child()
            sys.stdout.flush()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
"""


def run(code, **env):
    res = script_helper.assert_python_ok(
        "-X", "faulthandler", "-c", FORK + textwrap.dedent(code), **env)
    return res.out.decode(), res.err.decode()




class DetectorTest(unittest.TestCase):

    def test_planted_write_is_reported(self):
        out, err = run("""
            import ctypes
            victim = [1, 2, 3]
            data = bytearray(b"master's bytes")
            sys.immortalize_heap()
            def plant():
                # Rewrite the list's ob_size with the value it has.
                ctypes.c_ssize_t.from_address(id(victim) + 16).value = 3
            def mutate():
                data[0] = ord("M")
            def child():
                print(sys._immortal_detect_writes() > 0)
                plant()
                mutate()
                writes = sys._immortal_detected_writes()
                print((id(victim) + 16, "list", True) in writes)
                print(any(t is None for a, t, i in writes))
                print(victim, bytes(data))
            in_worker(child)
        """)
        self.assertEqual(out.split("\n")[:4], [
            "True", "True", "True", "[1, 2, 3] b\"Master's bytes\""])
        # The report: the object, the C stack, the Python stack.
        self.assertIn("in immortal list object at 0x%016x (+16)"
                      % self._id_from(err), err)
        self.assertIn("C stack:\n", err)
        self.assertRegex(err, r"python\S*\(\S+\+0x[0-9a-f]+\)")
        self.assertRegex(err, r'line \d+ in plant')
        self.assertRegex(err, r'line \d+ in mutate')

    @staticmethod
    def _id_from(err):
        import re
        m = re.search(r"in immortal list object at 0x([0-9a-f]+) \(\+16\)",
                      err)
        return int(m.group(1), 16) if m else -1

    def test_silent_on_fixed_shapes(self):
        # What used to write on use (str keys' refcounts, warm classes'
        # shared keys, long str hashes, UTF-8 forms, lru_cache links, names
        # held by the method cache, a full lru_cache evicting) writes
        # nothing in the worker. The writes left are an lru_cache wrapper's
        # hit counter and a full cache's dict taking the worker's entries.
        out, err = run("""
            import functools, _testcapi
            d = {"key-%d" % i: i for i in range(20000)}
            def init(self):
                self.a = 1; self.b = "x"
            classes = [type("C%d" % i, (), {"__init__": init,
                                            "m": lambda self: self.a})
                       for i in range(500)]
            warm = [C() for C in classes]
            text = [("lorem ipsum %d " % i) * 10 for i in range(1000)]
            accented = ["Crème brûlée n°%d" % i for i in range(1000)]
            @functools.lru_cache(maxsize=4096)
            def f(i):
                return [i]
            for i in range(1000):
                f(i)
            @functools.lru_cache(maxsize=256)
            def g(i):
                return [i]
            for i in range(256):
                g(i)                                # full: the next miss evicts
            for i in range(300):
                getattr(warm[0], "a%d" % i, None)   # names only the cache holds
            def reads():
                n = 0
                for k in d:
                    n += len(k) + d[k]
                for C in classes:
                    o = C()
                    n += o.m() + len(o.__dict__)
                for s in text:
                    n += hash(s) & 1
                for s in accented:
                    n += _testcapi.unicode_asutf8andsize(s)[1]
                for i in range(1000):
                    n += len(f(i))
                for i in range(1000, 1600):
                    n += len(g(i))                  # evictions
                for i in range(256):
                    n += len(g(i))                  # the master's: still hits
                for i in range(300):
                    getattr(warm[1], "b%d" % i, None)   # replaces entries
                return n
            def child():
                sys._immortal_detect_writes()
                start = len(sys._immortal_detected_writes())
                reads()
                reads()
                writes = sys._immortal_detected_writes()[start:]
                print(sorted({(t, i) for a, t, i in writes}))
                info = g.cache_info()
                assert info.hits == 512 and info.currsize == 512, info
            # After the functions: objects the master makes after the call
            # are mortal, and a collection in the worker writes theirs.
            sys.immortalize_heap()
            in_worker(child)
        """)
        # The full cache's dict takes the worker's entries: its header is
        # written (its table, grown, is new memory).
        self.assertEqual(out.strip(),
                         "[('dict', True), ('functools._lru_cache_wrapper', "
                         "True)]", err)

    def test_environment_arms_every_worker(self):
        with tempfile.TemporaryDirectory() as tmp:
            prefix = os.path.join(tmp, "writes")
            out, err = run("""
                victim = bytearray(b"0123456789")
                sys.immortalize_heap()
                def child():
                    victim[0] = 0x41
                    print(os.getpid(), len(sys._immortal_detected_writes()))
                in_worker(child)
            """, PYTHONIMMORTALDETECT=prefix)
            pid, n = out.split()
            self.assertGreaterEqual(int(n), 1)
            with open("%s.%s" % (prefix, pid)) as f:
                report = f.read()
            self.assertIn("immortal write detector: pid %s wrote to" % pid,
                          report)
            self.assertRegex(report, r"line \d+ in child")

    def test_fault_in_a_worker_of_a_worker_still_crashes(self):
        # A child forked from an armed worker inherits the handler; a fault
        # that is not the detector's still reaches the default handler
        # instead of looping in the detector's.
        with tempfile.TemporaryDirectory() as tmp:
            out, err = run("""
                import ctypes, signal
                sys.immortalize_heap()
                def child():
                    pid = os.fork()
                    if pid == 0:
                        ctypes.string_at(0)
                        os._exit(0)
                    _, status = os.waitpid(pid, 0)
                    print(os.WIFSIGNALED(status) and
                          os.WTERMSIG(status) == signal.SIGSEGV)
                in_worker(child)
            """, PYTHONIMMORTALDETECT=os.path.join(tmp, "w"))
        self.assertEqual(out.strip(), "True")

    def test_only_in_a_worker(self):
        out, err = run("""
            import sys
            try:
                sys._immortal_detect_writes()
            except RuntimeError as e:
                print("RuntimeError", e)
            sys.immortalize_heap()
            try:
                sys._immortal_detect_writes()       # the master itself
            except RuntimeError as e:
                print("RuntimeError")
            try:
                sys._immortal_detect_writes(-1)
            except ValueError as e:
                print("ValueError")
        """)
        lines = out.strip().split("\n")
        self.assertTrue(lines[0].startswith("RuntimeError "
                                            "_immortal_detect_writes() "))
        self.assertEqual(lines[1:], ["RuntimeError", "ValueError"])

    def test_a_fault_elsewhere_still_crashes(self):
        # Not the heap's memory: the previous handler (faulthandler's)
        # reports it and the process dies, as without the detector.
        rc, out, err = script_helper.assert_python_failure(
            "-X", "faulthandler", "-c", FORK + textwrap.dedent("""
            import ctypes
            sys.immortalize_heap()
            def child():
                sys._immortal_detect_writes()
                ctypes.string_at(0)
            pid = os.fork()
            if pid == 0:
                child()
            _, status = os.waitpid(pid, 0)
            sys.exit(3 if os.WIFSIGNALED(status) else 0)
        """))
        self.assertEqual(rc, 3, err)
        self.assertIn(b"Fatal Python error: Segmentation fault", err)


if __name__ == "__main__":
    unittest.main()
