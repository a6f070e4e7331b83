"""The PyPI binary-wheel corpus: one entry per PyPI project.

Plain data, stdlib only; importable by any Python 3.11.

Each entry of WHEELS is a dict:

  name       the PyPI project name (as pinned in wheels.txt)
  version    the pinned version (wheels.txt pins the same one)
  kind       how its compiled part was built, as seen inside the cp311
             manylinux x86_64 wheel: extension names and tags (.abi3.so,
             __mypyc), the Cython runtime string each .so carries
             (_cython_3_3_0 and so on, which gives the exact Cython version),
             pyo3 / pybind11 / nanobind strings, and the NEEDED entries
             (libstdc++, the bundled libgfortran)
  imports    the modules the smoke exercises (the first is the top package)
  smoke      Python statements that use the package and assert real
             results.  They may use the global DATA (2,000 small dicts, made
             by the driver, see make_data() below).  Each smoke is
             self-contained (it imports what it uses), needs no network and
             writes only under tempfile's directory, is deterministic, takes
             well under 2 s, and can run again in the same process and in a
             forked child: it makes fresh objects each time and closes its
             event loops, threads, servers and files.
  serialize  for projects that walk user data (serializers, validators): an
             expression that serializes DATA once, using only the modules in
             `imports` (the driver imports them, or runs the smoke first);
             else None
  extras     (optional) the extras to install it with: psycopg[binary]
  requires   (optional) other projects, pinned "name==version", that the
             smoke needs and that are not dependencies of this one

lock.py resolves all the entries together and writes wheels.txt.
"""


def make_data(n=2000):
    """The DATA that smoke and serialize expressions may use."""
    return [{"id": i, "name": "n%d" % i, "tags": ["a", "b"], "score": i / 3,
             "ok": i % 2 == 0} for i in range(n)]


# The pip that lock.py also pins in wheels.txt (a py3-none-any wheel), so a
# venv made by CPython 3.11.2 (bundled pip 22.3.1) can upgrade pip offline
# from the same download directory before installing the corpus.
PIP_VERSION = "26.3"


WHEELS = [
    # ---------------------------------------------------------------- numeric
    {"name": "numpy", "version": "2.4.6",
     "kind": "C + C++ core, Cython 3.2.4 (numpy.random), bundled OpenBLAS "
             "(libscipy_openblas64_, built with gfortran)",
     "imports": ["numpy", "numpy.random", "numpy.linalg"],
     "smoke": """\
import numpy, numpy.random, numpy.linalg
rng = numpy.random.Generator(numpy.random.PCG64(1))
assert rng.integers(0, 10, 5).shape == (5,)
assert numpy.arange(12).reshape(3, 4).sum() == 66
a = numpy.array([[3.0, 1.0], [1.0, 2.0]])
x = numpy.linalg.solve(a, numpy.array([9.0, 8.0]))
assert numpy.allclose(x, [2.0, 3.0])
scores = numpy.fromiter((d["score"] for d in DATA), dtype=float)
assert abs(scores.sum() - sum(d["score"] for d in DATA)) < 1e-6
assert numpy.sort(numpy.array([3, 1, 2]))[0] == 1
""",
     "serialize": None},

    {"name": "pandas", "version": "3.1.1",
     "kind": "Cython 3.3.1 + C (pandas._libs), one C++ extension",
     "imports": ["pandas"],
     "smoke": """\
import io
import pandas
df = pandas.DataFrame(DATA[:500])
g = df.groupby("ok")["score"].sum()
assert abs(g[True] + g[False] - df["score"].sum()) < 1e-9
assert df["id"].max() == 499 and len(df) == 500
csv = df[["id", "name"]].to_csv(index=False)
back = pandas.read_csv(io.StringIO(csv))
assert back["name"].iloc[7] == "n7" and back.shape == (500, 2)
s = pandas.Series(pandas.date_range("2024-01-01", periods=3, freq="D"))
assert s.dt.day.tolist() == [1, 2, 3]
""",
     "serialize": None},

    {"name": "scipy", "version": "1.17.1",
     "kind": "Fortran (gfortran: scipy.odr ODRPACK, FITPACK via f2py, "
             "bundled libgfortran + OpenBLAS) + Cython 3.2.4 + C++ "
             "+ pybind11",
     "imports": ["scipy", "scipy.linalg", "scipy.odr", "scipy.interpolate",
                 "scipy.optimize", "scipy.special", "scipy.sparse"],
     "smoke": """\
import warnings
import numpy
import scipy.linalg, scipy.interpolate, scipy.optimize, scipy.special, scipy.sparse
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import scipy.odr
a = numpy.array([[4.0, 1.0], [1.0, 3.0]])
assert numpy.allclose(scipy.linalg.cho_solve(scipy.linalg.cho_factor(a), [1.0, 2.0]),
                      numpy.linalg.solve(a, [1.0, 2.0]))
x = numpy.linspace(0.0, 10.0, 50)
y = 2.0 * x + 1.0
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fit = scipy.odr.ODR(scipy.odr.RealData(x, y), scipy.odr.unilinear).run()
assert numpy.allclose(fit.beta, [2.0, 1.0], atol=1e-6)
spl = scipy.interpolate.UnivariateSpline(x, numpy.sin(x), s=0)
assert abs(spl(1.0) - numpy.sin(1.0)) < 1e-3
r = scipy.optimize.minimize_scalar(lambda t: (t - 1.5) ** 2)
assert abs(r.x - 1.5) < 1e-6
assert abs(scipy.special.gamma(5.0) - 24.0) < 1e-9
m = scipy.sparse.csr_matrix(numpy.eye(4))
assert (m @ numpy.ones(4)).sum() == 4.0
""",
     "serialize": None},

    {"name": "scikit-learn", "version": "1.9.1",
     "kind": "Cython 3.2.5 (C and C++ extensions), OpenMP (bundled libgomp)",
     "imports": ["sklearn", "sklearn.tree", "sklearn.preprocessing",
                 "sklearn.metrics"],
     "smoke": """\
import numpy
import sklearn.tree, sklearn.preprocessing, sklearn.metrics
rng = numpy.random.RandomState(0)
X = rng.rand(200, 3)
y = (X[:, 0] + X[:, 1] > 1.0).astype(int)
clf = sklearn.tree.DecisionTreeClassifier(random_state=0).fit(X, y)
assert sklearn.metrics.accuracy_score(y, clf.predict(X)) == 1.0
Z = sklearn.preprocessing.StandardScaler().fit_transform(X)
assert numpy.allclose(Z.mean(axis=0), 0.0, atol=1e-12)
D = sklearn.metrics.pairwise_distances(X[:5], X[:5])
assert D.shape == (5, 5) and numpy.allclose(numpy.diag(D), 0.0)
""",
     "serialize": None},

    {"name": "pyarrow", "version": "26.0.1",
     "kind": "C++ (Arrow, libstdc++) + Cython 3.3.0",
     "imports": ["pyarrow", "pyarrow.compute", "pyarrow.ipc"],
     "smoke": """\
import pyarrow, pyarrow.compute, pyarrow.ipc
t = pyarrow.Table.from_pylist(DATA[:500])
assert t.num_rows == 500
assert pyarrow.compute.sum(t["id"]).as_py() == sum(range(500))
assert pyarrow.compute.sum(pyarrow.compute.cast(t["ok"], pyarrow.int64())).as_py() == 250
sink = pyarrow.BufferOutputStream()
with pyarrow.ipc.new_stream(sink, t.schema) as w:
    w.write_table(t)
back = pyarrow.ipc.open_stream(sink.getvalue()).read_all()
assert back.equals(t)
assert back.column("name")[3].as_py() == "n3"
""",
     "serialize": "pyarrow.Table.from_pylist(DATA)"},

    {"name": "h5py", "version": "3.16.0",
     "kind": "Cython 3.2.4, bundled libhdf5",
     "imports": ["h5py"],
     "smoke": """\
import io
import numpy, h5py
buf = io.BytesIO()
with h5py.File(buf, "w") as f:
    f.create_dataset("x", data=numpy.arange(100, dtype="i4"), compression="gzip")
    f["x"].attrs["unit"] = "m"
    f.create_group("g").create_dataset("y", data=[1.5, 2.5])
with h5py.File(io.BytesIO(buf.getvalue()), "r") as f:
    assert f["x"][:].sum() == 4950
    assert f["x"].attrs["unit"] == "m"
    assert list(f["g/y"][:]) == [1.5, 2.5]
""",
     "serialize": None},

    {"name": "shapely", "version": "2.2.0",
     "kind": "C (GEOS C API, bundled libgeos C++) + Cython 3.3.0",
     "imports": ["shapely", "shapely.wkt", "shapely.ops"],
     "smoke": """\
import shapely, shapely.wkt, shapely.ops
from shapely.geometry import Point, Polygon, box
sq = box(0, 0, 2, 2)
assert sq.area == 4.0
u = shapely.ops.unary_union([sq, box(1, 1, 3, 3)])
assert abs(u.area - 7.0) < 1e-12
c = Point(0, 0).buffer(1.0, 64)
assert abs(c.area - 3.14159) < 0.01
p = shapely.wkt.loads("POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))")
assert p.equals(Polygon([(0, 0), (1, 0), (1, 1), (0, 1)]))
pts = shapely.points([[0, 0], [1, 1], [5, 5]])
assert shapely.contains(sq, pts).tolist() == [False, True, False]
""",
     "serialize": None},

    {"name": "contourpy", "version": "1.3.3",
     "kind": "C++ pybind11",
     "imports": ["contourpy"],
     "smoke": """\
import numpy, contourpy
x, y = numpy.meshgrid(numpy.linspace(-1, 1, 41), numpy.linspace(-1, 1, 41))
z = x * x + y * y
gen = contourpy.contour_generator(x, y, z)
lines = gen.lines(0.25)
assert len(lines) == 1
r = numpy.hypot(lines[0][:, 0], lines[0][:, 1])
assert numpy.allclose(r, 0.5, atol=0.01)
filled = gen.filled(0.0, 0.25)
assert len(filled[0]) >= 1
""",
     "serialize": None},

    {"name": "matplotlib", "version": "3.11.2",
     "kind": "C++ pybind11 (_path, _image, ft2font, backend_agg...)",
     # only matplotlib itself here: matplotlib.figure loads the font cache,
     # which must go under MPLCONFIGDIR (set by the smoke) in a temp dir
     "imports": ["matplotlib"],
     "smoke": """\
import io, os, tempfile
os.environ.setdefault("MPLCONFIGDIR", os.path.join(tempfile.gettempdir(), "immortal-corpus-mpl"))
import matplotlib
matplotlib.use("Agg")
from matplotlib.figure import Figure
from matplotlib.backends.backend_agg import FigureCanvasAgg
import matplotlib._path, matplotlib.ft2font
assert matplotlib._path.__file__.endswith(".so") and matplotlib.ft2font.__file__.endswith(".so")
fig = Figure(figsize=(2, 2), dpi=50)
canvas = FigureCanvasAgg(fig)
ax = fig.add_subplot()
ax.plot([0, 1, 2], [0, 1, 4], label="sq")
ax.set_title("t")
ax.legend()
buf = io.BytesIO()
fig.savefig(buf, format="png")
assert buf.getvalue()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
canvas.draw()
w, h = canvas.get_width_height()
assert (w, h) == (100, 100)
assert len(bytes(canvas.buffer_rgba())) == 100 * 100 * 4
""",
     "serialize": None},

    {"name": "kiwisolver", "version": "1.5.1",
     "kind": "C++ (cppy)",
     "imports": ["kiwisolver"],
     "smoke": """\
import kiwisolver
x, y = kiwisolver.Variable("x"), kiwisolver.Variable("y")
s = kiwisolver.Solver()
s.addConstraint(x + y == 10)
s.addConstraint(x - y == 2)
s.addConstraint((x >= 0) | "required")
s.updateVariables()
assert (x.value(), y.value()) == (6.0, 4.0)
""",
     "serialize": None},

    {"name": "numexpr", "version": "2.14.2",
     "kind": "C++ (own VM and thread pool)",
     "imports": ["numexpr"],
     "smoke": """\
import numpy, numexpr
a = numpy.arange(1000.0)
b = numpy.ones(1000)
r = numexpr.evaluate("2 * a + b")
assert r[10] == 21.0 and r.sum() == 2 * a.sum() + 1000
assert numexpr.evaluate("sum(a)").item() == a.sum()
""",
     "serialize": None},

    {"name": "fonttools", "version": "4.68.0",
     "kind": "Cython 3.3.0 (cu2qu, bezierTools, qu2cu...)",
     "imports": ["fontTools", "fontTools.cu2qu", "fontTools.misc.bezierTools"],
     "smoke": """\
import fontTools.cu2qu, fontTools.cu2qu.cu2qu, fontTools.misc.bezierTools
assert fontTools.cu2qu.cu2qu.__file__.endswith(".so")
quad = fontTools.cu2qu.curve_to_quadratic([(0, 0), (0, 100), (100, 100), (100, 0)], 1.0)
assert quad[0] == (0, 0) and quad[-1] == (100, 0) and len(quad) >= 3
parts = fontTools.misc.bezierTools.splitCubicAtT((0, 0), (0, 100), (100, 100), (100, 0), 0.5)
assert len(parts) == 2 and parts[0][-1] == (50.0, 75.0)
""",
     "serialize": None},

    {"name": "manifold3d", "version": "3.5.4",
     "kind": "C++ nanobind",
     "imports": ["manifold3d"],
     "smoke": """\
import manifold3d
a = manifold3d.Manifold.cube((2.0, 2.0, 2.0))
b = manifold3d.Manifold.cube((2.0, 2.0, 2.0)).translate((1.0, 0.0, 0.0))
assert abs(a.volume() - 8.0) < 1e-9
assert abs((a + b).volume() - 12.0) < 1e-6
assert abs((a - b).volume() - 4.0) < 1e-6
assert abs((a ^ b).volume() - 4.0) < 1e-6
mesh = a.to_mesh()
assert mesh.vert_properties.shape[0] == 8
""",
     "serialize": None},

    # ------------------------------------------------------ web / server stack
    {"name": "requests", "version": "2.34.2",
     "kind": "pure Python (over urllib3, idna, and charset-normalizer, "
             "whose md/cd are Cython 3.3.1)",
     "imports": ["requests", "charset_normalizer"],
     "smoke": """\
import requests, requests.utils, requests.structures
req = requests.Request("GET", "http://example.invalid/a b", params={"q": "x y", "n": 1},
                       headers={"X-T": "1"}).prepare()
assert req.url == "http://example.invalid/a%20b?q=x+y&n=1"
assert req.headers["x-t"] == "1"
r = requests.Response()
r._content = "Überraschung, naïve café, déjà vu, façade".encode("utf-8") * 4
r.status_code = 200
assert r.apparent_encoding.lower().replace("_", "-") == "utf-8"
assert requests.utils.quote("a b") == "a%20b"
d = requests.structures.CaseInsensitiveDict({"Content-Type": "x"})
assert d["content-type"] == "x"
with requests.Session() as s:
    assert s.headers["User-Agent"].startswith("python-requests/")
""",
     "serialize": None},

    {"name": "charset-normalizer", "version": "3.5.3",
     "kind": "Cython 3.3.1 (charset_normalizer.md and .cd; earlier releases "
             "were mypyc)",
     "imports": ["charset_normalizer", "charset_normalizer.md"],
     "smoke": """\
import charset_normalizer, charset_normalizer.md
assert charset_normalizer.md.__file__.endswith(".so")
text = ("Всё смешалось в доме Облонских. Жена узнала, что муж был в связи с бывшею "
        "в их доме француженкою-гувернанткой, и объявила мужу, что не может жить "
        "с ним в одном доме. ") * 3
best = charset_normalizer.from_bytes(text.encode("cp1251")).best()
assert best is not None and best.encoding == "cp1251" and str(best) == text
best = charset_normalizer.from_bytes("héllo wörld, ça va? ".encode("utf-8") * 5).best()
assert best.encoding == "utf_8"
""",
     "serialize": None},

    {"name": "lxml", "version": "6.1.3",
     "kind": "Cython 3.2.9 (bundled libxml2/libxslt)",
     "imports": ["lxml", "lxml.etree", "lxml.html"],
     "smoke": """\
import lxml.etree, lxml.html
root = lxml.etree.fromstring("<r><i n='1'>a</i><i n='2'>b</i><j/></r>")
assert root.xpath("count(//i)") == 2.0
assert [e.text for e in root.iterfind("i")] == ["a", "b"]
root.append(lxml.etree.Element("k", x="y"))
s = lxml.etree.tostring(root)
assert s.endswith(b'<k x="y"/></r>')
xslt = lxml.etree.XSLT(lxml.etree.fromstring(
    '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
    '<xsl:template match="/"><o><xsl:value-of select="count(//i)"/></o></xsl:template>'
    '</xsl:stylesheet>'))
assert str(xslt(root)).strip().endswith("<o>2</o>")
doc = lxml.html.fromstring("<div><p class='x'>Hi <b>there</b></p></div>")
assert doc.text_content() == "Hi there"
assert lxml.etree.XMLSchema(lxml.etree.fromstring(
    '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="r" type="xs:int"/></xs:schema>'
)).validate(lxml.etree.fromstring("<r>5</r>"))
""",
     "serialize": None},

    {"name": "SQLAlchemy", "version": "2.1.9",
     "kind": "Cython 3.3.1 (sqlalchemy.engine._row_cy, sql._util_cy...)",
     "imports": ["sqlalchemy", "sqlalchemy.orm"],
     "smoke": """\
import sqlalchemy as sa, sqlalchemy.orm
from sqlalchemy.util._has_cython import HAS_CYEXTENSION
assert HAS_CYEXTENSION
md = sa.MetaData()
t = sa.Table("t", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("name", sa.String), sa.Column("score", sa.Float),
             sa.Column("ok", sa.Boolean))
eng = sa.create_engine("sqlite://")
try:
    md.create_all(eng)
    with eng.begin() as c:
        c.execute(t.insert(), [{k: d[k] for k in ("id", "name", "score", "ok")}
                               for d in DATA[:500]])
    with eng.connect() as c:
        n = c.execute(sa.select(sa.func.count()).select_from(t).where(t.c.ok)).scalar()
        assert n == 250
        rows = c.execute(sa.select(t.c.id, t.c.name).where(t.c.id < 3).order_by(t.c.id)).all()
        assert [tuple(r) for r in rows] == [(0, "n0"), (1, "n1"), (2, "n2")]
        assert rows[1]._mapping["name"] == "n1"
    with sqlalchemy.orm.Session(eng) as s:
        assert s.scalar(sa.select(sa.func.max(t.c.id))) == 499
finally:
    eng.dispose()
""",
     "serialize": None},

    {"name": "psycopg", "version": "3.3.9", "extras": ["binary"],
     "kind": "pure Python over psycopg-binary 3.3.9: Cython 3.3.1 "
             "(psycopg_binary._psycopg, bundled libpq)",
     "imports": ["psycopg", "psycopg_binary", "psycopg.sql",
                 "psycopg.types.json"],
     "smoke": """\
import psycopg, psycopg.sql, psycopg.adapt, psycopg.types.json
assert psycopg.pq.__impl__ == "binary"
assert psycopg.pq.version() >= 100000
q = psycopg.sql.SQL("SELECT {f} FROM {t} WHERE id = {v}").format(
    f=psycopg.sql.SQL(", ").join([psycopg.sql.Identifier("a"), psycopg.sql.Identifier("b c")]),
    t=psycopg.sql.Identifier("s", "t"), v=psycopg.sql.Literal(42))
assert q.as_string(None) == 'SELECT "a", "b c" FROM "s"."t" WHERE id = 42'
tx = psycopg.adapt.Transformer(psycopg.adapters)
dumper = tx.get_dumper(psycopg.types.json.Jsonb(DATA[:10]), psycopg.adapt.PyFormat.TEXT)
out = bytes(dumper.dump(psycopg.types.json.Jsonb(DATA[:10])))
assert out.startswith(b'[{"id": 0, "name": "n0"')
assert bytes(tx.get_dumper(12345, psycopg.adapt.PyFormat.TEXT).dump(12345)) == b"12345"
assert type(tx).__module__.startswith("psycopg_binary")
""",
     "serialize": None},

    {"name": "psycopg2-binary", "version": "2.9.13",
     "kind": "C (psycopg2._psycopg, bundled libpq)",
     "imports": ["psycopg2", "psycopg2.extensions", "psycopg2.extras"],
     "smoke": """\
import psycopg2, psycopg2.extensions, psycopg2.extras
adapt = psycopg2.extensions.adapt
assert adapt(42).getquoted() == b"42"
assert adapt([1, 2, 3]).getquoted() == b"ARRAY[1,2,3]"
assert adapt(None).getquoted() == b"NULL"
assert adapt(1.5).getquoted() == b"1.5"
assert psycopg2.extras.Json({"a": [1, 2]}).getquoted() == b"'{\\"a\\": [1, 2]}'"
assert psycopg2.extensions.libpq_version() >= 100000
assert psycopg2.extensions.parse_dsn("dbname=x user=y") == {"dbname": "x", "user": "y"}
assert psycopg2.extensions.quote_ident is not None
""",
     "serialize": None},

    {"name": "asyncpg", "version": "0.32.0",
     "kind": "Cython 3.3.0 (asyncpg.protocol, asyncpg.pgproto)",
     "imports": ["asyncpg", "asyncpg.pgproto.pgproto", "asyncpg.protocol"],
     "smoke": """\
import uuid
import asyncpg, asyncpg.pgproto.pgproto as pgproto, asyncpg.types
u = pgproto.UUID("12345678-1234-5678-1234-567812345678")
assert u == uuid.UUID("12345678-1234-5678-1234-567812345678")
assert str(u) == "12345678-1234-5678-1234-567812345678" and u.int == uuid.UUID(str(u)).int
r = asyncpg.types.Range(1, 5)
assert r.lower == 1 and r.upper == 5 and not r.isempty
assert asyncpg.protocol.protocol.__file__.endswith(".so")
""",
     "serialize": None},

    {"name": "uvloop", "version": "0.23.0",
     "kind": "Cython 3.3.0 (bundled libuv)",
     "imports": ["uvloop"],
     "smoke": """\
import asyncio, socket
import uvloop

async def main():
    async def handle(reader, writer):
        data = await reader.readline()
        writer.write(data.upper())
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping\\n")
    line = await reader.readline()
    writer.close()
    server.close()
    await server.wait_closed()
    a, b = socket.socketpair()
    a.setblocking(False); b.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(a, b"xyz")
    got = await loop.sock_recv(b, 3)
    a.close(); b.close()
    await asyncio.sleep(0)
    return line, got, type(loop).__module__

loop = uvloop.new_event_loop()
try:
    line, got, mod = loop.run_until_complete(asyncio.wait_for(main(), 5))
finally:
    loop.close()
assert line == b"PING\\n" and got == b"xyz" and mod.startswith("uvloop")
""",
     "serialize": None},

    {"name": "httptools", "version": "0.9.0",
     "kind": "Cython 3.3.0 (bundled llhttp C)",
     "imports": ["httptools"],
     "smoke": """\
import httptools
class P:
    def __init__(self):
        self.headers, self.body, self.url, self.done = {}, b"", None, False
    def on_url(self, url): self.url = url
    def on_header(self, k, v): self.headers[k.lower()] = v
    def on_body(self, b): self.body += b
    def on_message_complete(self): self.done = True
p = P()
parser = httptools.HttpRequestParser(p)
parser.feed_data(b"POST /a/b?x=1 HTTP/1.1\\r\\nHost: h\\r\\nContent-Length: 5\\r\\n\\r\\nhello")
assert p.done and p.body == b"hello" and p.headers[b"host"] == b"h"
assert parser.get_method() == b"POST" and parser.get_http_version() == "1.1"
u = httptools.parse_url(p.url)
assert u.path == b"/a/b" and u.query == b"x=1"
""",
     "serialize": None},

    {"name": "aiohttp", "version": "3.14.5",
     "kind": "Cython 3.2.5 (_http_parser over llhttp, _http_writer) + C "
             "(_websocket mask)",
     "imports": ["aiohttp", "aiohttp.web", "aiohttp.test_utils",
                 "aiohttp._http_parser"],
     "smoke": """\
import asyncio
import aiohttp, aiohttp.web, aiohttp.test_utils, aiohttp.http_parser
import multidict, yarl
assert aiohttp.http_parser.HttpResponseParser.__module__ == "aiohttp._http_parser"
u = yarl.URL("http://127.0.0.1/x").with_query({"a": "1 2"})
assert str(u) == "http://127.0.0.1/x?a=1+2"
h = multidict.CIMultiDict([("X-A", "1"), ("x-a", "2")])
assert h.getall("x-A") == ["1", "2"]

async def hello(request):
    return aiohttp.web.json_response({"n": int(request.query["n"]) + 1,
                                      "h": request.headers.get("X-T")})

async def main():
    app = aiohttp.web.Application()
    app.router.add_get("/hello", hello)
    async with aiohttp.test_utils.TestClient(aiohttp.test_utils.TestServer(app, host="127.0.0.1")) as client:
        resp = await client.get("/hello", params={"n": "41"}, headers={"X-T": "t"})
        assert resp.status == 200
        return await resp.json()

loop = asyncio.new_event_loop()
try:
    got = loop.run_until_complete(asyncio.wait_for(main(), 5))
finally:
    loop.close()
assert got == {"n": 42, "h": "t"}
""",
     "serialize": None},

    {"name": "gevent", "version": "26.9.0",
     "kind": "Cython 3.3.0 + C (libev and libuv loops; two abi3 CFFI "
             "modules)",
     "imports": ["gevent", "gevent.queue", "gevent.pool"],
     "smoke": """\
import gevent, gevent.queue, gevent.pool, gevent.event
q = gevent.queue.Queue()
def producer():
    for i in range(5):
        q.put(i)
        gevent.sleep(0)
    q.put(None)
def consumer():
    out = []
    while True:
        v = q.get()
        if v is None:
            return out
        out.append(v * v)
g1, g2 = gevent.spawn(producer), gevent.spawn(consumer)
gevent.joinall([g1, g2], timeout=5)
assert g2.value == [0, 1, 4, 9, 16]
ev = gevent.event.Event()
gevent.spawn_later(0.001, ev.set)
assert ev.wait(5)
assert list(gevent.pool.Pool(3).imap(lambda x: x + 1, range(6))) == [1, 2, 3, 4, 5, 6]
gevent.get_hub().destroy(destroy_loop=True)
""",
     "serialize": None},

    {"name": "greenlet", "version": "3.5.6",
     "kind": "C++",
     "imports": ["greenlet"],
     "smoke": """\
import greenlet
def gen(n):
    for i in range(n):
        greenlet.getcurrent().parent.switch(i)
    return "done"
g = greenlet.greenlet(gen)
got = [g.switch(4)]
while not g.dead:
    got.append(g.switch())
assert got == [0, 1, 2, 3, "done"]
""",
     "serialize": None},

    {"name": "grpcio", "version": "1.85.3",
     "kind": "C++ (gRPC core, libstdc++) + Cython 3.2.8 (grpc._cython.cygrpc)",
     "imports": ["grpc"],
     "smoke": """\
import concurrent.futures
import grpc

def upper(request, context):
    return request.upper()

handler = grpc.method_handlers_generic_handler(
    "corpus.Echo", {"Upper": grpc.unary_unary_rpc_method_handler(upper)})
pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
server = grpc.server(pool, handlers=[handler])
port = server.add_insecure_port("127.0.0.1:0")
server.start()
try:
    with grpc.insecure_channel("127.0.0.1:%d" % port) as channel:
        grpc.channel_ready_future(channel).result(timeout=5)
        call = channel.unary_unary("/corpus.Echo/Upper")
        assert call(b"hello", timeout=5) == b"HELLO"
        assert call(b"x" * 1000, timeout=5) == b"X" * 1000
finally:
    server.stop(None).wait(5)
    pool.shutdown(wait=True)
""",
     "serialize": None},

    {"name": "websockets", "version": "17.4",
     "kind": "C (websockets.speedups)",
     "imports": ["websockets", "websockets.speedups", "websockets.frames"],
     "smoke": """\
import websockets.speedups, websockets.client, websockets.server, websockets.frames
assert websockets.speedups.apply_mask(b"\\x00\\x01\\x02\\x03", b"\\x01\\x01\\x01\\x01") == b"\\x01\\x00\\x03\\x02"
from websockets.uri import parse_uri
client = websockets.client.ClientProtocol(parse_uri("ws://127.0.0.1/chat"))
server = websockets.server.ServerProtocol()
req = client.connect()
client.send_request(req)
for b in client.data_to_send():
    server.receive_data(b)
sreq = server.events_received()[0]
resp = server.accept(sreq)
server.send_response(resp)
for b in server.data_to_send():
    client.receive_data(b)
assert client.events_received()[0].status_code == 101
client.send_text(("hé" * 1000).encode())
for b in client.data_to_send():
    server.receive_data(b)
frame = server.events_received()[0]
assert frame.opcode == websockets.frames.Opcode.TEXT and frame.data.decode() == "hé" * 1000
""",
     "serialize": None},

    {"name": "multidict", "version": "7.2.1",
     "kind": "C",
     "imports": ["multidict"],
     "smoke": """\
import multidict
assert multidict.MultiDict.__module__ == "multidict._multidict"
d = multidict.MultiDict([("a", 1), ("b", 2), ("a", 3)])
assert d.getall("a") == [1, 3] and d["b"] == 2 and len(d) == 3
ci = multidict.CIMultiDict(Content_Type="x")
ci.add("content_type", "y")
assert ci.getall("CONTENT_TYPE") == ["x", "y"]
p = multidict.MultiDictProxy(d)
assert list(p.items()) == [("a", 1), ("b", 2), ("a", 3)]
d.popall("a")
assert list(d.items()) == [("b", 2)]
""",
     "serialize": None},

    {"name": "yarl", "version": "1.25.1",
     "kind": "Cython 3.3.0 (yarl._quoting_c)",
     "imports": ["yarl", "yarl._quoting_c"],
     "smoke": """\
import yarl, yarl._quoting_c
u = yarl.URL("https://user@example.com:8443/päth/a%20b?x=1&y=ü#frag")
assert u.host == "example.com" and u.port == 8443 and u.user == "user"
assert u.path == "/päth/a b" and u.query["y"] == "ü" and u.fragment == "frag"
v = u.with_path("/new path").update_query(z="2")
assert v.raw_path == "/new%20path" and v.query["z"] == "2"
assert str(yarl.URL.build(scheme="http", host="h", path="/p", query={"q": "a b"})) == "http://h/p?q=a+b"
assert yarl._quoting_c._Quoter()("a b") == "a%20b"
""",
     "serialize": None},

    {"name": "frozenlist", "version": "1.8.0",
     "kind": "Cython 3.1.4 (compiled as C++, libstdc++)",
     "imports": ["frozenlist"],
     "smoke": """\
import frozenlist
assert frozenlist.FrozenList.__module__ == "frozenlist._frozenlist"
fl = frozenlist.FrozenList([1, 2])
fl.append(3)
fl.freeze()
assert fl.frozen and list(fl) == [1, 2, 3] and hash(fl) == hash((1, 2, 3))
try:
    fl.append(4)
except RuntimeError:
    pass
else:
    raise AssertionError("frozen list accepted append")
""",
     "serialize": None},

    {"name": "propcache", "version": "0.5.4",
     "kind": "Cython 3.3.0 (propcache._helpers_c)",
     "imports": ["propcache", "propcache.api"],
     "smoke": """\
import propcache.api
assert propcache.api.cached_property.__module__ == "propcache._helpers_c"
class C:
    def __init__(self):
        self._cache = {}
        self.calls = 0
    @propcache.api.under_cached_property
    def v(self):
        self.calls += 1
        return 42
    @propcache.api.cached_property
    def w(self):
        self.calls += 1
        return "w"
c = C()
assert (c.v, c.v, c.w, c.w) == (42, 42, "w", "w") and c.calls == 2
""",
     "serialize": None},

    {"name": "setproctitle", "version": "1.3.8",
     "kind": "C",
     "imports": ["setproctitle"],
     "smoke": """\
import setproctitle
old = setproctitle.getproctitle()
try:
    setproctitle.setproctitle("immortal-corpus-worker")
    assert setproctitle.getproctitle() == "immortal-corpus-worker"
finally:
    setproctitle.setproctitle(old)
assert setproctitle.getproctitle() == old
""",
     "serialize": None},

    {"name": "psutil", "version": "7.2.2",
     "kind": "C (abi3, cp36-abi3)",
     "imports": ["psutil"],
     "smoke": """\
import os
import psutil
p = psutil.Process(os.getpid())
assert p.pid == os.getpid() and p.memory_info().rss > 0
assert p.memory_full_info().uss > 0
assert psutil.cpu_count() >= 1 and psutil.virtual_memory().total > 0
assert p.status() in (psutil.STATUS_RUNNING, psutil.STATUS_SLEEPING)
assert os.getpid() in psutil.pids()
""",
     "serialize": None},

    # -------------------------------------------- serializers and validators
    {"name": "orjson", "version": "3.13.0",
     "kind": "Rust (pyo3-ffi), cp311 (not abi3)",
     "imports": ["orjson"],
     "smoke": """\
import orjson
s = orjson.dumps(DATA)
assert orjson.loads(s) == DATA
assert orjson.dumps({"b": 1, "a": [1.5, None, True]}, option=orjson.OPT_SORT_KEYS) == b'{"a":[1.5,null,true],"b":1}'
""",
     "serialize": "orjson.dumps(DATA)"},

    {"name": "ujson", "version": "6.1.0",
     "kind": "C + C++ (double-conversion, libstdc++)",
     "imports": ["ujson"],
     "smoke": """\
import ujson
s = ujson.dumps(DATA)
assert ujson.loads(s) == DATA
assert ujson.dumps({"a": [1, 2.5, None]}) == '{"a":[1,2.5,null]}'
""",
     "serialize": "ujson.dumps(DATA)"},

    {"name": "simplejson", "version": "4.3.0",
     "kind": "C (simplejson._speedups)",
     "imports": ["simplejson", "simplejson._speedups"],
     "smoke": """\
import decimal
import simplejson, simplejson._speedups
assert simplejson._speedups.make_encoder is not None
s = simplejson.dumps(DATA)
assert simplejson.loads(s) == DATA
assert simplejson.loads("1.10", use_decimal=True) == decimal.Decimal("1.10")
assert simplejson.dumps({"b": 1, "a": 2}, sort_keys=True) == '{"a": 2, "b": 1}'
""",
     "serialize": "simplejson.dumps(DATA)"},

    {"name": "python-rapidjson", "version": "1.25",
     "kind": "C++ (RapidJSON, libstdc++)",
     "imports": ["rapidjson"],
     "smoke": """\
import rapidjson
s = rapidjson.dumps(DATA)
assert rapidjson.loads(s) == DATA
v = rapidjson.Validator('{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}')
v('{"id": 1}')
try:
    v('{"id": "x"}')
except rapidjson.ValidationError:
    pass
else:
    raise AssertionError("invalid document accepted")
""",
     "serialize": "rapidjson.dumps(DATA)"},

    {"name": "msgpack", "version": "1.2.4",
     "kind": "Cython 3.3.0 (msgpack._cmsgpack)",
     "imports": ["msgpack"],
     "smoke": """\
import msgpack
from msgpack import _cmsgpack
assert msgpack.Packer is _cmsgpack.Packer
b = msgpack.packb(DATA)
assert msgpack.unpackb(b) == DATA
u = msgpack.Unpacker()
u.feed(msgpack.packb([1, "x"]) + msgpack.packb({"k": b"v"}))
assert list(u) == [[1, "x"], {"k": b"v"}]
""",
     "serialize": "msgpack.packb(DATA)"},

    {"name": "cbor2", "version": "6.3.0",
     "kind": "Rust PyO3, cp311 (not abi3)",
     "imports": ["cbor2"],
     "smoke": """\
import datetime
import cbor2
b = cbor2.dumps(DATA)
assert cbor2.loads(b) == DATA
dt = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
assert cbor2.loads(cbor2.dumps({"t": dt, "b": b"\\x00"})) == {"t": dt, "b": b"\\x00"}
""",
     "serialize": "cbor2.dumps(DATA)"},

    {"name": "PyYAML", "version": "6.0.4",
     "kind": "Cython 3.3.1 (yaml._yaml over bundled libyaml)",
     "imports": ["yaml", "yaml._yaml"],
     "smoke": """\
import yaml
assert yaml.__with_libyaml__
s = yaml.dump(DATA[:200], Dumper=yaml.CSafeDumper)
assert yaml.load(s, Loader=yaml.CSafeLoader) == DATA[:200]
assert yaml.load("a: [1, 2]\\nb: {c: x}\\n", Loader=yaml.CSafeLoader) == {"a": [1, 2], "b": {"c": "x"}}
""",
     "serialize": "yaml.dump(DATA, Dumper=yaml.CSafeDumper)"},

    {"name": "ruamel.yaml.clib", "version": "0.2.15",
     "requires": ["ruamel.yaml==0.19.1"],
     "kind": "Cython 3.0.11 (_ruamel_yaml over libyaml), used through "
             "ruamel.yaml 0.19.1",
     "imports": ["_ruamel_yaml", "ruamel.yaml"],
     "smoke": """\
import io
import _ruamel_yaml
import ruamel.yaml
y = ruamel.yaml.YAML(typ="safe", pure=False)
assert y.Parser is _ruamel_yaml.CParser and y.Emitter is _ruamel_yaml.CEmitter
buf = io.StringIO()
y.dump(DATA[:200], buf)
assert y.load(buf.getvalue()) == DATA[:200]
""",
     # dump() returns None: the lambda hands back the YAML text
     "serialize": "(lambda y, s: (y.dump(DATA, s), s.getvalue())[1])("
                  "ruamel.yaml.YAML(typ='safe', pure=False), __import__('io').StringIO())"},

    {"name": "pydantic-core", "version": "2.50.5",
     "kind": "Rust PyO3, cp311 (not abi3)",
     "imports": ["pydantic_core"],
     "smoke": """\
import pydantic_core
from pydantic_core import core_schema as cs
item = cs.typed_dict_schema({
    "id": cs.typed_dict_field(cs.int_schema()),
    "name": cs.typed_dict_field(cs.str_schema()),
    "tags": cs.typed_dict_field(cs.list_schema(cs.str_schema())),
    "score": cs.typed_dict_field(cs.float_schema()),
    "ok": cs.typed_dict_field(cs.bool_schema())})
v = pydantic_core.SchemaValidator(cs.list_schema(item))
assert v.validate_python(DATA) == DATA
assert v.validate_json(pydantic_core.to_json(DATA)) == DATA
try:
    v.validate_python([{"id": "x"}])
except pydantic_core.ValidationError as e:
    assert e.error_count() >= 1
else:
    raise AssertionError("invalid data accepted")
""",
     "serialize": "pydantic_core.to_json(DATA)"},

    {"name": "pydantic", "version": "2.14.4",
     "kind": "pure Python over pydantic-core (Rust PyO3)",
     "imports": ["pydantic"],
     "smoke": """\
import pydantic
class Item(pydantic.BaseModel):
    id: int
    name: str
    tags: list[str]
    score: float
    ok: bool
ta = pydantic.TypeAdapter(list[Item])
items = ta.validate_python(DATA)
assert items[5].name == "n5" and items[5].tags == ["a", "b"]
assert ta.dump_python(items) == DATA
assert Item.model_validate_json('{"id": 1, "name": "x", "tags": [], "score": 1, "ok": false}').score == 1.0
""",
     "serialize": "pydantic.TypeAdapter(list[dict]).dump_json(DATA)"},

    {"name": "jiter", "version": "0.19.0",
     "kind": "Rust PyO3, cp311 (not abi3)",
     "imports": ["jiter"],
     "smoke": """\
import json
import jiter
s = json.dumps(DATA).encode()
assert jiter.from_json(s) == DATA
assert jiter.from_json(b'{"a": [1, 2.5, "x"', partial_mode=True) == {"a": [1, 2.5, "x"]}
""",
     "serialize": None},

    {"name": "rpds-py", "version": "2026.9.1",
     "kind": "Rust PyO3, cp311 (not abi3)",
     "imports": ["rpds"],
     "smoke": """\
import rpds
m = rpds.HashTrieMap({"a": 1})
m2 = m.insert("b", 2)
assert dict(m) == {"a": 1} and dict(m2) == {"a": 1, "b": 2}
l = rpds.List([1, 2, 3]).push_front(0)
assert list(l) == [0, 1, 2, 3]
s = rpds.HashTrieSet([1, 2]).insert(3)
assert sorted(s) == [1, 2, 3] and 2 in s
""",
     "serialize": None},

    {"name": "protobuf", "version": "7.36.2",
     "kind": "C (upb; the .so also links libstdc++), cp310-abi3",
     "imports": ["google.protobuf", "google.protobuf.struct_pb2"],
     "smoke": """\
from google.protobuf.internal import api_implementation
from google.protobuf import struct_pb2, timestamp_pb2, json_format, descriptor_pb2
assert api_implementation.Type() == "upb"
s = struct_pb2.Struct()
s.update({"a": 1, "b": [True, "x"], "c": {"d": None}})
b = s.SerializeToString()
s2 = struct_pb2.Struct()
s2.ParseFromString(b)
assert json_format.MessageToDict(s2) == {"a": 1.0, "b": [True, "x"], "c": {"d": None}}
t = timestamp_pb2.Timestamp(seconds=86400)
assert t.ToJsonString() == "1970-01-02T00:00:00Z"
fd = descriptor_pb2.FileDescriptorProto(name="x.proto", package="p")
assert descriptor_pb2.FileDescriptorProto.FromString(fd.SerializeToString()).package == "p"
""",
     "serialize": None},

    # ----------------------------------------------------- crypto, text, misc
    {"name": "cryptography", "version": "50.0.2",
     "kind": "Rust PyO3, cp311-abi3 (statically linked OpenSSL)",
     "imports": ["cryptography", "cryptography.fernet",
                 "cryptography.hazmat.primitives"],
     "smoke": """\
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.asymmetric import ed25519
f = Fernet(b"0" * 43 + b"=")
assert f.decrypt(f.encrypt(b"secret")) == b"secret"
h = hashes.Hash(hashes.SHA256())
h.update(b"abc")
assert h.finalize().hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
aes = AESGCM(b"k" * 32)
assert aes.decrypt(b"n" * 12, aes.encrypt(b"n" * 12, b"data", b"ad"), b"ad") == b"data"
key = ed25519.Ed25519PrivateKey.from_private_bytes(b"\\x01" * 32)
sig = key.sign(b"msg")
key.public_key().verify(sig, b"msg")
m = hmac.HMAC(b"key", hashes.SHA256())
m.update(b"x")
assert len(m.finalize()) == 32
""",
     "serialize": None},

    {"name": "bcrypt", "version": "5.0.0",
     "kind": "Rust PyO3, cp39-abi3",
     "imports": ["bcrypt"],
     "smoke": """\
import bcrypt
h = bcrypt.hashpw(b"password", b"$2b$04$abcdefghijklmnopqrstuu")
assert bcrypt.checkpw(b"password", h) and not bcrypt.checkpw(b"wrong", h)
assert h == bcrypt.hashpw(b"password", h)
assert len(bcrypt.kdf(b"pw", b"salt", 16, 4)) == 16
""",
     "serialize": None},

    {"name": "pillow", "version": "13.0.0",
     "kind": "C (bundled libjpeg, libpng, libtiff, libwebp, libavif, freetype, "
             "harfbuzz...)",
     "imports": ["PIL", "PIL.Image", "PIL.ImageDraw"],
     "smoke": """\
import io
from PIL import Image, ImageDraw, ImageFilter
im = Image.new("RGB", (64, 64), (255, 0, 0))
ImageDraw.Draw(im).rectangle((16, 16, 47, 47), fill=(0, 0, 255))
assert im.getpixel((32, 32)) == (0, 0, 255) and im.getpixel((0, 0)) == (255, 0, 0)
small = im.resize((16, 16), Image.Resampling.BILINEAR).filter(ImageFilter.BLUR)
assert small.size == (16, 16)
for fmt in ("PNG", "JPEG", "WEBP"):
    buf = io.BytesIO()
    im.save(buf, fmt)
    back = Image.open(io.BytesIO(buf.getvalue()))
    back.load()
    assert back.size == (64, 64) and back.format == fmt
assert im.convert("L").histogram()[29] == 32 * 32
""",
     "serialize": None},

    {"name": "MarkupSafe", "version": "3.0.4",
     "kind": "C (markupsafe._speedups)",
     "imports": ["markupsafe", "markupsafe._speedups"],
     "smoke": """\
import markupsafe, markupsafe._speedups
assert markupsafe.escape("<a href='x'>&</a>") == "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
m = markupsafe.Markup("<b>%s</b>") % "<i>"
assert m == "<b>&lt;i&gt;</b>"
assert markupsafe._speedups._escape_inner("<>") == "&lt;&gt;"
""",
     "serialize": None},

    {"name": "regex", "version": "2026.11.19",
     "kind": "C (regex._regex)",
     "imports": ["regex"],
     "smoke": """\
import regex
assert regex.findall(r"\\p{Lu}\\w+", "Hello big World") == ["Hello", "World"]
assert regex.fullmatch(r"(?:colour){e<=1}", "color") is not None
assert regex.sub(r"(?<w>\\w+)@(\\w+)", r"\\g<w> at \\2", "me@host") == "me at host"
p = regex.compile(r"(\\d+)(?:,(\\d+))*")
assert p.match("1,22,333").captures(2) == ["22", "333"]
""",
     "serialize": None},

    {"name": "rapidfuzz", "version": "3.14.6",
     "kind": "Cython 3.3.0 over C++ (libstdc++)",
     "imports": ["rapidfuzz", "rapidfuzz.fuzz", "rapidfuzz.process"],
     "smoke": """\
from rapidfuzz import fuzz, process, distance
assert fuzz.ratio("this is a test", "this is a test!") > 96
assert distance.Levenshtein.distance("kitten", "sitting") == 3
names = [d["name"] for d in DATA]
best = process.extractOne("n1999", names)
assert best[0] == "n1999" and best[1] == 100.0
assert process.cdist(["a", "b"], ["a", "c"]).shape == (2, 2)
""",
     "serialize": None},

    {"name": "xxhash", "version": "4.1.0",
     "kind": "C",
     "imports": ["xxhash"],
     "smoke": """\
import xxhash
assert xxhash.xxh64(b"").hexdigest() == "ef46db3751d8e999"
assert xxhash.xxh32(b"").intdigest() == 0x02CC5D05
h = xxhash.xxh3_64()
h.update(b"ab"); h.update(b"c")
assert h.intdigest() == xxhash.xxh3_64_intdigest(b"abc")
""",
     "serialize": None},

    {"name": "zstandard", "version": "0.25.0",
     "kind": "C (zstandard.backend_c; also a CFFI backend)",
     "imports": ["zstandard"],
     "smoke": """\
import io
import zstandard
assert zstandard.backend == "cext"
raw = b"".join(d["name"].encode() for d in DATA) * 4
c = zstandard.ZstdCompressor(level=3).compress(raw)
assert len(c) < len(raw) // 4
assert zstandard.ZstdDecompressor().decompress(c) == raw
buf = io.BytesIO()
with zstandard.ZstdCompressor().stream_writer(buf, closefd=False) as w:
    w.write(raw)
with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(buf.getvalue())) as r:
    assert r.read() == raw
""",
     "serialize": None},

    {"name": "lz4", "version": "4.4.5",
     "kind": "C",
     "imports": ["lz4", "lz4.frame", "lz4.block"],
     "smoke": """\
import lz4.frame, lz4.block
raw = b"immortal " * 5000
assert lz4.frame.decompress(lz4.frame.compress(raw)) == raw
assert lz4.block.decompress(lz4.block.compress(raw)) == raw
with lz4.frame.LZ4FrameCompressor() as c:
    data = c.begin() + c.compress(raw) + c.flush()
assert lz4.frame.decompress(data) == raw
""",
     "serialize": None},

    {"name": "brotli", "version": "1.2.1",
     "kind": "C",
     "imports": ["brotli"],
     "smoke": """\
import brotli
raw = b"immortal objects " * 1000
c = brotli.compress(raw, quality=5)
assert len(c) < 200 and brotli.decompress(c) == raw
d = brotli.Decompressor()
assert d.process(c) == raw
""",
     "serialize": None},

    {"name": "cffi", "version": "2.1.1",
     "kind": "C (_cffi_backend)",
     "imports": ["cffi", "_cffi_backend"],
     "smoke": """\
import cffi
ffi = cffi.FFI()
ffi.cdef("size_t strlen(const char *); int abs(int); "
         "void qsort(void *, size_t, size_t, int (*)(const void *, const void *));")
libc = ffi.dlopen(None)
assert libc.strlen(b"hello") == 5 and libc.abs(-3) == 3
arr = ffi.new("int[]", [5, 3, 9, 1])
@ffi.callback("int(const void *, const void *)")
def cmp(a, b):
    x, y = ffi.cast("int *", a)[0], ffi.cast("int *", b)[0]
    return (x > y) - (x < y)
libc.qsort(arr, 4, ffi.sizeof("int"), cmp)
assert list(arr) == [1, 3, 5, 9]
assert ffi.string(ffi.new("char[]", b"abc")) == b"abc"
""",
     "serialize": None},

    {"name": "zope.interface", "version": "8.7",
     "kind": "C (zope.interface._zope_interface_coptimizations)",
     "imports": ["zope.interface", "zope.interface.verify"],
     "smoke": """\
import zope.interface, zope.interface.verify, zope.interface.registry
from zope.interface import _zope_interface_coptimizations
class IGreeter(zope.interface.Interface):
    def greet(name):
        "say hello"
@zope.interface.implementer(IGreeter)
class Greeter:
    def greet(self, name):
        return "hi " + name
g = Greeter()
assert IGreeter.providedBy(g) and IGreeter.implementedBy(Greeter)
assert zope.interface.verify.verifyObject(IGreeter, g)
reg = zope.interface.registry.Components()
reg.registerUtility(g, IGreeter)
assert reg.getUtility(IGreeter).greet("x") == "hi x"
""",
     "serialize": None},

    {"name": "wrapt", "version": "2.5.2",
     "kind": "C (wrapt._wrappers)",
     "imports": ["wrapt", "wrapt._wrappers"],
     "smoke": """\
import wrapt, wrapt._wrappers
assert wrapt.FunctionWrapper is wrapt._wrappers.FunctionWrapper
calls = []
@wrapt.decorator
def trace(wrapped, instance, args, kwargs):
    calls.append(args)
    return wrapped(*args, **kwargs) * 2
@trace
def f(x):
    return x + 1
assert f(1) == 4 and calls == [(1,)] and f.__name__ == "f"
class P(wrapt.ObjectProxy):
    pass
p = P([1, 2])
assert len(p) == 2 and isinstance(p, list)
""",
     "serialize": None},

    {"name": "Cython", "version": "0.29.37",
     "kind": "Cython 0.29.37 (the compiler's own modules compiled by "
             "Cython 0.29: Cython.Compiler.Scanning, Parsing, Visitor, "
             "Plex...)",
     "imports": ["Cython", "Cython.Compiler.Main", "Cython.Compiler.Scanning"],
     "smoke": """\
import os, tempfile
import Cython.Compiler.Main, Cython.Compiler.Scanning
assert Cython.Compiler.Scanning.__file__.endswith(".so")
with tempfile.TemporaryDirectory() as d:
    pyx = os.path.join(d, "m.pyx")
    with open(pyx, "w") as fh:
        fh.write("def f(int n):\\n    cdef int i, s = 0\\n    for i in range(n):\\n        s += i\\n    return s\\n")
    opts = Cython.Compiler.Main.CompilationOptions(Cython.Compiler.Main.default_options, language_level=3)
    res = Cython.Compiler.Main.compile(pyx, opts)
    assert res.num_errors == 0
    with open(os.path.join(d, "m.c")) as fh:
        c = fh.read()
assert "__pyx_pw_1m_1f" in c and "Generated by Cython 0.29.37" in c
""",
     "serialize": None},

    {"name": "black", "version": "26.10.1",
     "kind": "mypyc (black/*.so plus a shared <hash>__mypyc module)",
     "imports": ["black"],
     "smoke": """\
import black
assert black.__file__.endswith(".so")
src = "def f( a,b ):\\n  return {'x':a,'y':[b,b]}\\n"
out = black.format_str(src, mode=black.Mode())
assert out == 'def f(a, b):\\n    return {"x": a, "y": [b, b]}\\n'
assert black.format_str(out, mode=black.Mode()) == out
""",
     "serialize": None},
]
