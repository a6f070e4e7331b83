"""Immortal objects (PEP 683's design, in Immortal CPython 3.11).

An immortal object's refcount is never written by Py_INCREF()/Py_DECREF()
and it is never freed. These tests check which objects are immortal by
default, that using them leaves their stored refcount untouched, what
sys.getrefcount() and sys._is_immortal() report, and that the interpreter
starts and exits cleanly with immortal objects alive.
"""

import ctypes
import gc
import subprocess
import sys
import textwrap
import unittest

from test import support
from test.support import script_helper

# ob_refcnt follows two pointers in Py_TRACE_REFS builds.
_REFCNT_OFFSET = 2 * ctypes.sizeof(ctypes.c_void_p) if hasattr(sys, 'getobjects') else 0
# Bits 62 and 61 on 64-bit builds, 30 and 29 on 32-bit builds.
IMMORTAL_REFCNT = 3 << (8 * ctypes.sizeof(ctypes.c_ssize_t) - 3)
HEAPTYPE = 1 << 9


def raw_refcnt(obj):
    """The refcount as stored in the object, not as sys.getrefcount() says."""
    return ctypes.c_ssize_t.from_address(id(obj) + _REFCNT_OFFSET).value


def static_types():
    """Every statically allocated type reachable from object."""
    seen, todo = set(), [object]
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        todo.extend(type.__subclasses__(t))
    return [t for t in seen if not t.__flags__ & HEAPTYPE]


class DefaultImmortalsTests(unittest.TestCase):

    def assertImmortal(self, obj):
        self.assertTrue(sys._is_immortal(obj), f'{obj!r} is not immortal')
        self.assertTrue(raw_refcnt(obj) & (1 << (8 * ctypes.sizeof(ctypes.c_ssize_t) - 2)))

    def test_singletons(self):
        for obj in (None, True, False, Ellipsis, NotImplemented):
            with self.subTest(obj=obj):
                self.assertImmortal(obj)

    def test_small_ints(self):
        for i in range(-5, 257):
            with self.subTest(i=i):
                self.assertImmortal(i)
        # Just outside the cache: ordinary objects.
        self.assertFalse(sys._is_immortal(int('257')))
        self.assertFalse(sys._is_immortal(int('-6')))

    def test_empty_and_single_character_strings(self):
        self.assertImmortal('')
        for c in range(256):
            with self.subTest(c=c):
                self.assertImmortal(chr(c))
        self.assertFalse(sys._is_immortal(chr(256)))

    def test_empty_tuple_and_bytes(self):
        self.assertImmortal(())
        self.assertImmortal(b'')
        for c in range(256):
            with self.subTest(c=c):
                self.assertImmortal(bytes([c]))

    def test_static_types(self):
        types = static_types()
        self.assertGreater(len(types), 100)
        for t in types:
            with self.subTest(t=t):
                self.assertImmortal(t)

    def test_runtime_static_strings(self):
        # The runtime's identifiers (_Py_ID) are static; interning such a
        # name gives back the static object.
        for name in ('__init__', '__dict__', 'builtins', '__name__'):
            with self.subTest(name=name):
                self.assertImmortal(sys.intern(''.join(list(name))))

    def test_heap_objects_are_mortal(self):
        class C:
            pass
        for obj in (C, C(), object(), [], {}, 1.5, 10**20, 'a' * 10,
                    ('x', 1), b'ab'):
            with self.subTest(obj=obj):
                self.assertFalse(sys._is_immortal(obj))

    def test_interned_strings_are_mortal(self):
        # Decision (Doc/immortal/design.md): dynamically interned strings
        # stay mortal, so interning data does not leak.
        s = sys.intern(''.join(['immortal', '-test-', 'interned']))
        self.assertFalse(sys._is_immortal(s))
        before = sys.getrefcount(s)
        t = s
        self.assertEqual(sys.getrefcount(s), before + 1)
        del t


class RefcountTests(unittest.TestCase):

    def test_heavy_use_writes_no_refcount(self):
        objs = (None, True, False, 0, 7, 256, -5, '', 'x', (), b'', int, str)
        before = [raw_refcnt(o) for o in objs]

        def returns_none():
            pass

        for _ in range(10_000):
            keep = [None, True, False, 0, 7, 256, -5, '', 'x', (), b'', int, str]
            d = {str(i): o for i, o in enumerate(keep)}
            t = tuple(keep) * 3
            returns_none()
            keep.append(7 + 0)
            del keep, d, t
        many = [None] * 100_000 + [7] * 100_000
        nested = (((),) * 1000,) * 10
        del many, nested
        gc.collect()

        after = [raw_refcnt(o) for o in objs]
        self.assertEqual(after, before)

    def test_list_and_tuple_repeat(self):
        # They add n references at once (gh-104142 was a bug of this path).
        before = raw_refcnt(None)
        x = [None] * 42
        y = (None, 1) * 42
        z = [None]
        z *= 1000
        self.assertEqual(raw_refcnt(None), before)
        self.assertEqual(raw_refcnt(1), raw_refcnt(0))
        del x, y, z

    def test_getrefcount_of_immortal_objects(self):
        # One documented value for every immortal object, whatever its
        # stored count.
        for obj in (None, 0, (), int):
            with self.subTest(obj=obj):
                self.assertEqual(sys.getrefcount(obj), IMMORTAL_REFCNT)
        refs = [None] * 10
        self.assertEqual(sys.getrefcount(None), IMMORTAL_REFCNT)
        del refs

    def test_getrefcount_of_mortal_objects(self):
        obj = object()
        base = sys.getrefcount(obj)
        refs = [obj] * 5
        self.assertEqual(sys.getrefcount(obj), base + 5)
        del refs
        self.assertEqual(sys.getrefcount(obj), base)

    def test_c_api_incref_decref(self):
        # The C API's function forms, as embedders and ctypes use them.
        before = raw_refcnt(None)
        for _ in range(1000):
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(None))
        for _ in range(3000):
            ctypes.pythonapi.Py_DecRef(ctypes.py_object(None))
        self.assertEqual(raw_refcnt(None), before)

    def test_c_api_is_immortal(self):
        f = ctypes.pythonapi.PyUnstable_IsImmortal
        f.argtypes = (ctypes.py_object,)
        f.restype = ctypes.c_int
        self.assertEqual(f(None), 1)
        self.assertEqual(f(5), 1)
        self.assertEqual(f(object()), 0)

    def test_is_immortal_signature(self):
        self.assertIs(sys._is_immortal(None), True)
        self.assertIs(sys._is_immortal([]), False)
        with self.assertRaises(TypeError):
            sys._is_immortal()
        with self.assertRaises(TypeError):
            sys._is_immortal(None, None)


class FloatResultTests(unittest.TestCase):
    # The eval loop's specialized float operations write their result into
    # an operand only the value stack holds (pycore_immortal_ceval.h):
    # never into one a variable, a container or a constant still holds.

    def test_results_and_operands(self):
        def work(a, b, n):
            held = []
            total = 0.0
            for i in range(n):
                c = a * b + a - b          # temporaries reused
                d = (a + 1.0) * (b - 1.0)  # both operands temporaries
                e = a * a                  # the same operand twice
                held.append(c)
                total += c + d + e
            return total, held
        for _ in range(3):                 # warm up: specialized
            total, held = work(1.5, 2.25, 200)
        self.assertEqual(total, 200 * ((1.5 * 2.25 + 1.5 - 2.25)
                                       + (2.5 * 1.25) + 2.25))
        self.assertEqual(set(held), {1.5 * 2.25 + 1.5 - 2.25})
        self.assertEqual(len({id(x) for x in held}), 200)

    def test_constants_and_shared_floats_unchanged(self):
        third = 1.0 / 3.0
        cache = {"k": 0.5}
        def work():
            acc = 0.0
            for i in range(300):
                acc = acc + 0.25             # a constant operand
                acc = cache["k"] * acc       # a float a dict holds
                acc = acc - third            # a global-like cell
            return acc
        expected = 0.0
        for i in range(300):
            expected = 0.5 * (expected + 0.25) - third
        for _ in range(3):
            self.assertEqual(work(), expected)
        self.assertEqual(cache["k"], 0.5)
        self.assertEqual(third, 1.0 / 3.0)
        self.assertEqual(work.__code__.co_consts.count(0.25), 1)
        self.assertIn(0.25, work.__code__.co_consts)

    def test_immortal_operands_never_written(self):
        code = textwrap.dedent("""
            import sys
            warm = [1.25, 2.5]
            sys.immortalize_heap()
            a, b = warm
            def work():
                x = 0.0
                for i in range(500):
                    x = (a * b) + (a - b) + x
                return x
            for _ in range(3):
                r = work()
            print(r == 500 * (1.25 * 2.5 + 1.25 - 2.5), warm == [1.25, 2.5],
                  sys._is_immortal(warm[0]))
        """)
        res = script_helper.assert_python_ok("-c", code)
        self.assertEqual(res.out.decode().split(), ["True", "True", "True"])


class LifecycleTests(unittest.TestCase):

    @support.requires_subprocess()
    def test_subprocess_exits_cleanly(self):
        code = textwrap.dedent('''
            import sys
            keep = [None, True, 0, (), '', int] * 1000
            assert all(sys._is_immortal(o) for o in keep)
            print('ok', sys._is_immortal(None))
        ''')
        rc, out, err = script_helper.assert_python_ok('-c', code)
        self.assertEqual(out.strip(), b'ok True')
        self.assertEqual(err, b'')

    @support.requires_subprocess()
    def test_subprocess_finalizes_with_immortal_objects_held_by_globals(self):
        # Immortal objects referenced from module globals, class attributes
        # and a cycle are left alone through Py_Finalize().
        code = textwrap.dedent('''
            import sys
            class Holder:
                items = (None, 1, '', ())
            cycle = [None]
            cycle.append(cycle)
            sys.holder = Holder
        ''')
        script_helper.assert_python_ok('-c', code)


if __name__ == '__main__':
    unittest.main()
