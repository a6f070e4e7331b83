"""Immortal objects (PEP 683's design, in Immortal CPython 3.11).

An immortal object's refcount is never written by Py_INCREF()/Py_DECREF()
and it is never freed. These tests check which objects are immortal by
default, that using them leaves their stored refcount untouched, what
sys.getrefcount() and sys._is_immortal() report, and that the interpreter
starts and exits cleanly with immortal objects alive.
"""

import ctypes
import dis
import gc
import subprocess
import sys
import textwrap
import types
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
    # an operand only the value stack holds (pycore_immortal_ceval.h): never
    # into one a variable, a container or a constant still holds.

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

    def test_store_into_the_same_local(self):
        # x = x + 1.0 allocates for floats (only ints write back into the
        # local's operand: pycore_immortal_ceval.h says why).
        def work(n):
            x = 0.5
            y = 0.25
            for i in range(n):
                x = x + 1.0
                x *= 1.0
                y = x - 0.25         # stored into another local: x kept
            return x, y
        for _ in range(3):
            x, y = work(300)
        self.assertEqual((x, y), (300.5, 300.25))

    def test_alias_keeps_its_value(self):
        def work(n):
            x = 1.5
            old = []
            for i in range(n):
                alias = x
                x += 2.0             # count 3: alias and the stack
                x = x + 0.0
                old.append(alias)
            return x, old
        for _ in range(3):
            x, old = work(100)
        self.assertEqual(x, 1.5 + 200.0)
        self.assertEqual(old, [1.5 + 2.0 * i for i in range(100)])

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


class IntResultTests(unittest.TestCase):
    # The same for BINARY_OP_ADD_INT, _SUBTRACT_INT and _MULTIPLY_INT, when
    # the result is a one-digit int outside the cached small ints, and also
    # into the left operand when only the stack and the local the result is
    # stored into hold it.

    def test_results(self):
        def work(values):
            out = []
            for a in values:
                for b in values:
                    out.append((a + 1 + b, a * 3 - b, (a - 1) * (b + 1),
                                a + b * 1))
            return out
        values = [-2**40, -2**30, -2**30 + 1, -1000, -6, -5, -1, 0, 1, 255,
                  256, 257, 1000, 2**30 - 1, 2**30, 2**40]
        expected = [(a + 1 + b, a * 3 - b, (a - 1) * (b + 1), a + b * 1)
                    for a in values for b in values]
        for _ in range(3):
            self.assertEqual(work(values), expected)

    def test_small_ints_stay_shared(self):
        def work():
            out = []
            for a in range(-300, 300, 7):
                out.append((a + 1) * 1 + 0)
                out.append((a * 1) - 1)
            return out
        for _ in range(3):
            out = work()
        for v in out:
            self.assertEqual(type(v), int)
            if -5 <= v <= 256:
                self.assertIs(v, v + 0 - 0)          # the cached object
                self.assertTrue(sys._is_immortal(v))

    def test_store_back_and_aliases(self):
        def work(n):
            i = 1000
            total = 0
            kept = []
            seen = set()
            for k in range(n):
                i += 1
                seen.add(id(i))
                alias = i
                i = i + 2            # count 3: alias and the stack
                kept.append(alias)
                total = total + i    # total and i: i is kept
            return i, total, kept, len(seen)
        for _ in range(3):
            i, total, kept, distinct = work(200)
        self.assertEqual(i, 1000 + 3 * 200)
        self.assertEqual(kept, [1000 + 3 * k + 1 for k in range(200)])
        self.assertEqual(total, sum(1000 + 3 * k + 3 for k in range(200)))
        self.assertGreater(distinct, 1)

    def test_loop_counter_written_in_place(self):
        def work(n):
            i = 300
            in_place = 0
            for _ in range(n):      # JUMP_BACKWARD: the code is quickened
                before = id(i)
                i += 1
                in_place += id(i) == before
            return i, in_place
        for _ in range(3):
            i, in_place = work(2000)
        self.assertEqual(i, 2300)
        # The first result is a new int: the constant 300 is shared.
        self.assertEqual(in_place, 1999)

    def test_immortal_operands_never_written(self):
        code = textwrap.dedent("""
            import sys
            warm = [1000, 2000, 3000]
            sys.immortalize_heap()
            def work():
                i = warm[0]
                total = warm[1]
                for k in range(50):
                    i += 1                 # immortal left operand
                    total = total + i
                j = warm[2]                # the loop variable: immortal
                for j in range(2000, 2010):
                    pass
                return i, total, j
            for _ in range(10):
                r = work()
            print(r == (1050, 2000 + sum(range(1001, 1051)), 2009),
                  warm == [1000, 2000, 3000],
                  all(sys._is_immortal(v) for v in warm))
        """)
        res = script_helper.assert_python_ok("-c", code)
        self.assertEqual(res.out.decode().split(), ["True", "True", "True"])

    def test_constants_unchanged(self):
        def work():
            acc = 0
            for k in range(100):
                acc = 1000 + acc + 100000
            return acc
        for _ in range(3):
            self.assertEqual(work(), 100 * 101000)
        self.assertIn(1000, work.__code__.co_consts)
        self.assertIn(100000, work.__code__.co_consts)


class RangeLoopTests(unittest.TestCase):
    # FOR_ITER over a range stores the next value straight into the loop
    # variable, into its int when nothing else holds it
    # (pycore_immortal_ceval.h).

    RANGES = [(0,), (10,), (250, 262), (-300, 300, 7), (2**30 - 3, 2**30 + 3),
              (2**40, 2**40 + 5), (1000, -1000, -9), (-2**31, -2**31 + 4),
              (5, 5), (3, 1)]

    def test_values(self):
        def work(args):
            out = []
            for i in range(*args):
                out.append(i)
            return out, i if out else None
        for _ in range(10):
            for args in self.RANGES:
                out, last = work(args)
                self.assertEqual(out, list(range(*args)))
                self.assertEqual(last, out[-1] if out else None)
                for v in out:
                    if -5 <= v <= 256:
                        self.assertTrue(sys._is_immortal(v))

    def test_loop_variable_shared_or_rebound(self):
        def work(n):
            kept, sums = [], []
            for i in range(1000, 1000 + n):
                if i % 3 == 0:
                    kept.append(i)          # shared: never overwritten
                total = 0
                for j in range(2000, 2003):  # nested: STORE_FAST__LOAD_FAST
                    total += j + i
                sums.append(total)
                i = -i                      # rebound in the body
            return kept, sums, i
        for _ in range(10):
            kept, sums, last = work(100)
        self.assertEqual(kept, [i for i in range(1000, 1100) if i % 3 == 0])
        self.assertEqual(sums, [6003 + 3 * i for i in range(1000, 1100)])
        self.assertEqual(last, -1099)

    def test_written_in_place(self):
        def work():
            same = 0
            prev = None
            for i in range(1000, 3000):
                cur = id(i)
                same += cur == prev
                prev = cur
            return same
        for _ in range(10):
            same = work()
        # Stock allocates each value while the variable holds the last.
        self.assertEqual(same, 1999)

    def test_generator_and_tracing(self):
        def gen():
            for i in range(500, 510):
                yield i
        self.assertEqual(list(gen()), list(range(500, 510)))
        lines = []
        def tracer(frame, event, arg):
            if frame.f_code is work.__code__:
                lines.append((event, frame.f_lineno))
            return tracer
        def work():
            out = []
            for i in range(300, 303):
                out.append(i)
            return out
        for _ in range(10):
            work()
        old = sys.gettrace()
        sys.settrace(tracer)
        try:
            out = work()
        finally:
            sys.settrace(old)
        self.assertEqual(out, [300, 301, 302])
        first = work.__code__.co_firstlineno
        self.assertEqual([l - first for e, l in lines if e == 'line'],
                         [1, 2, 3, 2, 3, 2, 3, 2, 4])


class BorrowedOwnerTests(unittest.TestCase):
    # A LOAD_FAST fused with the specialized LOAD_ATTR or STORE_ATTR on its
    # local borrows the owner from the local (pycore_immortal_ceval.h).

    WARM = 100

    def opnames(self, func):
        return [i.opname for i in dis.get_instructions(func, adaptive=True)]

    def fused(self, func):
        return [op for op in self.opnames(func)
                if op.startswith('LOAD_FAST__') and op.endswith('_ATTR')]

    def test_instance_values(self):
        class P:
            def __init__(self, x, y):
                self.x = x
                self.y = y
            def total(self):
                return self.x + self.y
        for i in range(self.WARM):
            p = P(i, 2 * i)
            self.assertEqual(p.total(), 3 * i)
        self.assertEqual(self.fused(P.__init__), ['LOAD_FAST__STORE_ATTR'] * 2)
        self.assertEqual(self.fused(P.total), ['LOAD_FAST__LOAD_ATTR'] * 2)
        self.assertEqual(vars(P(1, 2)), {'x': 1, 'y': 2})

    def test_slots(self):
        class S:
            __slots__ = ('a', 'b')
            def __init__(self, a):
                self.a = a
            def get(self):
                return self.a
            def get_b(self):
                return self.b
        for i in range(self.WARM):
            s = S(str(i))
            self.assertEqual(s.get(), str(i))
        self.assertEqual(self.fused(S.get), ['LOAD_FAST__LOAD_ATTR'])
        with self.assertRaisesRegex(AttributeError, "'b'"):
            S(1).get_b()

    def test_polymorphic_and_modified_types(self):
        class A:
            def __init__(self):
                self.x = 'a'
        class B:
            __slots__ = ('x',)
            def __init__(self):
                self.x = 'b'
        class C:
            x = 'c'
        def get(o):
            return o.x
        def put(o, v):
            o.x = v
            return o
        objs = [A(), B(), C(), A(), A()]
        for i in range(self.WARM):
            for o in objs:
                self.assertEqual(get(o), type(o).__name__.lower())
            if i == self.WARM // 2:
                A.extra = 1     # a new version tag: the cached one misses
        a = A()
        for i in range(self.WARM):
            self.assertIs(put(a, i), a)
            self.assertEqual(a.x, i)
        self.assertEqual(get(put(B(), 'z')), 'z')
        del a.x
        with self.assertRaisesRegex(AttributeError, "'x'"):
            get(a)
        with self.assertRaisesRegex(AttributeError, "'x'"):
            get(object())

    def test_dict_with_hint(self):
        class H:
            pass
        def get(o):
            return o.x
        def put(o, v):
            o.x = v
        def new(i):
            h = H()
            vars(h)['x'] = i       # a dict of its own: the *_WITH_HINT forms
            return h
        for i in range(self.WARM):
            h = new(i)
            put(h, i + 1)
            self.assertEqual(get(h), i + 1)
        for func, name in [(get, 'LOAD_ATTR_WITH_HINT'),
                           (put, 'STORE_ATTR_WITH_HINT')]:
            self.assertIn(name, self.opnames(func))
        h = new(0)
        put(h, 'v')
        self.assertEqual(vars(h), {'x': 'v'})
        vars(h)[1] = 2             # not only str keys: runs unfused
        put(h, 'w')
        self.assertEqual(get(h), 'w')
        self.assertEqual(vars(h), {'x': 'w', 1: 2})
        h = new(0)
        del h.x
        with self.assertRaisesRegex(AttributeError, "'x'"):
            get(h)
        put(h, [])                 # the entry is gone: a new one
        self.assertEqual(get(h), [])

    def test_unbound_local(self):
        def f(flag):
            if flag:
                o = types.SimpleNamespace(v=1)
            return o.v
        def g(flag):
            if flag:
                o = types.SimpleNamespace()
            o.v = 2
            return o
        for _ in range(self.WARM):
            self.assertEqual(f(True), 1)
            self.assertEqual(g(True).v, 2)
        with self.assertRaisesRegex(UnboundLocalError, "'o'"):
            f(False)
        with self.assertRaisesRegex(UnboundLocalError, "'o'"):
            g(False)

    def test_wins_over_other_superinstructions(self):
        class P:
            def __init__(self):
                self.x = 1
        def pair(a, p):
            return a, p.x             # LOAD_FAST a, LOAD_FAST p, LOAD_ATTR
        def store(v, p):
            p.x = v                   # LOAD_FAST v, LOAD_FAST p, STORE_ATTR
        def stored(p):
            q = p
            return q.x                # STORE_FAST q, LOAD_FAST q, LOAD_ATTR
        p = P()
        for i in range(self.WARM):
            self.assertEqual(pair(i, p), (i, i - 1 if i else 1))
            store(i, p)
            self.assertEqual(stored(p), i)
        for func, name in [(pair, 'LOAD_FAST__LOAD_ATTR'),
                           (store, 'LOAD_FAST__STORE_ATTR'),
                           (stored, 'LOAD_FAST__LOAD_ATTR')]:
            with self.subTest(func=func.__name__):
                self.assertEqual(self.fused(func), [name])
                ops = self.opnames(func)
                self.assertNotIn('LOAD_FAST__LOAD_FAST', ops)
                self.assertNotIn('STORE_FAST__LOAD_FAST', ops)

    def test_finalizer_of_the_old_value(self):
        # The old value is dropped after the store; its finalizer sees the
        # new value and may store again.
        seen = []
        class Old:
            def __del__(self):
                seen.append(owner.x)
                owner.x = 'from del'
        class O:
            pass
        def put(o, v):
            o.x = v
        owner = O()
        for i in range(self.WARM):
            put(owner, i)
        put(owner, Old())
        put(owner, 'new')
        self.assertEqual(seen, ['new'])
        self.assertEqual(owner.x, 'from del')

    def test_owner_refcount_untouched(self):
        class O:
            def __init__(self):
                self.x = 0
        def work(o, n):
            for _ in range(n):
                o.x = o.x + 1
        o = O()
        work(o, self.WARM)
        before = sys.getrefcount(o)
        work(o, 1000)
        self.assertEqual(sys.getrefcount(o), before)
        self.assertEqual(o.x, 1000 + self.WARM)

    def test_tracing(self):
        class P:
            def __init__(self):
                self.x = 1
        def work(p):
            v = p.x
            p.y = v
            return p.y
        p = P()
        for _ in range(self.WARM):
            work(p)
        lines = []
        def tracer(frame, event, arg):
            if frame.f_code is work.__code__ and event == 'line':
                lines.append(frame.f_lineno - work.__code__.co_firstlineno)
            return tracer
        old = sys.gettrace()
        sys.settrace(tracer)
        try:
            self.assertEqual(work(p), 1)
        finally:
            sys.settrace(old)
        self.assertEqual(lines, [1, 2, 3])


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
