"""Randomized heaps: hypothesis builds object graphs, sys.immortalize_heap()
is called at random points, a forked worker reads, mutates and collects.

Each example is a fresh interpreter (the "master") that builds a graph
from a spec hypothesis drew: nodes of the stdlib's types and subclasses of
builtins, objects with finalizers, weakrefs, slots, closures, suspended
generators, with random edges (cycles and self-references included). It
calls sys.immortalize_heap() at a random point of the building: in the
main thread, in another thread, inside a generator, in the middle of a
list comprehension (a list under construction), or twice. Right after
each call the auditor (Lib/immortal_audit.py, which shares no code with
the walk) must find nothing. A forked worker then checks the graph against
the spec, reads everything, mutates, collects, and exits; the master
checks the graph again, and at exit every finalizer runs exactly once.

hypothesis comes from PyPI (Tools/immortal/reliability/requirements.txt),
installed in a venv of the installed fork (IMMORTAL_SERVER_PREFIX), which
runs this file as a script: `python test_immortal_randomheaps.py
--examples N`. make test runs a bounded number of examples; `make
randomheaps` more (Doc/immortal/reliability.md).
"""

import json
import os
import subprocess
import sys
import unittest

from test import support

EXAMPLES = int(os.environ.get("IMMORTAL_RANDOMHEAP_EXAMPLES", "40"))

KINDS = ("list", "dict", "tuple", "set", "frozenset", "str", "bytes",
         "bigint", "float", "bytearray", "obj", "slots", "sublist",
         "subdict", "substr", "subint", "fin", "weakref", "closure", "gen",
         "deque", "ordered", "partial", "cellcycle")

# The master of one example: argv[1] is the spec, as JSON. Prints "ok" and
# "fin I" for each finalizer that ran, each on its own line.
MASTER = r'''
import collections, functools, gc, immortal_audit, json, os, sys
import threading, weakref

spec = json.loads(sys.argv[1])
print("pid", os.getpid())
kinds = spec["kinds"]
edges = spec["edges"]
nodes = []
keep = []          # what makes a weakref's target outlive the call

class Obj:
    pass

class Slots:
    __slots__ = ("a", "b", "__weakref__")

class SubList(list):
    pass

class SubDict(dict):
    pass

class SubStr(str):
    pass

class SubInt(int):
    pass

class Fin:
    def __init__(self, i):
        self.i = i
        self.refs = []

    def __del__(self):
        # A worker that frees one runs it too: the pid tells them apart.
        os.write(1, b"fin %d %d\n" % (self.i, os.getpid()))

def atoms(i):
    return (i, "s%d" % i, i * 0.5)

def make(i):
    k = kinds[i]
    if k == "list":
        return [*atoms(i)]
    if k == "dict":
        return {"a%d" % i: i}
    if k == "tuple":
        earlier = [nodes[j] for j in edges[i] if j < i]
        return (*atoms(i), *earlier)
    if k == "set":
        return {*atoms(i)}
    if k == "frozenset":
        return frozenset(atoms(i))
    if k == "str":
        return "str-%d-" % i * (1 + i % 40)
    if k == "bytes":
        return b"b%d" % i * (1 + i % 300)
    if k == "bigint":
        return 7 ** (50 + i)
    if k == "float":
        return i + 0.25
    if k == "bytearray":
        return bytearray(b"x" * (i + 1))
    if k == "obj":
        o = Obj()
        o.i = i
        return o
    if k == "slots":
        o = Slots()
        o.a = i
        return o
    if k == "sublist":
        return SubList(atoms(i))
    if k == "subdict":
        return SubDict(i=i)
    if k == "substr":
        return SubStr("sub%d" % i)
    if k == "subint":
        return SubInt(1000 + i)
    if k == "fin":
        return Fin(i)
    if k == "weakref":
        target = Obj()
        keep.append(target)
        return weakref.ref(target)
    if k == "closure":
        cell = [i]
        return lambda: cell
    if k == "gen":
        def g(n):
            for x in range(n):
                yield x
        it = g(i + 3)
        next(it)
        return it
    if k == "deque":
        return collections.deque(atoms(i))
    if k == "ordered":
        return collections.OrderedDict(a=i)
    if k == "partial":
        return functools.partial(max, i)
    if k == "cellcycle":
        def f():
            return f
        return f
    raise AssertionError(k)

def link(i):
    o = nodes[i]
    for j in edges[i]:
        t = nodes[j]
        k = kinds[i]
        if k in ("list", "sublist", "deque"):
            o.append(t)
        elif k in ("dict", "subdict", "ordered"):
            o["e%d" % j] = t
        elif k in ("obj", "fin"):
            setattr(o, "e%d" % j, t)
        elif k == "slots":
            o.b = t

def build(i):
    o = make(i)
    nodes.append(o)
    return o

def call():
    sys.immortalize_heap()
    findings = immortal_audit.audit(limit=5)
    if findings:
        print("audit:", [str(f) for f in findings])
        sys.stdout.flush()
        os._exit(3)        # from any thread

def call_in_thread():
    t = threading.Thread(target=call)
    t.start()
    t.join()

def building_generator(n, at):
    for i in range(n):
        if i == at:
            call()
        yield build(i)

n = len(kinds)
at = spec["at"]
how = spec["how"]
if how == "generator":
    for _ in building_generator(n, at):
        pass
elif how == "comprehension":
    made = [build(i) if i != at else (call(), build(i))[1]
            for i in range(n)]
    assert len(made) == n and all(a is b for a, b in zip(made, nodes))
else:
    for i in range(n):
        if i == at and how in ("main", "thread", "twice"):
            call_in_thread() if how == "thread" else call()
        build(i)
for i in range(n):
    link(i)
if how == "twice":
    call()
elif how == "end":
    call_in_thread() if spec["thread_at_end"] else call()

def check():
    assert len(nodes) == n
    for i, o in enumerate(nodes):
        k = kinds[i]
        if k in ("list", "sublist", "deque"):
            assert list(o)[:3] == list(atoms(i)), (i, k)
            assert all(x is nodes[j]
                       for x, j in zip(list(o)[3:], edges[i])), (i, k)
        elif k in ("dict", "subdict", "ordered"):
            assert all(o["e%d" % j] is nodes[j] for j in edges[i]), (i, k)
        elif k == "tuple":
            earlier = [j for j in edges[i] if j < i]
            assert o[:3] == atoms(i) and all(
                o[3 + m] is nodes[j] for m, j in enumerate(earlier)), (i, k)
        elif k in ("obj", "fin"):
            assert all(getattr(o, "e%d" % j) is nodes[j]
                       for j in edges[i]), (i, k)
        elif k == "weakref":
            assert o() is not None, i
        elif k == "closure":
            assert o() == [i], i
        elif k == "str":
            assert o == "str-%d-" % i * (1 + i % 40), i
        elif k == "bigint":
            assert o == 7 ** (50 + i), i

def read_all():
    total = 0
    for o in nodes:
        total += len(repr(o)) if not isinstance(o, (list, dict, tuple)) \
            else len(o)
        try:
            total += hash(o) & 1
        except TypeError:
            pass
        if isinstance(o, (list, tuple, set, frozenset, dict, str, bytes)):
            for x in o:
                total += 1
    return total

def mutate():
    for i, o in enumerate(nodes):
        k = kinds[i]
        if k in ("list", "sublist", "deque"):
            o.append(("new", i))
            del o[0]
        elif k in ("dict", "subdict", "ordered"):
            o["new"] = [i]
            o.pop("a%d" % i, None)
        elif k in ("set",):
            o.add(("new", i))
            o.discard(i)
        elif k == "bytearray":
            o[0] = 65
            o.extend(b"yz")
        elif k in ("obj", "fin"):
            o.new = i
        elif k == "slots":
            o.a = [i]
        elif k == "gen":
            for _ in o:
                pass

check()
before = read_all()
sys.stdout.flush()
pid = os.fork()
if pid == 0:
    code = 0
    try:
        check()
        assert read_all() == before
        mutate()
        gc.collect()
        read_all()
        nodes.clear()
        gc.collect()
    except BaseException as e:
        print("worker:", repr(e))
        code = 1
    sys.stdout.flush()
    os._exit(code)
_, status = os.waitpid(pid, 0)
assert status == 0, "worker status %d" % status
check()
assert read_all() == before
gc.collect()
print("ok")
sys.stdout.flush()
'''


def run_example(python, spec, master=MASTER):
    """Run one example's master; return (passed, detail)."""
    proc = subprocess.run([python, "-X", "faulthandler", "-c", master,
                           json.dumps(spec)],
                          capture_output=True, text=True, timeout=120)
    lines = proc.stdout.splitlines()
    pid = lines[0].split()[1] if lines and lines[0].startswith("pid ") else ""
    fins = sorted(int(x.split()[1]) for x in lines
                  if x.startswith("fin ") and x.split()[2] == pid)
    want = sorted(i for i, k in enumerate(spec["kinds"]) if k == "fin")
    if proc.returncode or "ok" not in lines or fins != want:
        return False, (f"exit {proc.returncode}, finalizers {fins} "
                       f"(want {want})\n{proc.stdout[-2000:]}"
                       f"{proc.stderr[-3000:]}")
    return True, ""


def driver(examples, python):
    """The hypothesis side: draw specs, run each one's master."""
    from hypothesis import given, settings, strategies as st, HealthCheck

    @st.composite
    def specs(draw):
        n = draw(st.integers(1, 40))
        kinds = draw(st.lists(st.sampled_from(KINDS), min_size=n,
                              max_size=n))
        edges = draw(st.lists(
            st.lists(st.integers(0, n - 1), max_size=4), min_size=n,
            max_size=n))
        return {
            "kinds": kinds,
            "edges": edges,
            "at": draw(st.integers(0, n - 1)),
            "how": draw(st.sampled_from(
                ("main", "thread", "generator", "comprehension", "twice",
                 "end"))),
            "thread_at_end": draw(st.booleans()),
        }

    tried = []

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(specs())
    def prop(spec):
        tried.append(spec)
        passed, detail = run_example(python, spec)
        assert passed, f"{json.dumps(spec)}\n{detail}"

    prop()
    hows = sorted({s["how"] for s in tried})
    kinds = {k for s in tried for k in s["kinds"]}
    print(json.dumps({"examples": len(tried), "hows": hows,
                      "kinds": len(kinds),
                      "nodes": sum(len(s["kinds"]) for s in tried)}))


@unittest.skipUnless(hasattr(sys, "immortalize_heap"),
                     "needs Immortal CPython")
class RandomHeapsTest(unittest.TestCase):

    def test_random_heaps(self):
        from test.test_immortal_prefork import (
            PREFIX, SERVERS_DIR, pypi_venv)
        if not PREFIX or not SERVERS_DIR:
            self.skipTest("IMMORTAL_SERVER_PREFIX and IMMORTAL_SERVERS_DIR "
                          "are not set; `make test` sets them")
        venv_python = pypi_venv(
            "reliability", "hypothesis", "-hypothesis",
            requirements=os.path.join(os.path.dirname(SERVERS_DIR),
                                      "reliability", "requirements.txt"))
        # The master runs on this interpreter (the build under test), the
        # driver on the venv's.
        proc = subprocess.run(
            [venv_python, __file__, "--examples", str(EXAMPLES),
             "--python", sys.executable],
            capture_output=True, text=True, timeout=3000)
        self.assertEqual(proc.returncode, 0,
                         proc.stdout[-3000:] + proc.stderr[-6000:])
        summary = json.loads(proc.stdout.splitlines()[-1])
        self.assertEqual(summary["examples"], EXAMPLES)
        if support.verbose:
            print("randomheaps:", json.dumps(summary))

    def test_one_example_without_hypothesis(self):
        # Every kind, cycles and self-references, the call in a list under
        # construction: the master alone, with this interpreter.
        n = len(KINDS)
        spec = {"kinds": list(KINDS),
                "edges": [[i, (i + 1) % n, (i * 7) % n] for i in range(n)],
                "at": n // 2, "how": "comprehension",
                "thread_at_end": False}
        passed, detail = run_example(sys.executable, spec)
        self.assertTrue(passed, detail)

    def test_a_planted_failure_is_reported(self):
        # A finalizer that runs twice would be caught.
        spec = {"kinds": ["fin", "fin"], "edges": [[1], [0]], "at": 0,
                "how": "main", "thread_at_end": False}
        self.assertTrue(run_example(sys.executable, spec)[0])
        master = MASTER.replace(
            'print("ok")', 'print("ok"); print("fin 0", os.getpid())')
        passed, detail = run_example(sys.executable, spec, master)
        self.assertFalse(passed)
        self.assertIn("finalizers [0, 0, 1] (want [0, 1])", detail)


if __name__ == "__main__":
    if "--examples" in sys.argv:
        args = sys.argv[1:]
        driver(int(args[args.index("--examples") + 1]),
               args[args.index("--python") + 1]
               if "--python" in args else sys.executable)
    else:
        unittest.main()
