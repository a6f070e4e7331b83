"""A worker's raw allocations (past pymalloc's 512 bytes, and C libraries'
malloc()) never come from its master's memory: a process forked after
sys.immortalize_heap() allocates them with mimalloc, in mappings of its
own, and forgets what it frees of the master's (Python/immortal_alloc.c).

Each test runs in a fresh interpreter that builds a heap, immortalizes it
and forks. PYTHONIMMORTALALLOC=malloc keeps workers on glibc: the same
checks then see the reuse, which shows that they would catch it.
"""

import inspect
import os
import sys
import textwrap
import unittest
from test import support
from test.support import script_helper

if not hasattr(sys, "immortalize_heap"):
    raise unittest.SkipTest("needs Immortal CPython")
if not sys.platform.startswith("linux"):
    raise unittest.SkipTest("the worker allocator is written for Linux")
if support.check_sanitizer(address=True, memory=True):
    # The sanitizer watches malloc()'s blocks: its builds keep workers on
    # malloc(), and under ASan the call refuses mimalloc even when asked
    # (its segments land outside the map that tells its blocks apart).
    raise unittest.SkipTest("a sanitizer build has no worker allocator")


FORK = """
import os, sys
def in_worker(child):
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child()
            sys.stdout.flush()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
"""


def run(code, **env):
    env.setdefault("__cleanenv", True)
    res = script_helper.assert_python_ok(
        "-X", "faulthandler", "-c", FORK + textwrap.dedent(code), **env)
    return res.out.decode(), res.err.decode()


# The fork built with a shared libpython (make servers; make test sets
# IMMORTAL_SERVER_PREFIX): there libpython replaces malloc() and friends.
SHARED_PYTHON = os.path.join(os.environ.get("IMMORTAL_SERVER_PREFIX", "/"),
                             "bin", "python3")


def run_shared(code, **env):
    import subprocess
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("PYTHON")}
    environ.update(env)
    proc = subprocess.run(
        [SHARED_PYTHON, "-X", "faulthandler", "-c",
         FORK + inspect.getsource(malloc_owner) + textwrap.dedent(code)],
        env=environ, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}:\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc.stdout, proc.stderr


needs_shared = unittest.skipUnless(
    os.path.exists(SHARED_PYTHON),
    "needs the fork built with a shared libpython "
    "(make servers; make test sets IMMORTAL_SERVER_PREFIX)")


def malloc_owner():
    """The file whose malloc() this process resolves."""
    import ctypes
    addr = ctypes.cast(ctypes.CDLL(None).malloc, ctypes.c_void_p).value
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if lo <= addr < hi:
                return os.path.basename(fields[-1])


# The master leaves holes in glibc's heap: 4000 buffers of 1-3 KiB of
# which every other one is freed. The worker allocates the same sizes.
# Printed: how many of its new buffers lie inside a range the master's
# buffers (live or freed) had, and how [heap]'s private dirty memory grew.
REUSE = """
    def heap_private_dirty():
        with open("/proc/self/smaps") as f:
            lines = f.read().splitlines()
        for i, line in enumerate(lines):
            if line.endswith("[heap]"):
                for l in lines[i + 1:]:
                    if l.startswith("Private_Dirty:"):
                        return int(l.split()[1])
        return 0

    bufs = [bytes(1000 + (i % 3) * 1000) for i in range(4000)]
    ranges = sorted((id(b), id(b) + len(b) + 33) for b in bufs)
    del bufs[::2]
    stats = sys.immortalize_heap()
    print("allocator", stats.worker_allocator)

    import bisect
    starts = [r[0] for r in ranges]
    def in_master_range(addr):
        i = bisect.bisect_right(starts, addr) - 1
        return i >= 0 and addr < ranges[i][1]

    def child():
        before = heap_private_dirty()
        mine = [bytes(1000 + (i % 3) * 1000) for i in range(4000)]
        reused = sum(in_master_range(id(b)) for b in mine)
        for rnd in range(20):
            churn = [bytearray(3000) for i in range(500)]
            del churn
        print("reused", reused)
        print("heap_growth_kib", heap_private_dirty() - before)
"""


class WorkerAllocatorTest(unittest.TestCase):

    def reuse(self, **env):
        out, err = run(textwrap.dedent(REUSE) + "\nin_worker(child)\n", **env)
        self.assertEqual(err, "")
        return dict(line.split() for line in out.splitlines())

    def test_worker_does_not_reuse_master_memory(self):
        got = self.reuse()
        self.assertEqual(got["allocator"], "mimalloc")
        self.assertEqual(int(got["reused"]), 0)
        # glibc's own bookkeeping may touch a page or two.
        self.assertLess(int(got["heap_growth_kib"]), 64)

    def test_control_malloc_reuses_master_memory(self):
        # The checks above see reuse where it happens.
        got = self.reuse(PYTHONIMMORTALALLOC="malloc")
        self.assertEqual(got["allocator"], "malloc")
        self.assertGreater(int(got["reused"]), 1000)
        self.assertGreater(int(got["heap_growth_kib"]), 1000)

    def test_static_python_keeps_glibc_malloc(self):
        # The static executable replaces no malloc(): it would come before
        # any LD_PRELOAD library, changing processes that never call
        # sys.immortalize_heap().
        import sysconfig
        if sysconfig.get_config_var("Py_ENABLE_SHARED"):
            self.skipTest("a shared libpython")
        self.assertTrue(malloc_owner().startswith("libc.so"),
                        malloc_owner())

    @needs_shared
    def test_c_libraries_malloc_in_worker(self):
        # With a shared libpython, malloc() itself is libpython's: C
        # libraries (SQLite here, libc through ctypes) allocate in the
        # worker's own mappings too.
        code = textwrap.dedent(REUSE) + textwrap.dedent("""
            import ctypes, sqlite3
            libc = ctypes.CDLL(None)
            libc.malloc.restype = ctypes.c_void_p
            libc.malloc.argtypes = [ctypes.c_size_t]
            libc.free.argtypes = [ctypes.c_void_p]
            libc.realloc.restype = ctypes.c_void_p
            libc.realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            master_chunk = libc.malloc(3000)
            ctypes.memset(master_chunk, 7, 3000)
            db = sqlite3.connect(":memory:")
            db.execute("create table t (k integer primary key, v text)")
            db.executemany("insert into t values (?, ?)",
                           ((i, "v" * (i % 500)) for i in range(20000)))
            def child():
                before = heap_private_dirty()
                ptrs = [libc.malloc(1000 + i % 2000) for i in range(3000)]
                reused = sum(in_master_range(p) for p in ptrs)
                for p in ptrs:
                    libc.free(p)
                grown = libc.realloc(master_chunk, 100_000)
                assert ctypes.string_at(grown, 3000) == b"\x07" * 3000
                libc.free(grown)
                for i in range(200):
                    c = sqlite3.connect(":memory:")
                    c.execute("create table u (x)")
                    c.executemany("insert into u values (?)",
                                  ((str(j) * 20,) for j in range(200)))
                    c.close()
                print("reused", reused)
                print("heap_growth_kib", heap_private_dirty() - before)
                # The master's connection works in the worker (its page
                # cache, the master's chunks, is written: not counted).
                n, = db.execute("select count(*) from t where length(v) > 250"
                                ).fetchone()
                assert n == 20000 * 249 // 500, n
            in_worker(child)
        """)
        for alloc in ("mimalloc", "malloc"):
            with self.subTest(alloc=alloc):
                out, err = run_shared(code, PYTHONIMMORTALALLOC=alloc)
                got = dict(line.split() for line in out.splitlines())
                if alloc == "mimalloc":
                    self.assertEqual(int(got["reused"]), 0)
                    self.assertLess(int(got["heap_growth_kib"]), 64)
                else:
                    self.assertGreater(int(got["reused"]), 500)
                    self.assertGreater(int(got["heap_growth_kib"]), 1000)

    @needs_shared
    def test_malloc_interface_in_worker(self):
        # glibc's semantics, kept by the replacement in a worker: errno on
        # failure, alignments, usable sizes, reallocarray overflow.
        out, err = run_shared("""
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            P, S = ctypes.c_void_p, ctypes.c_size_t
            for name, res, args in (
                    ("malloc", P, [S]), ("calloc", P, [S, S]),
                    ("realloc", P, [P, S]), ("free", None, [P]),
                    ("memalign", P, [S, S]), ("aligned_alloc", P, [S, S]),
                    ("valloc", P, [S]), ("pvalloc", P, [S]),
                    ("malloc_usable_size", S, [P]),
                    ("reallocarray", P, [P, S, S])):
                fn = getattr(libc, name)
                fn.restype, fn.argtypes = res, args
            pm = libc.posix_memalign
            pm.restype, pm.argtypes = ctypes.c_int, [ctypes.POINTER(P), S, S]
            assert malloc_owner() == "libpython3.11.so.1.0", malloc_owner()
            sys.immortalize_heap()
            def failed(p):
                e = ctypes.get_errno()
                ctypes.set_errno(0)
                return p is None and e == 12    # ENOMEM
            def child():
                ctypes.set_errno(0)
                assert failed(libc.malloc(2**63))
                assert failed(libc.calloc(2**62, 16))
                assert failed(libc.reallocarray(None, 2**62, 16))
                p = libc.malloc(100)
                assert failed(libc.realloc(p, 2**63))
                libc.free(p)
                assert failed(libc.pvalloc(2**64 - 1))
                for align in (0, 8, 24, 64, 4096, 1 << 21):
                    q = libc.memalign(align, 1000)
                    want = 16 if align < 16 else 1 << (align - 1).bit_length()
                    assert q and q % want == 0, (align, q)
                    assert libc.malloc_usable_size(q) >= 1000
                    libc.free(q)
                box = P()
                assert pm(ctypes.byref(box), 24, 100) == 22     # EINVAL
                assert pm(ctypes.byref(box), 64, 100) == 0
                assert box.value % 64 == 0
                libc.free(box)
                v = libc.valloc(10)
                assert v % 4096 == 0
                libc.free(v)
                print("ok")
            in_worker(child)
        """, PYTHONIMMORTALALLOC="mimalloc")
        self.assertEqual(out.split(), ["ok"], err)

    def test_huge_blocks_in_worker(self):
        # mimalloc's own test does not know blocks of a GiB: they are
        # listed, so that a worker shrinks them in place and frees them.
        out, err = run("""
            sys.immortalize_heap()
            def vm_kib():
                with open("/proc/self/status") as f:
                    for line in f:
                        if line.startswith("VmSize:"):
                            return int(line.split()[1])
            def child():
                n = 2**30 + 2**20
                b = bytearray(n)
                b[0], b[-1] = 1, 2
                del b[2**27:]                   # realloc: a 128 MiB copy
                assert len(b) == 2**27 and b[0] == 1
                del b
                start = vm_kib()
                for i in range(6):
                    b = bytearray(n)
                    b[0] = 3
                    del b
                grown = vm_kib() - start
                assert grown < 2**21, grown     # freed: under 2 GiB kept
                print("ok")
            in_worker(child)
        """)
        self.assertEqual(out.split(), ["ok"], err)

    @needs_shared
    def test_preloaded_allocator_wins_and_is_refused(self):
        # A preloaded malloc() comes before libpython's, as on stock; the
        # call then refuses that mimalloc (its blocks are the master's too).
        lib = "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"
        if not os.path.exists(lib):
            self.skipTest("needs Debian's libmimalloc2.0")
        out, err = run_shared("""
            print(malloc_owner())
            print(sys.immortalize_heap().worker_allocator)
        """, LD_PRELOAD=lib)
        self.assertEqual(out.split(), ["libmimalloc.so.2.0", "malloc"])
        self.assertIn("has loaded it already", err)

    def test_missing_library_warns(self):
        res = script_helper.assert_python_ok(
            "-c", "import sys; print(sys.immortalize_heap().worker_allocator)",
            __cleanenv=True, PYTHONIMMORTALALLOC="/nonexistent/libmimalloc.so")
        self.assertEqual(res.out.decode().strip(), "malloc")
        err = res.err.decode()
        self.assertIn("RuntimeWarning", err)
        self.assertIn("cannot use /nonexistent/libmimalloc.so", err)

    def test_missing_library_error_with_W_error(self):
        res = script_helper.assert_python_failure(
            "-W", "error", "-c", "import sys; sys.immortalize_heap()",
            __cleanenv=True, PYTHONIMMORTALALLOC="/nonexistent/libmimalloc.so")
        self.assertIn("RuntimeWarning: sys.immortalize_heap(): cannot use",
                      res.err.decode())

    def test_master_buffers_in_worker(self):
        # The worker grows, shrinks, frees and reads buffers the master
        # allocated with glibc: realloc copies them, free forgets them.
        out, err = run("""
            import array
            class Held:
                def __del__(self):
                    pass
            big = list(range(5000))
            text = "x" * 100_000
            arr = array.array("q", range(10_000))
            held = Held()
            held.buf = bytearray(b"m" * 50_000)
            held.items = list(range(3000))
            sys.immortalize_heap()
            def child():
                big.extend(range(5000, 20000))
                assert big == list(range(20000))
                del big[100:]
                assert big == list(range(100))
                arr.extend(range(10_000, 20_000))
                assert arr.tolist() == list(range(20_000))
                assert text.count("x") == 100_000
                global held
                buf, items = held.buf, held.items
                buf.extend(b"w" * 100_000)
                assert buf[:50_000] == b"m" * 50_000
                assert buf[50_000:] == b"w" * 100_000
                items.append(-1)
                del held, buf, items
                import gc; gc.collect()
                print("ok")
            in_worker(child)
            assert big == list(range(5000))
            assert len(arr) == 10_000 and held.buf == b"m" * 50_000
            print("master ok")
        """)
        self.assertEqual(out.splitlines(), ["ok", "master ok"])

    def test_master_small_buffers_in_worker(self):
        # Buffers of pymalloc's sizes lie in the arenas the worker sealed,
        # which pymalloc no longer claims (out of its radix tree): realloc
        # copies them out, free forgets them, their pages are not written.
        # On glibc too (PYTHONIMMORTALALLOC=malloc), whose free() would
        # abort on them.
        code = """
            import ctypes, os, struct
            small = [list(range(i, i + 20)) for i in range(300)]
            arrays = [bytearray(b"%03d" % i * 40) for i in range(300)]
            sys.immortalize_heap()
            PTR = ctypes.sizeof(ctypes.c_void_p)
            def items(lst):     # PyListObject.ob_item
                return ctypes.c_void_p.from_address(id(lst) + 3 * PTR).value
            def written(addr):
                page = os.sysconf("SC_PAGE_SIZE")
                with open("/proc/self/pagemap", "rb") as f:
                    f.seek(addr // page * 8)
                    entry, = struct.unpack("Q", f.read(8))
                return bool(entry >> 56 & 1)
            def child():
                old = [items(l) for l in small]
                # Pages the parent wrote since the fork read as exclusive
                # here too: count only what changes.
                before = sum(map(written, old))
                for i, l in enumerate(small):
                    l.extend(range(100))
                    assert l == list(range(i, i + 20)) + list(range(100))
                    del l[5:]
                    assert l == list(range(i, i + 5))
                for i, b in enumerate(arrays):
                    b.extend(b"!" * 300)
                    assert b[:120] == b"%03d" % i * 40 and b[120:] == b"!" * 300
                    del b[10:]
                    assert b == (b"%03d" % i * 40)[:10]
                moved = sum(items(l) != a for l, a in zip(small, old))
                print(moved > 250, sum(map(written, old)) - before)
                import gc; gc.collect()
            in_worker(child)
            assert small[7] == list(range(7, 27))
            assert arrays[7] == b"007" * 40
            print("master ok")
        """
        for allocator in ("mimalloc", "malloc"):
            with self.subTest(allocator=allocator):
                out, err = run(code, PYTHONIMMORTALALLOC=allocator)
                self.assertEqual(out.splitlines(), ["True 0", "master ok"])

    def test_threads_and_grandchild(self):
        out, err = run("""
            import threading
            warm = {i: bytes(700) for i in range(2000)}
            sys.immortalize_heap()
            def work(n, out):
                d = {}
                for r in range(30):
                    d = {i: bytearray(600 + i % 900) for i in range(300)}
                    lst = [str(i) * 50 for i in range(300)]
                    del lst
                out.append(sum(len(v) for v in d.values()))
            def child():
                results = []
                ts = [threading.Thread(target=work, args=(i, results))
                      for i in range(4)]
                for t in ts: t.start()
                for t in ts: t.join()
                assert len(set(results)) == 1, results
                # A worker's own child frees and reallocates the worker's
                # mimalloc blocks and the master's glibc ones.
                grand = {i: bytes(900) for i in range(1000)}
                def grandchild():
                    grand.clear()
                    warm.clear()
                    more = [bytearray(5000) for i in range(1000)]
                    print("grandchild", len(more))
                in_worker(grandchild)
                assert len(grand) == 1000 and len(warm) == 2000
                print("worker", results[0])
            in_worker(child)
        """)
        self.assertIn("grandchild 1000", out)
        self.assertIn("worker", out)

    def test_tracemalloc_in_worker(self):
        out, err = run("""
            import tracemalloc
            sys.immortalize_heap()
            def child():
                tracemalloc.start()
                data = [bytes(4096) for i in range(100)]
                size, peak = tracemalloc.get_traced_memory()
                assert size > 100 * 4096, size
                del data
                tracemalloc.stop()
                print("ok")
            in_worker(child)
        """)
        self.assertEqual(out.split(), ["ok"])

    def test_stdlib_tests_in_worker(self):
        # Some of the regression suite, run in a worker: its containers
        # grow past pymalloc's sizes and shrink again all the time.
        out, err = run("""
            import unittest
            from test import test_dict, test_list, test_set, test_bytes
            from test import test_deque, test_array, test_bigmem
            sys.immortalize_heap()
            def child():
                loader = unittest.TestLoader()
                suite = unittest.TestSuite(
                    loader.loadTestsFromModule(m) for m in
                    (test_dict, test_list, test_set, test_bytes,
                     test_deque, test_array, test_bigmem))
                result = unittest.TextTestRunner(
                    stream=sys.stdout, verbosity=0).run(suite)
                print("run", result.testsRun, "failures",
                      len(result.failures) + len(result.errors))
                assert result.wasSuccessful()
            in_worker(child)
        """)
        self.assertRegex(out, r"run \d+ failures 0")


if __name__ == "__main__":
    unittest.main()
