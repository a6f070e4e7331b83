"""Threads and subinterpreters read immortal objects at once: no refcount
and no GC header changes.

After sys.immortalize_heap(), a forked worker runs four threads that read
the shared heap (and collect) and two that create subinterpreters, which
share the static objects and the static types' dicts with the main one
(3.11 gives subinterpreters their own objects otherwise). Before and after,
the raw ob_refcnt and PyGC_Head words of every immortal object reachable
from the shared data, sys.modules and the static types are read with ctypes:
a check that does not go through the refcount code it checks, and that sees
every write to those words, not only the first to a page (the write
detector's unit). Doc/immortal/design.md says what a per-interpreter GIL
would change.
"""

import json
import sys
import unittest

from test import support
from test.support import import_helper, script_helper

import_helper.import_module('ctypes')
import_helper.import_module('_xxsubinterpreters')
import_helper.import_module('threading')

CODE = r'''
import ctypes, gc, json, os, sys, threading
import _xxsubinterpreters as interpreters

class Item:
    def __init__(self, i):
        self.i = i
        self.name = "item-%d" % i
        self.tags = [i, str(i), (i, i * 0.5)]

    def total(self):
        return self.i + len(self.name) + len(self.tags)

data = {"k%d" % i: Item(i) for i in range(20000)}
rows = [(i, "row %d" % i, i * 0.5, {"i": i}) for i in range(20000)]
STATIC = (None, True, False, 0, 1, 255, int, str, dict, list, tuple, type,
          object, "", (), b"", Item)
SUB = """
n = 0
for i in range(5000):
    n += len(str(i)) + int('7') + len(repr(None)) + isinstance(i, int)
s = ''.join(['a', 'b']).upper()
d = dict(a=1)
d.update(b=2)
import json, collections
json.loads(json.dumps({'a': [1, 2.5, None]}))
collections.OrderedDict(a=1)
assert n > 0
"""
gc.collect()
sys.immortalize_heap()

WORD = ctypes.sizeof(ctypes.c_ssize_t)
GC_HEAD = 2 * WORD

def words(o):
    """(ob_refcnt, _gc_next, _gc_prev) as stored; None where untracked."""
    refcnt = ctypes.c_ssize_t.from_address(id(o)).value
    if not gc.is_tracked(o):
        return refcnt, None, None
    head = (ctypes.c_size_t * 2).from_address(id(o) - GC_HEAD)
    return refcnt, head[0], head[1]

def immortal_graph():
    roots = [data, rows, sys.modules, STATIC]
    # A type's __dict__ is a new mappingproxy; its referent is the type's
    # own dict (static types are not GC objects: get_referents() of one
    # is empty).
    roots += [gc.get_referents(t.__dict__)[0] for t in STATIC
              if isinstance(t, type)]
    seen = {}
    todo = list(roots)
    while todo:
        o = todo.pop()
        if id(o) in seen or not sys._is_immortal(o):
            continue
        seen[id(o)] = o
        todo.extend(gc.get_referents(o))
    assert id(gc.get_referents(int.__dict__)[0]) in seen
    return list(seen.values())

def reader():
    PLANT
    n = 0
    for _ in range(3):
        for key, item in data.items():
            n += item.total() + len(key)
        for i, s, f, d in rows:
            n += i + len(s) + int(f) + d["i"]
        gc.collect()
    assert n > 0

def subinterpreters():
    for _ in range(3):
        interp = interpreters.create()
        interpreters.run_string(interp, SUB)
        interpreters.destroy(interp)

errors = []
def record(args):
    errors.append("%s: %s" % (args.exc_type.__name__, args.exc_value))
threading.excepthook = record

def child():
    objs = immortal_graph()
    assert len(objs) > 100000, len(objs)
    before = [words(o) for o in objs]
    threads = [threading.Thread(target=reader) for _ in range(4)]
    threads += [threading.Thread(target=subinterpreters) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = [words(o) for o in objs]
    refcounts = [type(o).__name__ for o, b, a in zip(objs, before, after)
                 if a[0] != b[0]]
    headers = [type(o).__name__ for o, b, a in zip(objs, before, after)
               if b[1] is not None and a[1:] != b[1:]]
    # An untracked container becomes tracked only when a container is
    # stored into it: a mutation (here threading's own dicts), whose
    # header write lands beside the one the mutation made (gc_immortal.h).
    adopted = [type(o).__name__ for o, b, a in zip(objs, before, after)
               if b[1] is None and a[1] is not None]
    assert not errors, errors          # every thread ran to its end
    print(json.dumps([len(objs), refcounts, headers, adopted]))

sys.stdout.flush()
pid = os.fork()
if pid == 0:
    code = 0
    try:
        child()
        sys.stdout.flush()
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
assert status == 0, status
'''


@unittest.skipUnless(hasattr(sys, 'immortalize_heap'),
                     'needs Immortal CPython')
@support.requires_fork()
class ConcurrentReadersTest(unittest.TestCase):

    def run_readers(self, plant='pass'):
        res = script_helper.assert_python_ok(
            '-X', 'faulthandler', '-c', CODE.replace('PLANT', plant))
        return json.loads(res.out)

    def test_threads_and_subinterpreters_write_no_header(self):
        count, refcounts, headers, adopted = self.run_readers()
        self.assertGreater(count, 100000)
        self.assertEqual(refcounts, [])
        self.assertEqual(headers, [])
        self.assertLessEqual(set(adopted), {'dict'})
        self.assertLess(len(adopted), 10)

    @unittest.skipIf(sys.maxsize < 2**32,
                     "on 32-bit builds the core's next touch re-centres a "
                     "drifted count (Include/immortal.h)")
    def test_planted_write_is_seen(self):
        # What a stock-ABI Py_INCREF() without its Py_DECREF() does, in
        # each reader: the comparison must see it.
        plant = ('o = data["k7"]; '
                 'ctypes.c_ssize_t.from_address(id(o)).value += 1')
        count, refcounts, headers, adopted = self.run_readers(plant)
        self.assertEqual(refcounts, ['Item'])


if __name__ == '__main__':
    unittest.main()
