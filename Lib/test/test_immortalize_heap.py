"""sys.immortalize_heap(): every live object becomes immortal, and stays
untouched by reads, collections and allocations in forked workers.

Each test runs in a fresh interpreter: immortalizing the test runner's own
heap would leak everything it holds.
"""

import os
import sys
import textwrap
import unittest
from test import support
from test.support import script_helper, import_helper

import_helper.import_module("ctypes")   # raw reads of object memory

if not hasattr(sys, "immortalize_heap"):
    raise unittest.SkipTest("needs Immortal CPython")


PRELUDE = """
import ctypes, gc, sys, weakref
GC_HEAD = 2 * ctypes.sizeof(ctypes.c_void_p)
HAVE_GC = 1 << 14
MANAGED_DICT = 1 << 4
def raw(o, size=None):
    # The object's own bytes, and its PyGC_Head's if it is tracked; not
    # a byte of its neighbours, which may be mortal.
    if size is None:
        if isinstance(o, (list, dict, set, frozenset, bytearray, type)):
            size = type(o).__basicsize__     # items in a buffer of their own
                                             # (a type's: its cached keys)
        else:                                # getsizeof() counts the
            flags = type(o).__flags__        # pre-header: GC head, and the
            size = sys.getsizeof(o) - (      # managed dict's two pointers
                (GC_HEAD if flags & HAVE_GC else 0)
                + (GC_HEAD if flags & MANAGED_DICT else 0))
    start = id(o) - (GC_HEAD if gc.is_tracked(o) else 0)
    return ctypes.string_at(start, id(o) + size - start)
def refcnt(o):
    return ctypes.c_ssize_t.from_address(id(o)).value
def written_after_fork(o):
    # Has this process written to the page of o's header since it was
    # forked? Then the page is no longer shared with the parent: Linux's
    # pagemap says "exclusively mapped" (bit 56), which a read never does.
    import os, struct
    page = os.sysconf("SC_PAGE_SIZE")
    addr = id(o) - (GC_HEAD if gc.is_tracked(o) else 0)
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(addr // page * 8)
        entry, = struct.unpack("Q", f.read(8))
    return bool(entry >> 56 & 1)
"""


def run(code):
    """Run PRELUDE and code in a new interpreter; return its stdout,
    stripped."""
    res = script_helper.assert_python_ok(
        "-X", "faulthandler", "-c", PRELUDE + textwrap.dedent(code))
    return res.out.decode().strip()


class ShapesTest(unittest.TestCase):

    def test_every_shape_is_immortal(self):
        out = run("""
            import collections
            class Plain:
                def __init__(self):
                    self.name = "plain-" + str(id(self))
                    self.values = [1.5, 10**20, ("nested", ("deep",))]
            class Slotted:
                __slots__ = ("a",)
                def __init__(self): self.a = "slot-" + "value"
            def outer():
                captured = "cell-" + "content"
                def inner():
                    return captured, "const-" "string"
                return inner
            big_int = 10**30
            a_float = 3.25 * 7
            a_complex = 1 + 2j
            a_str = "".join(["run", "time", "str"])
            a_bytes = b"".join([b"run", b"time"])
            atomic_tuple = ("a" * 10, 12345678, 1.5)
            atomic_dict = {"k" + "ey": "v" + "alue"}
            tracked_list = [Plain(), Slotted(), atomic_tuple]
            frozen = frozenset({"x", "y"})
            a_set = {1000, 2000}
            a_range = range(10**6, 10**7)
            closure = outer()
            a_namedtuple = collections.namedtuple("Point", "x y")(1, 2)
            ba = bytearray(b"bytes")
            def frame_local():
                local = "only-" + "in-a-frame"
                sys.immortalize_heap()
                return sys._is_immortal(local)
            assert gc.collect() == 0 or True
            local_ok = frame_local()
            checks = {
                "module dict": globals(),
                "module": sys.modules[__name__],
                "class": Plain,
                "class dict values": Plain.__init__,
                "instance": tracked_list[0],
                "instance attribute": tracked_list[0].name,
                "list in instance": tracked_list[0].values,
                "float in list": tracked_list[0].values[0],
                "nested tuple": tracked_list[0].values[2][1],
                "slotted instance": tracked_list[1],
                "slot value": tracked_list[1].a,
                "big int": big_int,
                "float": a_float,
                "complex": a_complex,
                "str": a_str,
                "bytes": a_bytes,
                "atomic tuple": atomic_tuple,
                "atomic dict": atomic_dict,
                "atomic dict value": atomic_dict["key"],
                "frozenset": frozen,
                "set": a_set,
                "bytearray": ba,
                "namedtuple": a_namedtuple,
                "function": closure,
                "code": closure.__code__,
                "code consts": closure.__code__.co_consts,
                "code names": closure.__code__.co_varnames,
                "code filename": closure.__code__.co_filename,
                "cell": closure.__closure__[0],
                "cell content": closure.__closure__[0].cell_contents,
                "static type's mro": int.__mro__,
                "static type's dict": gc.get_referents(vars(int))[0],
                "stdlib module": collections,
                "stdlib function": collections.namedtuple,
                "stdlib code": collections.namedtuple.__code__,
                "sys.modules": sys.modules,
            }
            bad = [name for name, o in checks.items()
                   if not sys._is_immortal(o)]
            print(bad, local_ok)
        """)
        self.assertEqual(out, "[] True")

    def test_str_keys_of_dicts_are_immortal(self):
        # dict_traverse() skips str keys: the walk must not.
        out = run("""
            import collections, types
            plain = {"key-%d" % i: i for i in range(1000)}
            catalog = {"msg %d: " % i + "x" * 80: "tr %d" % i
                       for i in range(100)}
            dd = collections.defaultdict(list)
            for i in range(100):
                dd["dd-%d" % i].append(i)
            od = collections.OrderedDict(("od-%d" % i, i) for i in range(100))
            counter = collections.Counter("c-%d" % (i % 7) for i in range(70))
            mod = types.ModuleType("m")
            for i in range(100):
                setattr(mod, "g%d" % i, i)
            class Attrs:
                pass
            objs = []
            for j in range(3):
                o = Attrs()
                for i in range(20):
                    setattr(o, "attr_%d" % i, i)   # the type's shared keys
                objs.append(o)
            Dyn = type("Dyn", (), {"cls_attr_%d" % i: i for i in range(50)})
            sys.immortalize_heap()
            keys = [*plain, *catalog, *dd, *od, *counter, *vars(mod),
                    *vars(objs[0]), *Dyn.__dict__]
            mortal = [k for k in keys if not sys._is_immortal(k)]
            print(len(keys) > 1400, mortal)
        """)
        self.assertEqual(out, "True []")

    def test_references_tp_traverse_leaves_out(self):
        # Doc/immortal/traverse-audit.md: what only such a reference holds
        # is made immortal too.
        out = run("""
            import datetime
            def fresh(*parts):
                return "".join(parts)      # a str no constant shares
            T = type(fresh("Mod", "el"), (), {"__slots__": (fresh("a", "x"),)})
            T.__qualname__ = fresh("Outer.", "Model")
            tz = datetime.timezone(datetime.timedelta(hours=3), fresh("T", "Z"))
            dt = datetime.datetime(2020, 1, 1, tzinfo=tz)
            tm = datetime.time(1, 2, tzinfo=datetime.timezone(
                datetime.timedelta(hours=5), fresh("U", "V")))
            class MyDateTime(datetime.datetime):
                pass
            class Deeper(MyDateTime):
                pass
            mine = Deeper(2020, 1, 1, tzinfo=datetime.timezone(
                datetime.timedelta(hours=7), fresh("W", "X")))
            del tz
            r = range(10**20, 10**21, 7)
            sys.immortalize_heap()
            imm = sys._is_immortal
            print(imm(T.__name__), imm(T.__qualname__))
            print(imm(dt.tzinfo), imm(dt.tzinfo.tzname(None)),
                  imm(dt.tzinfo.utcoffset(None)), imm(tm.tzinfo),
                  imm(tm.tzinfo.tzname(None)), imm(mine.tzinfo),
                  imm(mine.tzinfo.tzname(None)))
            print(imm(r.start), imm(r.stop), imm(r.step))
        """)
        self.assertEqual(out.split("\n"), [
            "True True", "True True True True True True True",
            "True True True"])

    def test_running_frame_keeps_no_locals(self):
        # A running function with a frame object: what it creates after the
        # call is freed when it returns, as on stock (a file is flushed and
        # closed), not handed to an immortal frame object for good.
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.txt")
            out = run(f"""
                def setup():
                    sys._getframe()      # as logging, warnings, tracers do
                    sys.immortalize_heap()
                    print(sys._is_immortal(sys._getframe()))
                    out = open({path!r}, "w")
                    out.write("payload")
                    marker = type("Marker", (), {{}})()
                    return weakref.ref(marker)
                ref = setup()
                print(ref() is None, open({path!r}).read())
            """)
            self.assertEqual(out, "False\nTrue payload")

    def test_os_resources_are_released_as_on_stock(self):
        # Types whose tp_dealloc releases more than memory stay mortal:
        # after the call, dropping them releases what they hold.
        import_helper.import_module("_gdbm")
        import_helper.import_module("_sqlite3")
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            out = run(f"""
                import dbm.gnu, mmap, os, select, sqlite3, subprocess
                tmp = {tmp!r}
                def fds():
                    return len(os.listdir("/proc/self/fd"))
                start = fds()
                with open(os.path.join(tmp, "m"), "wb") as f:
                    f.write(b"x" * 4096)
                f = open(os.path.join(tmp, "m"), "r+b")
                held = {{"mmap": mmap.mmap(f.fileno(), 4096),
                         "epoll": select.epoll()}}
                f.close()
                db = os.path.join(tmp, "db.sqlite")
                conn = sqlite3.connect(db)
                conn.execute("create table t (x)")
                conn.commit()
                conn.execute("insert into t values (1)")   # open transaction
                held["sqlite"] = conn
                del conn
                gdbm_path = os.path.join(tmp, "g.gdbm")
                held["gdbm"] = dbm.gnu.open(gdbm_path, "c")
                buf = bytearray(b"abc")
                held["view"] = memoryview(buf)
                class MyConn(sqlite3.Connection):
                    pass
                held["sub"] = MyConn(":memory:")
                opened = fds()
                sys.immortalize_heap()
                print(opened - start >= 4,
                      [k for k, v in held.items() if sys._is_immortal(v)])
                held.clear()
                gc.collect()      # sqlite3.Connection is in a cycle
                print(fds() == start)
                buf.extend(b"def")                   # no export left
                other = sqlite3.connect(db, timeout=0)
                other.execute("insert into t values (2)")
                other.commit()
                # another process can open the gdbm file for writing
                r = subprocess.run([sys.executable, "-c",
                    "import dbm.gnu, sys; dbm.gnu.open(sys.argv[1], 'w').close()",
                    gdbm_path])
                print(bytes(buf), r.returncode)
            """)
        self.assertEqual(out, "True []\nTrue\nb'abcdef' 0")

    def test_held_finalizable_objects_are_finalized_at_exit(self):
        # Files held by immortal objects (a list, an attribute, a dict
        # value), a module-global NamedTemporaryFile and a GzipFile: at
        # exit, flushed, closed, deleted, trailer written, as on stock.
        import gzip, tempfile
        with tempfile.TemporaryDirectory() as tmp:
            out = run(f"""
                import gzip, os, tempfile
                tmp = {tmp!r}
                class Holder:
                    pass
                holder = Holder()
                in_list = [open(os.path.join(tmp, "list.txt"), "w")]
                holder.f = open(os.path.join(tmp, "attr.txt"), "w")
                in_dict = {{"f": open(os.path.join(tmp, "dict.txt"), "w")}}
                TEMP = tempfile.NamedTemporaryFile(dir=tmp, delete=True)
                gz = [gzip.open(os.path.join(tmp, "data.gz"), "wb")]
                sys.immortalize_heap()
                for f in (in_list[0], holder.f, in_dict["f"]):
                    f.write("written after the call")
                gz[0].write(b"compressed " * 100)
                print(os.path.exists(TEMP.name))
            """)
            self.assertEqual(out, "True")
            for name in ("list.txt", "attr.txt", "dict.txt"):
                with open(os.path.join(tmp, name)) as f:
                    self.assertEqual(f.read(), "written after the call")
            with gzip.open(os.path.join(tmp, "data.gz")) as f:
                self.assertEqual(f.read(), b"compressed " * 100)
            self.assertEqual(sorted(os.listdir(tmp)),
                             ["attr.txt", "data.gz", "dict.txt", "list.txt"])

    def test_new_objects_stay_mortal_and_are_freed(self):
        out = run("""
            sys.immortalize_heap()
            class Later: pass
            obj = Later()
            ref = weakref.ref(obj)
            s = "new-" + str(id(obj))
            print(sys._is_immortal(obj), sys._is_immortal(s),
                  sys._is_immortal(Later), sys.getrefcount(s) < 10)
            del obj
            print(ref() is None)
        """)
        self.assertEqual(out, "False False False True\nTrue")

    def test_finalizable_objects_stay_mortal(self):
        # A buffered file made immortal would never be flushed: objects
        # with a finalizer stay mortal and are finalized at exit.
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.txt")
            out = run(f"""
                class WithDel:
                    def __del__(self): pass
                def gen(): yield 1
                kept = WithDel()
                g = gen()
                f = open({path!r}, "w")
                f.write("buffered, never flushed by hand")
                stats = sys.immortalize_heap()
                print(sys._is_immortal(kept), sys._is_immortal(g),
                      sys._is_immortal(f), sys._is_immortal(WithDel),
                      stats.kept_mortal >= 3)
            """)
            self.assertEqual(out, "False False False True True")
            with open(path) as f:
                self.assertEqual(f.read(), "buffered, never flushed by hand")

    def test_stats(self):
        out = run("""
            data = [str(i) * 3 for i in range(1000)]
            s = sys.immortalize_heap()
            kinds = (s.tracked + s.untracked + s.str + s.bytes + s.int
                     + s.float + s.code + s.other)
            print(type(s).__name__, s.objects == kinds, s.str >= 1000,
                  s.seconds >= s.collect_seconds >= 0, s.sealed_bytes > 0)
        """)
        # sealed_bytes: pymalloc's arenas; a build without it has none.
        self.assertEqual(out, "immortalize_heap_stats True True True "
                              f"{support.with_pymalloc()}")

    @unittest.skipIf(support.check_sanitizer(address=True),
                     "AddressSanitizer keeps freed memory in its quarantine: "
                     "RSS is not the program's")
    def test_repeated_calls_keep_memory_bounded(self):
        # A master that warms up, calls, allocates and frees, and calls
        # again: the memory it freed is reused as on stock (the seal is
        # its children's). Tools/immortal/bench/rounds.py prints the curve.
        out = run("""
            import os
            def rss_mib():
                with open("/proc/self/statm") as f:
                    return int(f.read().split()[1]) * os.sysconf(
                        "SC_PAGE_SIZE") / 2**20
            keep = []
            for i in range(25):
                short = [(j, "short-lived-%d" % j) for j in range(100_000)]
                keep.append(short[::1000])
                del short
                sys.immortalize_heap()
                if i == 4:
                    base = rss_mib()
            grown = rss_mib() - base
            print(grown < 16, round(grown, 1))
        """)
        self.assertTrue(out.startswith("True"), out)

    def test_second_call_covers_untracked_immortal_dicts(self):
        # A dict of atoms is not tracked by the collector: no list leads a
        # second call to it. What it came to hold must be covered anyway.
        out = run("""
            d = {}
            atoms = {"a": 1}
            warm = [d, atoms]
            sys.immortalize_heap()
            for i in range(10000):
                d["k%d" % i] = 10**20 + i
                atoms["x%d" % i] = "v%d" % i
            print(gc.is_tracked(d), gc.is_tracked(atoms))
            sys.immortalize_heap()
            print(sum(not sys._is_immortal(x)
                      for m in (d, atoms) for kv in m.items() for x in kv))
        """)
        self.assertEqual(out, "False False\n0")

    def test_failed_call_then_next_call_completes(self):
        # An allocation failure at any step of the call leaves every
        # object untouched or fully walked, and a heap that the next call
        # finishes: every object immortal.
        out = run("""
            import _testcapi
            def audit(root):
                seen, todo, mortal = set(), [root], []
                while todo:
                    o = todo.pop()
                    if id(o) in seen:
                        continue
                    seen.add(id(o))
                    if not sys._is_immortal(o):
                        mortal.append(o)
                    # Stay in the test's heap: a type or a function leads
                    # to every module (and stdout, which stays mortal).
                    if isinstance(o, (type, type(audit))):
                        continue
                    if isinstance(o, dict):
                        todo.extend(o)
                    if isinstance(o, type(audit.__code__)):
                        todo.extend(o.co_consts)
                    todo.extend(gc.get_referents(o))
                return mortal
            def make_heap(k):
                def f(x):
                    return ("const-%d" % k, x, ("nested", "tuple"))
                class C:
                    def __init__(self):
                        self.a = ["attr-%d" % k]
                return {"atoms": {"i": 10**30 + k, "s": "str-%d" % k},
                        "tuple": ("t-%d" % k, "u-%d" % k),
                        "objs": [C() for _ in range(50)],
                        "code": f.__code__, "func": f,
                        "nested": [[{"deep-%d" % k: (k, k * 1.5)}]]}
            def make_wide(k):
                # Untracked once collected, all stacked at once: the walk's
                # stack grows in the middle of the walk.
                return [(10**20 + i, "w-%d-%d" % (k, i)) for i in range(6000)]
            def wide_left_behind(wide):
                imm = sys._is_immortal
                return [("tuple", "item") for t in wide
                        if imm(t) and not (imm(t[0]) and imm(t[1]))][:1]
            def wide_mortal(wide):
                imm = sys._is_immortal
                return [t for t in wide
                        if not (imm(t) and imm(t[0]) and imm(t[1]))][:1]
            def left_behind(root):
                # Immortal objects with a referent the failed walk neither
                # made immortal nor left to the collector's lists (tracked)
                # or to the mortal rule: "untouched or fully walked".
                seen, todo, found = set(), [root], []
                while todo:
                    o = todo.pop()
                    if id(o) in seen or isinstance(o, (type, type(audit))):
                        continue
                    seen.add(id(o))
                    refs = list(gc.get_referents(o))
                    if isinstance(o, dict):
                        refs.extend(o)
                    if isinstance(o, type(audit.__code__)):
                        refs.extend(o.co_consts)
                    if sys._is_immortal(o):
                        found.extend(
                            (type(o).__name__, type(r).__name__)
                            for r in refs
                            if not sys._is_immortal(r) and not gc.is_tracked(r)
                            and not sys._immortal_stays_mortal(r))
                    todo.extend(refs)
                return found
            # Each step in a forked child of the same parent, so that every
            # child makes the same allocations: the k-th one fails. The
            # parent has called once before, so later calls are covered.
            import os
            earlier, earlier_wide = make_heap(0), make_wide(0)
            sys.immortalize_heap()
            heap, wide = make_heap(1), make_wide(1)
            failed = 0
            bad, partial = [], []
            for k in range(1, 100000):
                r, w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(r)
                    _testcapi.set_nomemory(k, k + 1)
                    try:
                        sys.immortalize_heap()
                        result = "done"
                    except MemoryError:
                        result = "failed"
                    finally:
                        _testcapi.remove_mem_hooks()
                    found = (left_behind(heap) + left_behind(earlier)
                             + wide_left_behind(wide))
                    sys.immortalize_heap()
                    mortal = (audit(heap) + audit(earlier) + wide_mortal(wide)
                              + wide_mortal(earlier_wide))
                    os.write(w, repr((result, found[:3],
                                      [type(o).__name__ for o in mortal[:3]]
                                      )).encode())
                    os._exit(0)
                os.close(w)
                with os.fdopen(r) as f:
                    result, found, mortal = eval(f.read())
                os.waitpid(pid, 0)
                if found:
                    partial.append((k, found))
                if mortal:
                    bad.append((k, mortal))
                if result == "done":
                    break       # past the call's last allocation
                failed += 1
            # 59 steps on 64-bit; 6 on the -m32 build, which has no
            # mimalloc to load.
            print(failed > (30 if sys.maxsize > 2**32 else 3), bad)
            print(partial)
        """)
        self.assertEqual(out, "True []\n[]")

    def test_marshal_after_the_call(self):
        # marshal marks an object whose refcount is not 1 as possibly
        # shared (FLAG_REF): after the call every warm object looks shared,
        # so the bytes may differ from stock's, but they load to equal
        # objects (harmless: .pyc files are written from fresh, mortal
        # code objects).
        out = run("""
            import marshal
            data = {"k%d" % i: ("v%d" % i, [i, float(i)]) for i in range(100)}
            code = compile("x = [1, 2, 'three']", "<m>", "exec")
            before = marshal.dumps((data, code))
            sys.immortalize_heap()
            after = marshal.dumps((data, code))
            print(marshal.loads(after) == marshal.loads(before) == (data, code),
                  marshal.dumps(compile("y = 1", "<n>", "exec"))
                  == marshal.dumps(compile("y = 1", "<n>", "exec")))
        """)
        self.assertEqual(out, "True True")

    def test_stats_pickle(self):
        out = run("""
            import pickle
            stats = sys.immortalize_heap()
            again = pickle.loads(pickle.dumps(stats))
            print(again == stats, type(again) is sys.immortalize_heap_stats)
        """)
        self.assertEqual(out, "True True")

    def test_idempotent(self):
        out = run("""
            sys.immortalize_heap()
            n = len(gc.get_objects())
            again = sys.immortalize_heap()
            print(again.objects < 100, abs(len(gc.get_objects()) - n) < 100)
            late = ["made", "after", "the", "first", "call"]
            holder = {"late": late}
            third = sys.immortalize_heap()
            print(sys._is_immortal(late), sys._is_immortal(late[0] + "x"),
                  sys._is_immortal(holder))
        """)
        self.assertEqual(out, "True True\nTrue False True")


class GCTest(unittest.TestCase):

    def test_gc_api(self):
        out = run("""
            container = [{"a": 1}]
            frozen_one = ["frozen"]
            gc.freeze()
            print(gc.get_freeze_count() > 0)
            stats = sys.immortalize_heap()
            # What stays frozen is what stayed mortal (finalizers).
            print(gc.get_freeze_count() <= stats.kept_mortal,
                  gc.is_tracked(container),
                  any(o is container for o in gc.get_objects()),
                  any(o is container for o in gc.get_objects(generation=2)))
            print(any(r is container
                      for r in gc.get_referrers(container[0])))
            gc.collect()
            print(len(gc.get_stats()), gc.get_stats()[2]["collections"] > 0)
            gc.freeze(); gc.unfreeze()
            print(gc.get_freeze_count())
        """)
        self.assertEqual(out, "True\nTrue True True False\nTrue\n"
                              "3 True\n0")

    def test_mortal_cycle_referencing_immortal_objects_is_collected(self):
        out = run("""
            shared = {"config": "value"}
            sys.immortalize_heap()
            class Node: pass
            a, b = Node(), Node()
            a.other, b.other = b, a
            a.shared = shared
            ref = weakref.ref(a)
            del a, b
            print(ref() is not None, gc.collect() >= 2, ref() is None)
        """)
        self.assertEqual(out, "True True True")

    def test_immortal_weakref_callback_keeps_it_out_of_generations(self):
        # An immortal weakref to a mortal object (kept mortal: it has a
        # finalizer) that dies in a cycle: the collection runs the
        # callback, then puts the weakref back among the immortal objects,
        # not in a generation, where each collection would write to it.
        out = run("""
            calls = []
            class Res:
                def __del__(self):
                    calls.append("del")
            r = Res()
            r.cycle = r
            holder = [r]
            wr = weakref.ref(r, lambda w: calls.append("callback"))
            sys.immortalize_heap()
            print(sys._is_immortal(wr), sys._is_immortal(r))
            holder.clear()
            del r
            gc.collect()
            in_gens = any(o is wr for g in range(3) for o in gc.get_objects(g))
            print(sorted(calls), wr() is None, in_gens, gc.is_tracked(wr))
            gc.collect()
            print(any(o is wr for g in range(3) for o in gc.get_objects(g)))
        """)
        self.assertEqual(out.split("\n"), [
            "True False", "['callback', 'del'] True False True", "False"])

    def test_mortal_object_in_immortal_container_survives(self):
        out = run("""
            cache = []
            atomic = {"key": 1}           # an untracked dict
            print(gc.is_tracked(atomic))
            sys.immortalize_heap()
            class Value: pass
            v, w = Value(), Value()
            v.self = v                     # a cycle, reachable from cache
            cache.append(v)
            atomic["obj"] = w              # tracks the immortal dict again
            refs = weakref.ref(v), weakref.ref(w)
            del v, w
            for gen in (0, 1, 2):
                gc.collect(gen)
            print([r() is not None for r in refs], gc.is_tracked(atomic),
                  any(o is atomic for o in gc.get_referrers(refs[1]())))
            cache.clear(); del atomic["obj"]
            gc.collect()
            print([r() is None for r in refs])
        """)
        self.assertEqual(out, "False\n[True, True] True True\n[True, True]")

    def test_collections_do_not_write_immortal_headers(self):
        out = run("""
            data = [[i, {"k": [i]}] for i in range(2000)]
            sys.immortalize_heap()
            objs = [data, data[0], data[0][1], data[-1][1]["k"]]
            before = [raw(o) for o in objs]
            garbage = []
            for i in range(20000):       # mortal neighbours come and go
                x = [i]; x.append(x)
                if i % 3 == 0:
                    garbage.append(x)
                if i % 1000 == 0:
                    gc.collect(i // 1000 % 3)
            garbage.clear()
            gc.collect()
            print([raw(o) == b for o, b in zip(objs, before)])
        """)
        self.assertEqual(out, "[True, True, True, True]")


class SpecializationTest(unittest.TestCase):

    def test_deep_frozen_code_respecializes_until_the_call(self):
        # Deep-frozen stdlib code is immortal from the start; until
        # sys.immortalize_heap() it re-specializes after misses as on
        # stock (a polymorphic call site would otherwise stay on its base
        # instruction for good); the call freezes it, and then it is
        # never written again.
        res = script_helper.assert_python_ok("-X", "frozen_modules=on", "-c",
                                             textwrap.dedent("""
            import dis, genericpath, sys
            def ops():
                return [i.opname for i in dis.get_instructions(
                    genericpath.commonprefix, adaptive=True)]
            def calls(m):
                for _ in range(1000):
                    genericpath.commonprefix(m)
            print(genericpath.__spec__.origin,
                  sys._is_immortal(genericpath.commonprefix.__code__))
            calls(["ab", "ac"])
            print("BINARY_SUBSCR_LIST_INT" in ops())
            calls(("ab", "ac"))
            print("BINARY_SUBSCR_TUPLE_INT" in ops())
            sys.immortalize_heap()
            frozen = ops()
            calls(["ab", "ac"])
            calls(("ab", "ac"))
            print(ops() == frozen)
        """))
        self.assertEqual(res.out.decode().split(),
                         ["frozen", "True", "True", "True", "True"])

    def test_specialize_keeps_code_specializing(self):
        # specialize=True: code the master never warmed quickens and
        # specializes after the call, deep-frozen code re-specializes after
        # a miss, and a worker writes its own copy of the code object; a
        # later call without it freezes the code again.
        out = run("""
            import dis, genericpath, os
            def cold(seq):
                total = 0
                for x in seq:
                    total += x
                return total
            def ops(f):
                return [i.opname for i in dis.get_instructions(
                    f, adaptive=True)]
            base = ops(cold)
            stats = sys.immortalize_heap(specialize=True)
            print(sys._is_immortal(cold.__code__), stats.code > 0)
            before = raw(cold.__code__, cold.__code__.__sizeof__())
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                for _ in range(100):
                    cold([1, 2, 3])
                written = raw(cold.__code__, cold.__code__.__sizeof__())
                os.write(w, b"%d" % (written != before))
                os._exit(0)
            os.waitpid(pid, 0)
            print("worker wrote code:", os.read(r, 10).decode())
            print(raw(cold.__code__, cold.__code__.__sizeof__()) == before)
            for _ in range(100):
                cold([1, 2, 3])
            print("BINARY_OP_ADD_INT" in ops(cold), ops(cold) != base)
            for _ in range(1000):
                genericpath.commonprefix(["ab", "ac"])
            for _ in range(1000):
                genericpath.commonprefix(("ab", "ac"))
            print("BINARY_SUBSCR_TUPLE_INT" in ops(genericpath.commonprefix))
            sys.immortalize_heap()
            frozen = ops(cold), ops(genericpath.commonprefix)
            for _ in range(1000):
                cold([1.0, 2.0])
                genericpath.commonprefix(["ab", "ac"])
            print((ops(cold), ops(genericpath.commonprefix)) == frozen)
            try:
                sys.immortalize_heap(True)
            except TypeError as e:
                print("TypeError")
        """)
        self.assertEqual(out.split("\n"), [
            "True True", "worker wrote code: 1", "True", "True True",
            "True", "True", "TypeError"])

    def test_nested_code_is_frozen_with_its_parent(self):
        # The code only an immortal code object's constants lead to (a
        # comprehension's) is frozen with it: deep-frozen stdlib code on
        # the first call, and code a specialize=True call left warming up
        # on a later call without it.
        out = run("""
            import dis, posixpath
            def ops(co):
                return [i.opname for i in dis.get_instructions(
                    co, adaptive=True)]
            def nested(co):
                return [c for c in co.co_consts if hasattr(c, "co_code")]
            def outer(seq):
                return [x + 1 for x in seq]
            frozen_mod = nested(posixpath.commonpath.__code__)
            print(len(frozen_mod) > 0,
                  sys._is_immortal(posixpath.commonpath.__code__))
            sys.immortalize_heap(specialize=True)
            sys.immortalize_heap()
            before = [ops(c) for c in frozen_mod + nested(outer.__code__)]
            for _ in range(200):
                posixpath.commonpath(["/a/b", "/a/c"])
                outer([1, 2, 3])
            print([ops(c) for c in frozen_mod + nested(outer.__code__)]
                  == before)
        """)
        self.assertEqual(out.split("\n"), ["True True", "True"])
        out = run("""
            import dis, posixpath
            co = [c for c in posixpath.commonpath.__code__.co_consts
                  if hasattr(c, "co_code")][0]
            def ops():
                return [i.opname for i in dis.get_instructions(
                    co, adaptive=True)]
            sys.immortalize_heap()          # one call, the default
            before = ops()
            for _ in range(200):
                posixpath.commonpath(["/a/b", "/a/c"])
            print(ops() == before)
        """)
        self.assertEqual(out, "True")

    def test_code_frozen_once_stays_frozen(self):
        # A later specialize=True does not let a miss re-specialize code
        # an earlier call froze.
        out = run("""
            import dis
            def add(a, b):
                return a + b
            for _ in range(100):
                add(1, 2)
            def ops():
                return [i.opname for i in dis.get_instructions(
                    add, adaptive=True)]
            print("BINARY_OP_ADD_INT" in ops())
            sys.immortalize_heap()
            sys.immortalize_heap(specialize=True)
            before = ops()
            for _ in range(1000):
                add(1.5, 2.5)
            print(ops() == before, add(1.5, 2.5))
        """)
        self.assertEqual(out.split("\n"), ["True", "True 4.0"])

    def test_default_leaves_cold_code_unspecialized(self):
        out = run("""
            import dis
            def cold(seq):
                total = 0
                for x in seq:
                    total += x
                return total
            def ops(f):
                return [i.opname for i in dis.get_instructions(
                    f, adaptive=True)]
            base = ops(cold)
            sys.immortalize_heap()
            for _ in range(100):
                cold([1, 2, 3])
            print(ops(cold) == base)
        """)
        self.assertEqual(out, "True")


class ForkTest(unittest.TestCase):

    @unittest.skipUnless(hasattr(os, "fork")
                         and os.path.exists("/proc/self/pagemap"),
                         "needs os.fork() and Linux's pagemap")
    def test_worker_reads_without_writing(self):
        out = run("""
            import os, json
            class Record:
                def __init__(self, i):
                    self.i = i
                    self.name = "record-%d" % i
                    self.tags = ("t%d" % i, i * 0.5)
            records = [Record(i) for i in range(500)]
            index = {r.name: r for r in records}
            payload = {"values": ["v" + str(i) for i in range(100)]}
            unhashed = "never-" + "hashed-" + "before"
            def work(n):
                total = 0
                for r in records[:n]:
                    total += r.i + len(r.name) + len(r.tags)
                return total
            for _ in range(50):        # warm up: quickened, specialized
                work(10)
            sys.immortalize_heap()
            objs = {
                "records": records, "record": records[7],
                "name": records[7].name, "tags": records[7].tags,
                "index": index, "payload": payload,
                "values": payload["values"], "unhashed": unhashed,
                "function": work, "Record": Record,
            }
            many = [o for r_ in records for o in (r_, r_.name, r_.tags)]
            snapshot = {k: raw(o) for k, o in objs.items()}
            many_raw = [raw(o) for o in many]
            code = work.__code__
            code_raw = raw(code, code.__sizeof__())
            json_code = json.dumps.__code__
            json_raw = raw(json_code, json_code.__sizeof__())
            r, w = os.pipe()
            go_r, go_w = os.pipe()
            page = os.sysconf("SC_PAGE_SIZE")
            pid = os.fork()
            if pid == 0:
                os.close(r)
                # The parent's own writes after the fork (it reuses free
                # blocks beside the records: it does not seal) also leave
                # the child's copy "exclusively mapped": count only the
                # pages that became so while the parent waits.
                os.read(go_r, 1)
                before = {id(o) // page for o in many
                          if written_after_fork(o)}
                for _ in range(200):             # hot enough to specialize
                    work(500)
                for r_ in records:
                    index[r_.name]; r_.tags[1]
                {unhashed: 1}
                json.dumps(payload)
                for gen in (0, 1, 2):
                    gc.collect(gen)
                # Compared while references are held: on stock CPython
                # every refcount would differ.
                held = list(objs.values()) + list(many)
                changed = sorted(k for k, o in objs.items()
                                 if raw(o) != snapshot[k])
                changed += ["object %d of the records" % i
                            for i, o in enumerate(many) if raw(o) != many_raw[i]]
                if raw(code, code.__sizeof__()) != code_raw:
                    changed.append("code")
                if raw(json_code, json_code.__sizeof__()) != json_raw:
                    changed.append("json code")
                # Pages written since fork: mortal neighbours may still
                # write a few (the objects themselves were not: see above).
                pages = {id(o) // page for o in many}
                written = {id(o) // page for o in many
                           if written_after_fork(o)} - before
                os.write(w, json.dumps([changed, len(written) <= max(
                    2, len(pages) // 10)]).encode())
                os._exit(0)
            os.close(w)
            os.write(go_w, b"x")
            print(os.read(r, 100000).decode())
            os.waitpid(pid, 0)
        """)
        self.assertEqual(out, "[[], true]")


    @unittest.skipUnless(hasattr(os, "fork")
                         and os.path.exists("/proc/self/smaps_rollup"),
                         "needs os.fork() and Linux's smaps_rollup")
    def test_worker_instantiates_warm_classes_without_copying(self):
        # Classes made at run time (ORMs, serializers), instantiated in the
        # worker: their shared keys used to be written by every instance
        # (dk_usable, dk_refcnt): 34 MiB copied for these 20,000.
        out = run("""
            import os
            def init(self):
                self.a = 1; self.b = "x"; self.c = None; self.d = 2.5
            classes = [type("C%d" % i, (), {"__init__": init})
                       for i in range(20000)]
            warm = [C() for C in classes]
            def rollup():
                d = {}
                with open("/proc/self/smaps_rollup") as f:
                    for line in f:
                        p = line.split()
                        if len(p) == 3:
                            d[p[0].rstrip(":")] = int(p[1])
                return d
            sys.immortalize_heap()
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                before = rollup()
                objs = [C() for C in classes]
                dicts = [o.__dict__ for o in objs[:5000]]   # materialized
                del dicts
                after = rollup()
                # Shared pages that went private: private growth less the
                # worker's own new pages.
                copied = (after["Private_Dirty"] - before["Private_Dirty"]
                          - (after["Rss"] - before["Rss"]))
                os.write(w, str(copied).encode())
                os._exit(0)
            os.close(w)
            print(int(os.read(r, 100)) < 2048)
            os.waitpid(pid, 0)
        """)
        self.assertEqual(out, "True")


class UseWritesNothingTest(unittest.TestCase):
    """Reads that stock CPython turns into writes to the object read leave
    immortal objects' bytes as they are."""

    def test_hash_utf8_and_lru_cache_hits_write_nothing(self):
        out = run("""
            import functools, _testcapi
            text = "".join(["lorem ipsum dolor "] * 60)      # never hashed
            data = b"".join([b"payload "] * 60)
            accented = "".join(["Crème brûlée n°", str(42)])  # no UTF-8 yet
            @functools.lru_cache(maxsize=1000)
            def f(i):
                return [i]
            for i in range(100):
                f(i)
            cache, = [o for o in gc.get_referents(f) if type(o) is dict
                      and len(o) == 100]
            links = list(cache.values())
            sys.immortalize_heap()
            objs = [text, data, accented] + links
            before = [raw(o) for o in objs]
            hash(text), hash(data)
            print(_testcapi.unicode_asutf8andsize(accented)
                  == (accented.encode(), len(accented.encode())))
            print(_testcapi.unicode_asutf8andsize(accented)
                  == (accented.encode(), len(accented.encode())))
            print(all(f(i) == [i] for i in range(100)),
                  f.cache_info().hits)
            after = [raw(o) for o in objs]
            print([i for i, (a, b) in enumerate(zip(before, after)) if a != b])
        """)
        self.assertEqual(out.split("\n"), ["True", "True", "True 100", "[]"])

    def test_lru_cache_evicts_and_hits_after_the_call(self):
        # In the master immortal links are not promoted on a hit; the cache
        # still hits, misses, evicts and stays within maxsize, whatever the
        # number of calls.
        out = run("""
            import functools
            calls = []
            @functools.lru_cache(maxsize=4)
            def f(i):
                calls.append(i)
                return i * 2
            for i in range(4):
                f(i)
            sys.immortalize_heap()
            print([f(i) for i in (0, 1, 2, 3)], len(calls))
            print([f(i) for i in range(4, 12)], len(calls))
            print(f.cache_info().currsize, [f(i) for i in (10, 11)], len(calls))
            for r in range(5):
                for i in range(100 * r, 100 * r + 10):
                    f(i)
                sys.immortalize_heap()
            print(f.cache_info().currsize)
        """)
        self.assertEqual(out.split("\n"), [
            "[0, 2, 4, 6] 4",
            "[8, 10, 12, 14, 16, 18, 20, 22] 12",
            "4 [20, 22] 12",
            "4"])

    def test_lru_cache_in_worker_keeps_master_entries(self):
        # In a worker immortal links are not evicted either: once the cache
        # is full (or a link would be put next to one) the master's entries
        # leave its list, stay in the cache and stop counting against
        # maxsize; the worker's own entries hit, miss and are evicted
        # within maxsize.
        out = run("""
            import functools, os
            calls = []
            @functools.lru_cache(maxsize=4)
            def f(i):
                calls.append(i)
                return i * 2
            for i in range(4):
                f(i)
            sys.immortalize_heap()
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                print([f(i) for i in (0, 1, 2, 3)], len(calls))
                print([f(i) for i in range(4, 12)], len(calls))
                print(f.cache_info().currsize, [f(i) for i in (10, 11)],
                      len(calls))
                print([f(i) for i in (3, 2, 1, 0)], len(calls))
                print([f(i) for i in (4, 5)], len(calls),
                      f.cache_info().currsize)
                f.cache_clear()
                print([f(i) for i in range(6)], len(calls),
                      f.cache_info().currsize)
                sys.stdout.flush()
                os._exit(0)
            os.waitpid(pid, 0)
        """)
        self.assertEqual(out.split("\n"), [
            "[0, 2, 4, 6] 4",
            "[8, 10, 12, 14, 16, 18, 20, 22] 12",
            "8 [20, 22] 12",
            "[6, 4, 2, 0] 12",
            "[8, 10] 14 8",
            "[0, 2, 4, 6, 8, 10] 20 4"])


class ErrorsTest(unittest.TestCase):

    def test_subinterpreter(self):
        _testcapi = import_helper.import_module("_testcapi")
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "result")
            code = textwrap.dedent(f"""
                import sys
                try:
                    sys.immortalize_heap()
                    result = "no error"
                except RuntimeError as e:
                    result = str(e)
                with open({path!r}, "w") as f:
                    f.write(result)
            """)
            self.assertEqual(_testcapi.run_in_subinterp(code), 0)
            with open(path) as f:
                self.assertEqual(f.read(), "sys.immortalize_heap() is only "
                                 "supported in the main interpreter")

    def test_during_garbage_collection(self):
        out = run("""
            errors = []
            class Cyclic:
                def __del__(self):
                    try:
                        sys.immortalize_heap()
                    except RuntimeError as e:
                        errors.append(str(e))
            c = Cyclic(); c.self = c
            del c
            gc.collect()
            def callback(phase, info):
                if phase == "start":
                    try:
                        sys.immortalize_heap()
                    except RuntimeError as e:
                        errors.append(str(e))
            gc.callbacks.append(callback)
            gc.collect()
            gc.callbacks.remove(callback)
            print(len(errors), all("garbage collection" in e for e in errors))
        """)
        self.assertEqual(out, "2 True")

    def test_during_finalization(self):
        out = run("""
            import atexit
            def at_exit(immortalize=sys.immortalize_heap, write=sys.stdout.write):
                # atexit handlers run before finalization: this works.
                write("atexit %d\\n" % (immortalize().objects >= 0))
            atexit.register(at_exit)
            class Late:
                def __del__(self, immortalize=sys.immortalize_heap,
                            write=sys.stderr.write):
                    try:
                        immortalize()
                        write("late: no error\\n")
                    except RuntimeError as e:
                        write("late: %s\\n" % e)
            late = Late()
            late.self = late            # collected during finalization
            del late
        """)
        self.assertEqual(out, "atexit 1")

    def test_finalization_error_message(self):
        res = script_helper.assert_python_ok("-c", textwrap.dedent("""
            import sys, gc
            class Late:
                def __del__(self, immortalize=sys.immortalize_heap,
                            write=sys.stderr.write):
                    try:
                        immortalize()
                        write("late: no error\\n")
                    except RuntimeError as e:
                        write("late: %s\\n" % e)
            gc.disable()
            late = Late()
            late.self = late
            del late
        """))
        self.assertIn(b"late: sys.immortalize_heap() cannot run during "
                      b"interpreter finalization", res.err)

    def test_with_threads_running(self):
        out = run("""
            import threading
            stop = threading.Event()
            made = []
            def churn():
                while not stop.is_set():
                    x = [str(i) for i in range(100)]
                    made.append(tuple(x))
                    if len(made) > 50:
                        del made[:25]
            threads = [threading.Thread(target=churn) for _ in range(4)]
            for t in threads: t.start()
            results = [sys.immortalize_heap() is not None for _ in range(5)]
            stop.set()
            for t in threads: t.join()
            fresh = [str(i) for i in range(3)]
            print(all(results), sys._is_immortal(fresh), len(made) > 0)
        """)
        self.assertEqual(out, "True False True")

    def test_walk_runs_no_python_code(self):
        # Assigning a type's version tag looks a name up in the dicts of its
        # MRO; a key that is a str subclass with a colliding hash would run
        # its __eq__ there, and a half-built class would be readied.
        out = run("""
            calls = []
            class Key(str):
                def __hash__(self):
                    return hash("__init__")
                def __eq__(self, other):
                    calls.append(other)
                    return str.__eq__(self, other)
            C = type("C", (), {Key("odd"): 1})
            saved = []
            class Meta(type):
                def mro(cls):
                    saved.append(cls)
                    raise RuntimeError("no MRO")
            try:
                class Half(metaclass=Meta): pass
            except RuntimeError:
                pass
            eq_calls, mro_calls = len(calls), len(saved)
            sys.immortalize_heap()
            READY = 1 << 12
            print(calls[eq_calls:], len(saved) - mro_calls,
                  bool(saved[0].__flags__ & READY), sys._is_immortal(C))
        """)
        self.assertEqual(out, "[] 0 False True")

    def test_tuple_built_across_the_call(self):
        # tuple() and f(*gen) fill a tuple completely before growing it
        # (_PyTuple_Resize() needs a refcount of 1): no SystemError when the
        # call lands in the middle, in this thread or in another.
        out = run("""
            import threading, time
            # PySequence_Tuple() starts with 10 slots and grows the tuple
            # when the 11th item comes: the generator runs then, with the
            # tuple full.
            def gen(call):
                for i in range(10):
                    yield [i]
                call()
                for i in range(10, 50):
                    yield [i]
            t = tuple(gen(sys.immortalize_heap))
            print(len(t), t[-1], sys._is_immortal(t))
            def f(*args):
                return args
            a = f(*gen(sys.immortalize_heap))
            print(len(a), a[9], a[10])
            # Another thread builds while this one calls.
            full, go = threading.Event(), threading.Event()
            def waits():
                for i in range(10):
                    yield i
                full.set()
                go.wait()
                for i in range(10, 100):
                    yield i
            out = []
            th = threading.Thread(target=lambda: out.append(tuple(waits())))
            th.start()
            full.wait()
            sys.immortalize_heap()
            go.set()
            th.join()
            print(out[0] == tuple(range(100)))
        """)
        self.assertEqual(out, "50 [49] False\n50 [9] [10]\nTrue")

    def test_while_another_thread_collects(self):
        # Another thread's collection runs a __del__ that releases the GIL:
        # the call waits for that collection instead of failing.
        out = run("""
            import threading, time
            started = threading.Event()
            class Slow:
                def __del__(self):
                    started.set()
                    time.sleep(0.3)          # releases the GIL
            def collect():
                a = Slow(); a.cycle = a
                del a
                gc.collect()
            t = threading.Thread(target=collect)
            t.start()
            started.wait()
            stats = sys.immortalize_heap()
            t.join()
            print(stats.objects > 0)
        """)
        self.assertEqual(out, "True")

    def test_takes_no_arguments(self):
        with self.assertRaises(TypeError):
            sys.immortalize_heap(1)


if __name__ == "__main__":
    unittest.main()
