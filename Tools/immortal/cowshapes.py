"""Shapes of warm data, for the copy-on-write probe's shape table.

Each shape is warm data of one kind that real applications keep in a
pre-fork master: a cache keyed by str, a translation catalog, parsed JSON,
run-time classes, compiled regexes, ... A shape has

- ``new()``: an empty container;
- ``add(container, i)``: put item i in it (the probe adds items until the
  master's Rss grew by the shape's target size);
- ``warm(container)``: what the master's warm-up does with it besides
  building it (default: read it once, as the worker will);
- ``read(container)``: what a worker's requests do with it. The worker
  reads it twice, then collects.

Pure standard library; runs under any Python 3.11. cowprobe.py imports it
(``--shape-table``) and measures each shape in a master of its own.
"""

import array
import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import ipaddress
import json
import pathlib
import re
import sqlite3
import uuid
import weakref

SHAPES = {}


def shape(name, doc):
    def register(cls):
        cls.name, cls.doc = name, doc
        SHAPES[name] = cls()
        return cls
    return register


class Shape:
    def new(self):
        return []

    def add(self, c, i):
        raise NotImplementedError

    def warm(self, c):
        self.read(c)

    def read(self, c):
        n = 0
        for x in c:
            n += 1
        return n


def text(i, width=3):
    return f"{i:09d} " + "lorem ipsum dolor sit amet " * width


# --- dicts ------------------------------------------------------------------

class DictShape(Shape):
    def new(self):
        return {}

    def read(self, c):
        n = 0
        for k, v in c.items():
            n += c[k] is v
        return n


@shape("dict-str-keys", "{'key-%d': int}: a cache keyed by str")
class DictStrKeys(DictShape):
    def add(self, c, i):
        c[f"key-{i}"] = i * 3

    def read(self, c):
        n = 0
        for k in c:
            n += len(k) + (c[k] & 1)
        return n


@shape("dict-int-keys", "{int: str}: an id map")
class DictIntKeys(DictShape):
    def add(self, c, i):
        c[i * 7919] = f"value-{i}"


@shape("dict-tuple-keys", "{(str, int): float}: a composite-key cache")
class DictTupleKeys(DictShape):
    def add(self, c, i):
        c[(f"region-{i % 97}", i)] = i / 3


@shape("dict-of-dicts", "{str: {str: ...}}: settings, per-tenant config")
class DictOfDicts(DictShape):
    def add(self, c, i):
        c[f"tenant{i}"] = {"name": f"Tenant {i}", "plan": ("free", "pro")[i & 1],
                           "quota": i * 10, "flags": [i & 1, i & 2]}

    def read(self, c):
        n = 0
        for k, v in c.items():
            n += len(v["name"]) + v["quota"] + len(v["flags"])
        return n


@shape("gettext-catalog", "{msgid: translation}: a translation catalog, "
       "non-ASCII text")
class GettextCatalog(DictShape):
    def add(self, c, i):
        c[f"The object “%(name)s” was changed successfully ({i})."] = (
            f"L’objet « %(name)s » a été modifié avec succès ({i}).")

    def read(self, c):
        n = 0
        for k in c:
            n += len(c.get(k) % {"name": "x"} if "%(" in k else k)
        return n


@shape("json-documents", "json.loads() results: API fixtures, schemas")
class JsonDocuments(Shape):
    def add(self, c, i):
        c.append(json.loads(json.dumps({
            "id": i, "title": f"Document {i}", "price": i / 7,
            "tags": ["a", "b", f"t{i % 50}"], "active": bool(i & 1),
            "author": {"name": f"Author {i % 300}", "email": f"a{i}@x.org"},
        })))

    def read(self, c):
        n = 0
        for d in c:
            n += d["id"] + len(d["title"]) + len(d["tags"])
            n += len(d["author"]["name"])
        return n


@shape("ordereddict", "collections.OrderedDict of str keys")
class OrderedDictShape(DictShape):
    def new(self):
        return collections.OrderedDict()

    def add(self, c, i):
        c[f"k{i}"] = (i, i + 1)


@shape("defaultdict-list", "defaultdict(list) keyed by str: an index")
class DefaultDictShape(DictShape):
    def new(self):
        return collections.defaultdict(list)

    def add(self, c, i):
        c[f"word{i // 3}"].append(i)

    def read(self, c):
        n = 0
        for k, v in c.items():
            n += len(c[k]) + len(v)
        return n


@shape("counter", "collections.Counter of str")
class CounterShape(DictShape):
    def new(self):
        return collections.Counter()

    def add(self, c, i):
        c[f"token-{i}"] += i % 5 + 1

    def read(self, c):
        return sum(c[k] for k in c) + len(c.most_common(10))


# --- sequences and sets -------------------------------------------------------

@shape("list-of-lists", "[[int, str, float], ...]: rows")
class ListOfLists(Shape):
    def add(self, c, i):
        c.append([i, f"row {i}", i * 0.25, None])

    def read(self, c):
        n = 0
        for row in c:
            n += row[0] + len(row[1])
        return n


@shape("tuples", "(int, str, float, bytes) records")
class Tuples(Shape):
    def add(self, c, i):
        c.append((i, f"name-{i}", i * 1.5, b"%d" % i))

    def read(self, c):
        n = 0
        for a, b, f, d in c:
            n += a + len(b) + len(d)
        return n


@shape("set-of-str", "{str}: an allow-list, membership tests")
class SetOfStr(Shape):
    def new(self):
        return [set()]

    def add(self, c, i):
        if len(c[-1]) >= 50000:
            c.append(set())
        c[-1].add(f"user-{i:08d}@example.org")

    def read(self, c):
        n = 0
        for s in c:
            for x in s:
                n += x in s
        return n


@shape("frozensets", "frozenset of ints: permission sets")
class Frozensets(Shape):
    def add(self, c, i):
        c.append(frozenset(range(i % 50, i % 50 + 12)))

    def read(self, c):
        return sum((3 in s) + len(s) for s in c)


@shape("deque", "collections.deque of tuples")
class DequeShape(Shape):
    def new(self):
        return collections.deque()

    def add(self, c, i):
        c.append((i, "event"))

    def read(self, c):
        return sum(t[0] for t in c)


# --- instances --------------------------------------------------------------

class Plain:
    def __init__(self, i):
        self.id = i
        self.name = f"item {i}"
        self.price = i / 3
        self.tags = ("x", "y")

    def total(self):
        return self.price * 2


class Slotted:
    __slots__ = ("id", "name", "price", "tags")

    def __init__(self, i):
        self.id = i
        self.name = f"item {i}"
        self.price = i / 3
        self.tags = ("x", "y")


@dataclasses.dataclass
class Data:
    id: int
    name: str
    price: float
    tags: tuple = ()


Point = collections.namedtuple("Point", "id name price tags")


def read_items(c):
    n = 0
    for o in c:
        n += o.id + len(o.name) + len(o.tags)
    return n


@shape("instances", "plain class instances (inline values)")
class Instances(Shape):
    def add(self, c, i):
        c.append(Plain(i))

    def read(self, c):
        return read_items(c) + sum(o.total() for o in c)


@shape("instances-dict", "instances whose __dict__ was materialized")
class InstancesDict(Shape):
    def add(self, c, i):
        o = Plain(i)
        vars(o)
        c.append(o)

    def read(self, c):
        return read_items(c) + sum(len(vars(o)) for o in c)


@shape("instances-vars-worker", "instances whose __dict__ the worker "
       "reads first (vars(), __dict__)")
class InstancesVarsWorker(Shape):
    def add(self, c, i):
        c.append(Plain(i))

    def warm(self, c):
        read_items(c)

    def read(self, c):
        return sum(len(vars(o)) for o in c)


@shape("slots", "__slots__ instances")
class SlotsShape(Shape):
    def add(self, c, i):
        c.append(Slotted(i))

    def read(self, c):
        return read_items(c)


@shape("dataclasses", "dataclass instances")
class DataclassShape(Shape):
    def add(self, c, i):
        c.append(Data(i, f"item {i}", i / 3, ("x",)))

    def read(self, c):
        return read_items(c) + sum(o == o for o in c[:1000])


@shape("namedtuples", "namedtuple instances")
class NamedtupleShape(Shape):
    def add(self, c, i):
        c.append(Point(i, f"item {i}", i / 3, ("x",)))

    def read(self, c):
        return read_items(c) + sum(p._asdict()["id"] for p in c[:1000])


@shape("runtime-classes", "classes made with type(), instantiated in "
       "the worker (ORMs, serializers)")
class RuntimeClasses(Shape):
    def add(self, c, i):
        def method(self):
            return self.a
        c.append(type(f"Model{i}", (object,), {
            "a": i, "b": f"field {i}", "method": method,
            "__init__": lambda self, x=i: setattr(self, "x", x)}))

    def warm(self, c):
        for cls in c:
            cls.method(cls())

    def read(self, c):
        n = 0
        for cls in c:
            o = cls()
            n += o.method() + o.x + len(cls.b)
        return n


@shape("runtime-enums", "enum.Enum classes made at run time, used in "
       "the worker")
class RuntimeEnums(Shape):
    def add(self, c, i):
        c.append(enum.Enum(f"Status{i}", [("DRAFT", 1), ("LIVE", 2),
                                           ("GONE", 3)]))

    def read(self, c):
        n = 0
        for E in c:
            n += E(2).value + len(E["LIVE"].name) + len(E.__members__)
            n += E.DRAFT in E
        return n


# --- numbers, bytes, other values -------------------------------------------

@shape("decimal", "decimal.Decimal prices")
class DecimalShape(Shape):
    def add(self, c, i):
        c.append(decimal.Decimal(i) / 100)

    def read(self, c):
        return sum(d > 5 for d in c) + len(str(c[-1]))


@shape("fraction", "fractions.Fraction values")
class FractionShape(Shape):
    def add(self, c, i):
        c.append(fractions.Fraction(i, 7))

    def read(self, c):
        return sum(f.numerator + f.denominator for f in c)


@shape("datetime", "datetime.datetime timestamps")
class DatetimeShape(Shape):
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)

    def add(self, c, i):
        c.append(self.base + datetime.timedelta(seconds=i * 61))

    def read(self, c):
        return sum(d.year + d.minute for d in c) + len(c[-1].isoformat())


@shape("uuid", "uuid.UUID keys")
class UUIDShape(Shape):
    def add(self, c, i):
        c.append(uuid.UUID(int=i * 0x9E3779B97F4A7C15 % (1 << 128)))

    def read(self, c):
        return sum(u.int & 1 for u in c) + len(str(c[-1]))


@shape("ipaddress", "ipaddress.IPv4Address and networks")
class IPShape(Shape):
    def add(self, c, i):
        c.append(ipaddress.IPv4Address(0x0A000000 + i))

    def read(self, c):
        net = ipaddress.IPv4Network("10.0.0.0/16")
        return sum(int(a) & 1 for a in c) + (c[0] in net)


@shape("big-ints", "ints beyond the small-int cache, some huge")
class BigInts(Shape):
    def add(self, c, i):
        c.append(i * 1000003 + (1 << (64 + i % 200)))

    def read(self, c):
        return sum(x & 0xFF for x in c)


@shape("floats", "floats")
class Floats(Shape):
    def add(self, c, i):
        c.append(i * 1.000001)

    def read(self, c):
        return sum(c)


@shape("bytes", "bytes values, some over 64 bytes")
class BytesShape(Shape):
    def add(self, c, i):
        c.append(b"%08d:" % i + b"payload " * (i % 12))

    def warm(self, c):
        pass        # never hashed in the master

    def read(self, c):
        return sum(len(b) + (hash(b) & 1) for b in c)


@shape("bytearray", "bytearray buffers")
class BytearrayShape(Shape):
    def add(self, c, i):
        c.append(bytearray(b"%08d" % i * 8))

    def read(self, c):
        return sum(b[0] for b in c)


@shape("array", "array.array('d') vectors")
class ArrayShape(Shape):
    def add(self, c, i):
        c.append(array.array("d", range(i % 7, i % 7 + 32)))

    def read(self, c):
        return sum(a[3] for a in c)


@shape("long-str", "str over 64 characters, hashed in the worker")
class LongStr(Shape):
    def add(self, c, i):
        c.append(text(i))

    def warm(self, c):
        pass        # text the master never hashed

    def read(self, c):
        return sum(hash(s) & 1 for s in c)


@shape("nonascii-str-utf8", "non-ASCII str passed to C APIs that take "
       "UTF-8 (sqlite3 parameters)")
class NonAsciiUTF8(Shape):
    db = None

    def add(self, c, i):
        c.append(f"Crème brûlée n°{i} – «{i % 97}»")

    def read(self, c):
        if self.db is None:
            self.db = sqlite3.connect(":memory:")
        cur = self.db.cursor()
        n = 0
        for s in c:
            n += len(cur.execute("select length(?)", (s,)).fetchone())
        return n

    def warm(self, c):
        pass        # the master never passed them to sqlite3


@shape("regex", "compiled regular expressions, matched in the worker")
class RegexShape(Shape):
    def add(self, c, i):
        c.append(re.compile(rf"^/articles/{i}/(?P<slug>[-\w]+)/(\d+)?$"))

    def read(self, c):
        n = 0
        for i, p in enumerate(c):
            n += p.match(f"/articles/{i}/some-slug/") is not None
        return n


@shape("lru-cache", "functools.lru_cache contents, hit in the worker")
class LRUCache(Shape):
    def new(self):
        @functools.lru_cache(maxsize=None)
        def unbounded(i):
            return (i, f"result {i}")

        @functools.lru_cache(maxsize=1 << 20)
        def bounded(i):
            return [i, f"result {i}"]
        return [unbounded, bounded, []]

    def add(self, c, i):
        c[i & 1](i)
        c[2].append(i)

    def read(self, c):
        n = 0
        for i in c[2]:
            n += len(c[i & 1](i))
        return n


@shape("closures", "closures and their cells (callbacks, handlers)")
class Closures(Shape):
    def add(self, c, i):
        prefix = f"handler-{i}"

        def handler(x, _n=i):
            return len(prefix) + x + _n
        c.append(handler)

    def read(self, c):
        return sum(f(1) for f in c)


@shape("weakvaluedict", "weakref.WeakValueDictionary (an identity map)")
class WeakValueDict(Shape):
    def new(self):
        return (weakref.WeakValueDictionary(), [], [])

    def add(self, c, i):
        o = Plain(i)
        c[1].append(o)
        c[2].append(f"obj-{i}")
        c[0][c[2][-1]] = o

    def read(self, c):
        wvd = c[0]
        return sum(wvd[k].id for k in c[2])


@shape("pathlib", "pathlib.PurePosixPath values (templates, static files)")
class PathlibShape(Shape):
    def add(self, c, i):
        c.append(pathlib.PurePosixPath(f"/srv/app/static/img/{i % 50}/"
                                       f"file-{i}.png"))

    def read(self, c):
        return sum(len(p.name) + len(p.suffix) + len(str(p)) for p in c)


@shape("functions", "module-level functions and their code, called")
class Functions(Shape):
    def add(self, c, i):
        ns = {}
        exec(f"def f{i}(x):\n    return x + {i}\n", ns)
        c.append(ns[f"f{i}"])

    def read(self, c):
        return sum(f(1) for f in c)


@shape("sorted-list", "sorted list of str searched with bisect")
class SortedList(Shape):
    def add(self, c, i):
        c.append(f"slug-{i:09d}")

    def read(self, c):
        import bisect
        return sum(bisect.bisect_left(c, c[i]) for i in range(0, len(c), 7))
