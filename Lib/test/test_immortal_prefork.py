"""immortal_prefork and real pre-fork servers on the fork.

The server tests run Debian's uWSGI (its python3 plugin, built for Debian's
3.11, loading the fork's libpython3.11.so.1.0) and gunicorn under the fork
installed as a shared library by `make servers`; `make test` says where
(IMMORTAL_SERVER_PREFIX). They skip, saying why, when either is missing.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import http.client
from test.support import script_helper

import immortal_prefork

PREFIX = os.environ.get("IMMORTAL_SERVER_PREFIX", "")
# The shipped integration files and demo app (Tools/immortal/servers/ of
# the Immortal CPython repository), when make test says where.
SERVERS_DIR = os.environ.get("IMMORTAL_SERVERS_DIR", "")
DIST_PACKAGES = "/usr/lib/python3/dist-packages"   # Debian's gunicorn


def cache_dir(name):
    """A directory of the download cache (IMMORTAL_CACHE_DIR, or
    ~/.cache/immortal-cpython), kept between runs: later runs are
    offline."""
    return os.path.join(
        os.environ.get("IMMORTAL_CACHE_DIR")
        or os.path.join(os.path.expanduser("~"), ".cache", "immortal-cpython"),
        name)


def prefix_tag():
    """Names what was built for the installed fork at PREFIX (a wheel that
    links its libpython, a venv of its python3)."""
    return hashlib.sha256(os.path.realpath(PREFIX).encode()).hexdigest()[:12]


class HelperTest(unittest.TestCase):

    def test_prepare_and_after_fork(self):
        code = textwrap.dedent("""
            import os, random, sys, immortal_prefork
            cache = {"warm": ["data"] * 3}
            seen = []
            immortal_prefork.register_after_fork(lambda: seen.append(1))
            stats = immortal_prefork.prepare_fork()
            print(immortal_prefork.prepared(),
                  getattr(stats, "objects", 0) > 0,
                  sys._is_immortal(cache))
            draws = []
            for _ in range(2):
                r, w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    immortal_prefork.after_fork()
                    os.write(w, ("%d %r" % (len(seen), random.random())).encode())
                    os._exit(0)
                os.close(w)
                draws.append(os.read(r, 100).decode())
                os.waitpid(pid, 0)
            print(draws[0].split()[0], draws[0] != draws[1])
        """)
        out = script_helper.assert_python_ok("-c", code).out.decode().split("\n")
        self.assertEqual(out[0], "immortalize_heap True True")
        self.assertEqual(out[1], "1 True")

    def test_warm_up_specializes_what_the_requests_run(self):
        # warm_up() runs GET requests through the WSGI application in the
        # master: the code they run is specialized before prepare_fork()
        # freezes it, so the workers share it warm.
        code = textwrap.dedent("""
            import dis, immortal_prefork
            seen, closed = [], []
            def handler(a, b):          # once a request, no loop
                return a + b
            class Body(list):
                def close(self):
                    closed.append(1)
            def app(environ, start_response):
                seen.append((environ["PATH_INFO"], environ["QUERY_STRING"],
                             environ["HTTP_HOST"]))
                if environ["PATH_INFO"] == "/missing":
                    start_response("404 Not Found", [])
                    return Body([b""])
                start_response("200 OK", [("Content-Type", "text/plain")])
                return Body([str(handler(len(seen), 1)).encode()])
            def ops():
                return [i.opname for i in dis.get_instructions(
                    handler, adaptive=True)]
            before = ops()
            # One path: the code runs once a request, WARM_UP_ROUNDS times.
            print(immortal_prefork.warm_up(app, ["/a?x=1"]))
            print("BINARY_OP_ADD_INT" in ops(), before != ops())
            print(immortal_prefork.warm_up(app, ["/a?x=1", "/b"], rounds=2))
            print(seen[0], seen[-1], len(closed))
            immortal_prefork.prepare_fork()
            try:
                immortal_prefork.warm_up(app, ["/missing"], rounds=1)
            except RuntimeError as e:
                print(e)
        """)
        out = script_helper.assert_python_ok("-c", code).out.decode().split("\n")
        rounds = immortal_prefork.WARM_UP_ROUNDS
        self.assertEqual(out[0], str(rounds))
        self.assertEqual(out[1], "True True")
        self.assertEqual(out[2], "4")
        self.assertEqual(out[3], "('/a', 'x=1', 'localhost') ('/b', '', "
                                 "'localhost') %d" % (rounds + 4))
        self.assertEqual(out[4], "warm_up(): '/missing' answered 404 Not Found")

    def test_prepare_fork_specialize(self):
        code = textwrap.dedent("""
            import dis, immortal_prefork
            def cold(seq):
                total = 0
                for x in seq:
                    total += x
                return total
            base = [i.opname for i in dis.get_instructions(cold, adaptive=True)]
            immortal_prefork.prepare_fork(specialize=True)
            for _ in range(100):
                cold([1, 2])
            print(base != [i.opname for i in dis.get_instructions(
                cold, adaptive=True)])
        """)
        out = script_helper.assert_python_ok("-c", code).out.decode().strip()
        self.assertEqual(out, "True")

    def test_pool_workers_share_the_heap(self):
        # immortal_prefork.pool(): the heap is prepared before the fork
        # context's workers start; each runs after_fork() and then the
        # initializer; reading the parent's data writes none of it.
        code = textwrap.dedent("""
            import ctypes, os, sys, immortal_prefork
            data = [("row-%d" % i, [i, i * 0.5]) for i in range(20000)]
            immortal_prefork.prepare_fork()     # pool() does not again
            raw = {id(o): ctypes.c_ssize_t.from_address(id(o)).value
                   for o in (data, data[7], data[7][0], data[7][1])}
            inits = []
            immortal_prefork.register_after_fork(lambda: inits.append("hook"))
            def init(tag):
                inits.append(tag)
            def task(k):
                total = sum(len(name) + len(vals) for name, vals in data[k::4])
                same = all(ctypes.c_ssize_t.from_address(a).value == v
                           for a, v in raw.items())
                return (os.getpid() != PARENT, immortal_prefork.prepared(),
                        inits, total > 0, same)
            PARENT = os.getpid()
            with immortal_prefork.pool(2, init, ("init",)) as p:
                results = p.map(task, range(4), chunksize=1)
            print(immortal_prefork.prepared(), sys._is_immortal(data))
            for r in sorted(set(map(repr, results))):
                print(r)
        """)
        out = script_helper.assert_python_ok("-c", code).out.decode().split("\n")
        self.assertEqual(out, [
            "immortalize_heap True",
            "(True, 'immortalize_heap', ['hook', 'init'], True, True)", ""])
        # Without prepare_fork() first, pool() prepares the heap.
        code = textwrap.dedent("""
            import sys, immortal_prefork
            data = [[i] for i in range(100)]
            def check():
                return sys._is_immortal(data)   # the parent's, not a copy
            with immortal_prefork.pool(1) as p:
                print(p.apply(check), immortal_prefork.prepared())
        """)
        out = script_helper.assert_python_ok("-c", code).out.decode().strip()
        self.assertEqual(out, "True immortalize_heap")

    def test_after_fork_collects_sooner(self):
        # A worker's garbage that young collections found alive (the request
        # was running) waits in the oldest generation; after_fork() has that
        # generation collected as often as the collector's quarter rule
        # allows, not once every ten middle collections.
        code = textwrap.dedent("""
            import gc, os, sys, immortal_prefork
            def worker(setup):
                r, w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    setup()
                    gc.collect()
                    peak = 0
                    for request in range(400):
                        ring = [[] for _ in range(60)]
                        for a, b in zip(ring, ring[1:] + ring[:1]):
                            a.append(b)
                        scratch = [[] for _ in range(1500)]
                        del ring, scratch
                        if request % 10 == 0:
                            peak = max(peak, len(gc.get_objects(2)))
                    os.write(w, ("%r %d" % (gc.get_threshold(), peak)).encode())
                    os._exit(0)
                os.close(w)
                out = os.read(r, 200).decode()
                os.waitpid(pid, 0)
                return out
            unprepared = worker(immortal_prefork.after_fork)
            immortal_prefork.prepare_fork()
            tuned = worker(immortal_prefork.after_fork)
            def default():
                immortal_prefork.after_fork()
                gc.set_threshold(700, 10, 10)
            untuned = worker(default)
            def user_set():
                gc.set_threshold(700, 10, 5)
                immortal_prefork.after_fork()
            kept = worker(user_set)
            print(unprepared); print(tuned); print(untuned); print(kept)
        """)
        out = script_helper.assert_python_ok("-c", code).out.decode().split("\n")
        unprepared, tuned, untuned, kept = (
            (eval(line.rsplit(" ", 1)[0]), int(line.rsplit(" ", 1)[1]))
            for line in out[:4])
        self.assertEqual(unprepared[0], (700, 10, 10))
        self.assertEqual(tuned[0], (700, 10, immortal_prefork.WORKER_THRESHOLD2))
        self.assertEqual(kept[0], (700, 10, 5))
        # The same worker with the default thresholds: the oldest generation
        # holds more than twice as many objects (dead rings) at its peak.
        self.assertLess(tuned[1] * 2, untuned[1], out)

    def test_gunicorn_hooks(self):
        code = textwrap.dedent("""
            import sys, immortal_prefork
            class Log:
                def info(self, fmt, *args): print("log", fmt % args)
            class Server: log = Log()
            immortal_prefork.gunicorn_when_ready(Server())
            calls = []
            immortal_prefork.register_after_fork(lambda: calls.append(1))
            immortal_prefork.gunicorn_post_fork(Server(), object())
            print(calls)
        """)
        out = script_helper.assert_python_ok("-c", code).out.decode()
        self.assertIn("log immortalize_heap: ", out)
        self.assertIn("[1]", out)

    def test_gunicorn_post_fork_that_fails_exits_the_worker(self):
        # Status 1, which the arbiter answers with a new worker; not the
        # exception, which gunicorn turns into WORKER_BOOT_ERROR and a halt.
        code = textwrap.dedent("""
            import immortal_prefork
            class Log:
                def exception(self, fmt, *args): print("log", fmt % args)
            class Server: log = Log()
            def broken():
                raise OSError("database down")
            immortal_prefork.register_after_fork(broken)
            try:
                immortal_prefork.gunicorn_post_fork(Server(), object())
            except SystemExit as e:
                print("exit", e.code)
        """)
        out = script_helper.assert_python_ok("-c", code).out.decode()
        self.assertIn("after_fork() failed in worker", out)
        self.assertIn("exit 1", out)


WSGI_APP = '''
import ctypes, json, os, sys
import immortal_prefork

WARM = {"key%d" % i: ["value", i, float(i)] for i in range(1000)}

def malloc_from():
    # The file whose malloc() the process resolves (libpython's replaces
    # glibc's where libpython comes first).
    addr = ctypes.cast(ctypes.CDLL(None).malloc, ctypes.c_void_p).value
    for line in open("/proc/self/maps"):
        fields = line.split()
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        if lo <= addr < hi:
            return os.path.basename(fields[-1])

def application(environ, start_response):
    body = json.dumps({
        "version": sys.version,
        "fork": hasattr(sys, "_is_immortal"),
        "prepared": immortal_prefork.prepared(),
        "warm_immortal": sys._is_immortal(WARM["key7"]),
        "libpython": [line.split()[-1] for line in open("/proc/self/maps")
                      if "libpython3.11" in line][:1],
        "malloc": malloc_from(),
        "pid": os.getpid(),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

SETUP
'''


def pypi_venv(name, what, suffix="", requirements=None):
    """The venv of the installed fork at PREFIX with requirements
    (default: servers/NAME/requirements.txt) from PyPI, made by realapp.make_venv() in a process
    of its own (it sets up sys.path) and kept in the download cache; its
    python. If it cannot be made: a failure under CI, a skip elsewhere,
    saying that the `what` could not be installed."""
    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        import realapp
        try:
            print(realapp.make_venv(sys.argv[2], sys.argv[3],
                                    requirements=sys.argv[4],
                                    work=sys.argv[5]))
        except realapp.Failure as e:
            sys.exit(str(e))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code, SERVERS_DIR,
         "fork-" + prefix_tag() + suffix, PREFIX,
         requirements or os.path.join(SERVERS_DIR, name, "requirements.txt"),
         cache_dir(name)],
        capture_output=True, text=True)
    if proc.returncode:
        if os.environ.get("CI"):
            raise AssertionError(proc.stderr[-3000:])
        raise unittest.SkipTest(f"the {what} could not be installed: "
                                + (proc.stderr.strip().splitlines()
                                   or ["?"])[-1])
    return proc.stdout.strip().splitlines()[-1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(port, deadline, path="/"):
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            if resp.status != 200:
                raise http.client.HTTPException(f"HTTP {resp.status}")
            return json.loads(resp.read())
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        finally:
            conn.close()


def serve_and_get(test, argv, cwd, env, port, path, timeout, log_dir):
    """Start a server (in a session of its own, so that stopping it stops
    its workers too), return the JSON it answers at path, and stop it. A
    server that does not answer within timeout fails the test with the end
    of its log."""
    log = open(os.path.join(log_dir, "server.log"), "w+")
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        return get_json(port, time.monotonic() + timeout, path)
    except (OSError, http.client.HTTPException):
        log.seek(0)
        test.fail("the server did not answer:\n" + log.read()[-3000:])
    finally:
        stop_server(proc)
        log.close()


def stop_server(proc):
    """Stop a server started in a session of its own, workers included."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@unittest.skipUnless(PREFIX and os.path.exists(os.path.join(PREFIX, "lib",
                                                            "libpython3.11.so.1.0")),
                     "needs the fork installed as a shared library "
                     "(make servers; make test sets IMMORTAL_SERVER_PREFIX)")
class ServerTest(unittest.TestCase):

    def run_server(self, argv, env, app_dir, setup):
        with open(os.path.join(app_dir, "app.py"), "w") as f:
            f.write(WSGI_APP.replace("SETUP", setup))
        return serve_and_get(self, argv, app_dir, env, self.port, "/", 30,
                             app_dir)

    def setUp(self):
        self.port = free_port()
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        lib = os.path.join(PREFIX, "lib", "python3.11")
        # immortal_prefork ships with the fork: the installed one is used.
        self.assertTrue(os.path.exists(os.path.join(lib, "immortal_prefork.py")))

    def base_env(self):
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "LANG": "C.UTF-8", "HOME": self.tmp}

    @unittest.skipUnless(shutil.which("uwsgi") and os.path.exists(
        "/usr/lib/uwsgi/plugins/python3_plugin.so"),
        "needs Debian's uwsgi-core and uwsgi-plugin-python3")
    def test_uwsgi_runs_the_fork(self):
        # Debian's plugin, unmodified, loads the fork's libpython; the
        # recipe's LD_PRELOAD puts its malloc() ahead of libc's.
        env = self.base_env()
        env["LD_LIBRARY_PATH"] = os.path.join(PREFIX, "lib")
        env["LD_PRELOAD"] = os.path.join(PREFIX, "lib", "libpython3.11.so.1.0")
        env["PYTHONHOME"] = PREFIX
        argv = ["uwsgi", "--plugin", "python3", "--master",
                "--processes", "2", "--http-socket", f"127.0.0.1:{self.port}",
                "--wsgi-file", "app.py", "--skip-atexit-teardown",
                "--die-on-term", "--disable-logging"]
        info = self.run_server(argv, env, self.tmp,
                               "immortal_prefork.uwsgi_setup()")
        self.assertTrue(info["fork"], info)
        self.assertIn("Immortal CPython", info["version"])
        self.assertEqual(info["libpython"],
                         [os.path.join(PREFIX, "lib", "libpython3.11.so.1.0")])
        self.assertEqual(info["prepared"], "immortalize_heap")
        self.assertTrue(info["warm_immortal"])
        self.assertEqual(info["malloc"], "libpython3.11.so.1.0")

    @unittest.skipUnless(os.path.exists(os.path.join(DIST_PACKAGES,
                                                     "gunicorn")),
                         "needs Debian's gunicorn")
    def test_gunicorn_runs_the_fork(self):
        env = self.base_env()
        env["PYTHONPATH"] = DIST_PACKAGES
        conf = os.path.join(self.tmp, "gunicorn.conf.py")
        with open(conf, "w") as f:
            f.write("preload_app = True\nworkers = 2\n"
                    "from immortal_prefork import gunicorn_when_ready as when_ready\n"
                    "from immortal_prefork import gunicorn_post_fork as post_fork\n")
        argv = [os.path.join(PREFIX, "bin", "python3"), "-m", "gunicorn",
                "-c", conf, "--bind", f"127.0.0.1:{self.port}", "app:application"]
        info = self.run_server(argv, env, self.tmp, "")
        self.assertTrue(info["fork"], info)
        self.assertEqual(info["prepared"], "immortalize_heap")
        self.assertTrue(info["warm_immortal"])
        # The interpreter links libpython ahead of libc.
        self.assertEqual(info["malloc"], "libpython3.11.so.1.0")


@unittest.skipUnless(PREFIX and SERVERS_DIR
                     and os.path.isdir(os.path.join(DIST_PACKAGES, "django"))
                     and shutil.which("uwsgi"),
                     "needs make servers, Debian's python3-django, uwsgi and "
                     "gunicorn, and IMMORTAL_SERVERS_DIR (make test sets it)")
class ShippedFilesTest(unittest.TestCase):
    """Tools/immortal/servers/uwsgi.ini and gunicorn.conf.py, unchanged, run
    the demo Django shop on the fork with the heap immortalized."""

    def run_demo(self, argv, extra_env):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        port = free_port()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "LANG": "C.UTF-8", "HOME": tmp,
               "DEMOAPP_DB": os.path.join(tmp, "demo.sqlite3"),
               "DEMOAPP_PRODUCTS": "2000",
               "PYTHONPATH": SERVERS_DIR + os.pathsep + DIST_PACKAGES}
        env.update(extra_env)
        argv = [a.replace("PORT", str(port)) for a in argv]
        return serve_and_get(self, argv, SERVERS_DIR, env, port,
                             "/_prefork/", 90, tmp)

    def check(self, info):
        self.assertIn("Immortal CPython", info["version"])
        self.assertEqual(info["prepared"], "immortalize_heap")
        self.assertTrue(info["cache_immortal"])

    def test_uwsgi_ini(self):
        self.check(self.run_demo(
            ["uwsgi", "--ini", "uwsgi.ini", "--http11-socket", "127.0.0.1:PORT"],
            {"LD_LIBRARY_PATH": os.path.join(PREFIX, "lib"),
             "PYTHONHOME": PREFIX}))

    def test_uwsgi_ini_with_uwsgi_from_pypi(self):
        # `pip install uwsgi` with the fork's pip builds uWSGI from its
        # sdist against the fork (the Python plugin built in); the
        # recipe's [pip] section runs the demo with it. pip's cache keeps
        # the built wheel: later runs are offline.
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        venv = os.path.join(tmp, "venv")
        # One cache per installed fork: the wheel pip builds links (and
        # points its rpath at) this prefix's libpython.
        cache = cache_dir("pip-uwsgi-" + prefix_tag())
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PIP_", "PYTHON"))}
        env.update(PIP_CONFIG_FILE=os.devnull, PIP_CACHE_DIR=cache,
                   PIP_DISABLE_PIP_VERSION_CHECK="1")
        if os.environ.get("PIP_CERT"):
            env["PIP_CERT"] = os.environ["PIP_CERT"]
        subprocess.run([os.path.join(PREFIX, "bin", "python3"), "-m", "venv",
                        venv], check=True, env=env)
        proc = subprocess.run(
            [os.path.join(venv, "bin", "pip"), "install", "-q",
             "--no-binary", ":all:", "--require-hashes", "-r",
             os.path.join(SERVERS_DIR, "uwsgi-requirements.txt")],
            env=env, capture_output=True, text=True)
        if proc.returncode:
            msg = ("pip could not build uWSGI from PyPI (no network, no "
                   f"cached build in {cache}?): " +
                   (proc.stderr.strip().splitlines() or ["?"])[-1])
            if os.environ.get("CI"):
                self.fail(msg + "\n" + proc.stderr[-3000:])
            self.skipTest(msg)
        uwsgi = os.path.join(venv, "bin", "uwsgi")
        libs = subprocess.run(["ldd", uwsgi], capture_output=True,
                              text=True).stdout
        self.assertIn(os.path.join(PREFIX, "lib", "libpython3.11.so.1.0"),
                      libs)
        info = self.run_demo(
            [uwsgi, "--ini", "uwsgi.ini:pip", "--virtualenv", venv,
             "--http11-socket", "127.0.0.1:PORT"], {})
        self.check(info)

    def test_gunicorn_conf_with_the_pypi_stack(self):
        # Django's 4.2 LTS and the newest gunicorn from PyPI (pinned in
        # servers/pypi-stack/requirements.txt), in a venv the fork's own
        # pip fills (realapp.make_venv(), in a process of its own: it sets
        # up sys.path); the shipped gunicorn.conf.py runs the demo shop.
        venv_python = pypi_venv("pypi-stack", "PyPI stack")
        site = os.path.join(os.path.dirname(os.path.dirname(venv_python)),
                            "lib", "python3.11", "site-packages")
        info = self.run_demo(
            [venv_python, "-m", "gunicorn", "-c", "gunicorn.conf.py",
             "--bind", "127.0.0.1:PORT", "demoapp.wsgi:application"],
            {"PYTHONPATH": SERVERS_DIR + os.pathsep + site})
        self.check(info)
        self.assertTrue(info["django"].startswith("4.2."), info)

    def test_gunicorn_conf(self):
        self.check(self.run_demo(
            [os.path.join(PREFIX, "bin", "python3"), "-m", "gunicorn",
             "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:PORT",
             "demoapp.wsgi:application"], {}))


@unittest.skipUnless(PREFIX and SERVERS_DIR and os.path.exists(
    os.path.join(PREFIX, "bin", "python3")),
    "needs the fork installed (make servers) and the servers directory "
    "(make test sets IMMORTAL_SERVER_PREFIX and IMMORTAL_SERVERS_DIR)")
class CeleryTest(unittest.TestCase):
    """A Celery prefork worker (Celery and the Redis client from PyPI,
    pinned; Debian's redis-server on loopback as the broker): the recipe,
    immortal_prefork.celery_setup(), prepares the main process's heap
    before the pool forks, and every child finds the dataset immortal."""

    def test_prefork_children_share_the_heap(self):
        if not os.path.exists("/usr/bin/redis-server"):
            self.fail("no /usr/bin/redis-server: Tools/immortal/deps.sh "
                      "installs it")
        work = cache_dir("celerybench")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "celery.json")
            proc = subprocess.run(
                [sys.executable, os.path.join(SERVERS_DIR, "celerybench.py"),
                 "--configs", "fork", "--fork-prefix", PREFIX, "--work", work,
                 "--mb", "5", "--tasks", "40", "--concurrency", "2",
                 "--json", out], capture_output=True, text=True, timeout=900)
            if proc.returncode and "pip install from PyPI" in proc.stderr \
                    and not os.environ.get("CI"):
                self.skipTest("Celery could not be installed from PyPI: "
                              + proc.stderr.strip().splitlines()[-1])
            self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
            with open(out) as f:
                res = json.load(f)["fork"]
        kids = res["children"]
        self.assertEqual(len({k["pid"] for k in kids}), 2, kids)
        for kid in kids:
            self.assertEqual(kid["prepared"], "immortalize_heap")
            self.assertIs(kid["immortal"], True)
        self.assertGreater(res["tasks_s"], 0)


def rollup_kb(pid, field):
    """A field of /proc/PID/smaps_rollup (Rss, Private_Dirty, ...), KiB."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def private_dirty_kb(pid):
    return rollup_kb(pid, "Private_Dirty")


def child_pids(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return sorted(out)


@unittest.skipUnless(PREFIX and SERVERS_DIR and os.path.exists(
    os.path.join(PREFIX, "bin", "python3")),
    "needs the fork installed (make servers) and the servers directory "
    "(make test sets IMMORTAL_SERVER_PREFIX and IMMORTAL_SERVERS_DIR)")
class AsgiTest(unittest.TestCase):
    """gunicorn with 4 uvicorn workers (uvloop, httptools), FastAPI on
    pydantic and Django's ASGI handler, all pinned from PyPI
    (servers/asgi/requirements.txt), with the shipped
    servers/asgi/gunicorn.conf.py: the app warms up in the master through
    immortal_prefork.asgi_warm_up(), the heap is immortalized once, every
    route answers in the workers, a worker killed with SIGKILL is replaced
    by one that shares the heap too, and the master's heap stays as it
    was."""

    WORKERS = 4

    @classmethod
    def setUpClass(cls):
        cls.venv_python = pypi_venv("asgi", "ASGI stack", "-asgi")

    def get(self, port, path):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def wait_for(self, what, predicate, timeout, log):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.3)
        log.seek(0)
        self.fail(f"{what} within {timeout} s:\n" + log.read()[-3000:])

    def serve(self, target, paths, pythonpath, env_extra):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        port = free_port()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "LANG": "C.UTF-8", "HOME": tmp, "PYTHONPATH": pythonpath,
               "DEMOAPP_DB": os.path.join(tmp, "demo.sqlite3")}
        env.update(env_extra)
        log = open(os.path.join(tmp, "server.log"), "w+")
        self.addCleanup(log.close)
        proc = subprocess.Popen(
            [self.venv_python, "-m", "gunicorn", "-c",
             os.path.join(SERVERS_DIR, "asgi", "gunicorn.conf.py"),
             "--workers", str(self.WORKERS), "--bind", f"127.0.0.1:{port}",
             target], cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.addCleanup(stop_server, proc)

        self.wait_for("the server did not answer with all its workers",
                      lambda: self.get(port, "/_prefork/")[0] == 200
                      and len(child_pids(proc.pid)) == self.WORKERS,
                      180, log)
        for path in paths:
            status, body = self.get(port, path)
            self.assertEqual(status, 200, (path, body[:300]))
        workers = child_pids(proc.pid)
        master_before = private_dirty_kb(proc.pid)

        # A worker killed outright is replaced by a fork of the same master.
        os.kill(workers[0], signal.SIGKILL)
        self.wait_for("the killed worker was not replaced",
                      lambda: workers[0] not in child_pids(proc.pid)
                      and len(child_pids(proc.pid)) == self.WORKERS,
                      60, log)
        new = (set(child_pids(proc.pid)) - set(workers)).pop()
        seen = {}

        def new_worker_answered():
            info = json.loads(self.get(port, "/_prefork/")[1])
            seen[info["pid"]] = info
            return new in seen
        self.wait_for("the new worker took no request", new_worker_answered,
                      60, log)
        for path in paths:
            status, body = self.get(port, path)
            self.assertEqual(status, 200, (path, body[:300]))
        master_after = private_dirty_kb(proc.pid)
        log.seek(0)
        text = log.read()
        self.assertEqual(text.count("immortalize_heap:"), 1, text[-3000:])
        # The master ran no Python code that wrote its immortalized heap:
        # only gunicorn's arbiter loop (a fork, its bookkeeping).
        self.assertLess(master_after - master_before, 2048,
                        (master_before, master_after))
        return seen[new]

    def check(self, info):
        self.assertIn("Immortal CPython", info["version"])
        self.assertEqual(info["prepared"], "immortalize_heap")
        self.assertTrue(info["cache_immortal"], info)

    def test_fastapi(self):
        info = self.serve("fastapp:app",
                          ["/models", "/dicts", "/orjson", "/count",
                           "/rendered"],
                          os.path.join(SERVERS_DIR, "asgi"),
                          {"ASGIAPP_MODELS": "2000"})
        self.check(info)
        self.assertEqual(info["loop"], "uvloop", info)
        self.assertTrue(info["httptools"], info)

    def test_django_asgi(self):
        info = self.serve("demoapp.asgi:application",
                          ["/", "/product/7/", "/api/search/?q=red+steel"],
                          SERVERS_DIR, {"DEMOAPP_PRODUCTS": "2000"})
        self.check(info)
        self.assertTrue(info["django"].startswith("4.2."), info)


if __name__ == "__main__":
    unittest.main()
