"""Static types readied the way Cython 3 readies them, on the fork.

Cython 3 sets Py_TPFLAGS_HEAPTYPE on a static type for the duration of
PyType_Ready() when the type has a base chain (cython/cython#3603). Wheels
from PyPI built that way (numpy.random, lxml, pandas, SQLAlchemy, uvloop,
grpcio, ...) made sys.immortalize_heap() abort the process in
type_traverse(). The extension, Lib/test/immortal_cython3types.c, is
compiled against the stock twin's headers, like such wheels; each test runs
in a new interpreter, since sys.immortalize_heap() is for good.
"""

import os
import sys
import tempfile
import textwrap
import unittest

from test import support
from test.support import script_helper
from test.test_immortal_oldabi import STOCK_PYTHON, compile_extension

PRELUDE = """
import gc, importlib.util, os, sys
spec = importlib.util.spec_from_file_location(
    "immortal_cython3types", sys.argv[1])
ext = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ext)
sys.modules["immortal_cython3types"] = ext
STATIC = (ext.Base, ext.Derived, ext.Leaf, ext.OnHeapBase, ext.Plain)
"""


@unittest.skipUnless(STOCK_PYTHON, 'IMMORTAL_STOCK_PYTHON (the stock twin) '
                     'is not set; `make test` sets it')
@unittest.skipUnless(hasattr(sys, 'immortalize_heap'),
                     'needs Immortal CPython')
@support.requires_subprocess()
class Cython3TypesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.path = compile_extension(cls.tmpdir.name, 'immortal_cython3types')

    @classmethod
    def tearDownClass(cls):
        cls.tmpdir.cleanup()

    def run_code(self, code):
        res = script_helper.assert_python_ok(
            '-X', 'faulthandler', '-c', PRELUDE + textwrap.dedent(code),
            self.path)
        return res.out.decode().strip()

    def test_readied_static_types_are_immortal(self):
        out = self.run_code("""
            for t in STATIC:
                assert t.__flags__ & (1 << 9) == 0, t    # not a heap type
                assert sys._is_immortal(t), t
            assert not sys._is_immortal(ext.HeapBase)
            # Heap types, of Python and of the C API, stay mortal.
            class Sub(ext.Leaf): pass
            assert not sys._is_immortal(Sub)
            print("ok")
        """)
        self.assertEqual(out, "ok")

    def check_walk(self, make_mortal):
        # Instances, and classes of Python deriving from the static types,
        # in the heap; the types mortal or not, as the walk may meet them.
        out = self.run_code(f"""
            make_mortal = {make_mortal}
            if make_mortal:
                for t in STATIC:
                    ext.set_refcnt(t, 100)
                    assert not sys._is_immortal(t), t
            class Sub(ext.Leaf):
                attr = "sub-" + "class"
            payloads = [["p%d" % i] for i in range(5)]
            heap = [ext.Base(payloads[0]), ext.Derived(payloads[1]),
                    ext.Leaf(payloads[2]), ext.OnHeapBase(payloads[3]),
                    Sub(payloads[4]), ext.Plain()]
            cache = {{t.__name__: t for t in STATIC}}
            stats = sys.immortalize_heap()
            assert stats.objects > 0
            for t in STATIC + (Sub, ext.HeapBase):
                assert sys._is_immortal(t), t
                assert sys._is_immortal(t.__mro__), t
                assert sys._is_immortal(t.__bases__), t
            for t in STATIC[:4]:
                # What Cython puts in a type's dict after readying it.
                table = t.__dict__["table"]
                assert sys._is_immortal(table) and table[0] == t.__name__
                assert all(sys._is_immortal(x) for x in table), table
            for obj, payload in zip(heap, payloads):
                assert sys._is_immortal(obj), obj
                assert obj.payload is payload and sys._is_immortal(payload)
                assert sys._is_immortal(payload[0])
            assert obj.kind() == "Sub" and Sub.attr == "sub-class"
            # The process goes on: new objects are mortal and freed, the
            # collector runs, a worker uses the types.
            fresh = ext.Leaf(["new"])
            assert not sys._is_immortal(fresh)
            gc.collect()
            pid = os.fork()
            if pid == 0:
                objs = [t() for t in STATIC] + [Sub("x")]
                ok = (all(o.payload is None for o in objs[:-2])
                      and objs[-1].kind() == "Sub"
                      and ext.Derived.__dict__["table"][2] == 12345)
                gc.collect()
                os._exit(0 if ok else 1)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status
            print("ok", stats.objects > len(heap))
        """)
        self.assertEqual(out, "ok True")

    def test_walk_meets_static_types_made_immortal_when_readied(self):
        self.check_walk(make_mortal=False)

    def test_walk_meets_static_types_still_mortal(self):
        # A count stored by code built for stock 3.11 (or a type readied
        # some other way) leaves a static type mortal until the walk.
        self.check_walk(make_mortal=True)

    def test_walk_never_traverses_a_non_collector_object(self):
        # Plain's tp_traverse aborts; the collector never calls it, since
        # Plain has no Py_TPFLAGS_HAVE_GC, and neither may the walk.
        out = self.run_code("""
            keep = [ext.Plain() for _ in range(3)]
            d = {"plain": ext.Plain()}
            sys.immortalize_heap()
            assert all(sys._is_immortal(o) for o in keep)
            assert sys._is_immortal(d["plain"])
            gc.collect()
            print("ok")
        """)
        self.assertEqual(out, "ok")


if __name__ == '__main__':
    unittest.main()
