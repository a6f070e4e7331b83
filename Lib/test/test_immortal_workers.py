"""Workers that die and masters that live long, on the fork under gunicorn.

- Workers killed with SIGKILL in the middle of a response: the client gets
  an error (the body is short of its Content-Length, or its chunked
  encoding never ends), never a short body taken as whole; the arbiter
  starts another worker, which finds the warm heap immortal; the master's
  memory does not move.
- A post-fork hook that raises: the worker exits, the arbiter starts
  another and keeps serving (immortal_prefork.gunicorn_post_fork).
- max_requests = 1: every request ends its worker, so workers are replaced
  as many times as there are requests; the master's memory stays bounded.
  IMMORTAL_LONGRUN_REQUESTS sets how many (make longrun: 5000).
- A master that goes on allocating after sys.immortalize_heap() and calls
  it again after new warm-ups: what stays alive forever is what was live at
  a call, nothing else.

Doc/immortal/servers.md ("A master that lives for days") and
Doc/immortal/reliability.md have the figures.
"""

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from test import support
from test.support import script_helper
from test.test_immortal_prefork import (
    DIST_PACKAGES, PREFIX, free_port, rollup_kb, stop_server)

REQUESTS = int(os.environ.get("IMMORTAL_LONGRUN_REQUESTS", "600"))

APP = r'''
import gc, json, os, sys, time
import immortal_prefork

CACHE = {"k%d" % i: ["v%d" % i, i, float(i)] for i in range(100000)}
HALF = 1 << 20
FAILS = os.environ.get("FLAKY_FILE")

def flaky():
    # Fails in the first three workers: each claims a slot atomically.
    fd = os.open(FAILS, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, b"x")
    os.close(fd)
    for i in range(3):
        try:
            os.close(os.open("%s.%d" % (FAILS, i),
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            continue
        raise RuntimeError("flaky after-fork hook")

if FAILS:
    immortal_prefork.register_after_fork(flaky)

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path in ("/stream", "/chunked"):
        headers = [("Content-Type", "application/octet-stream"),
                   ("X-Worker", str(os.getpid()))]
        if path == "/stream":
            headers.append(("Content-Length", str(2 * HALF)))
        start_response("200 OK", headers)
        def body():
            yield b"a" * HALF
            time.sleep(60)
            yield b"b" * HALF
        return body()
    info = json.dumps({
        "pid": os.getpid(),
        "master": os.getppid(),
        "immortal": sys._is_immortal(CACHE["k7"]),
        "items": sum(len(v) for v in CACHE.values()),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [info]
'''

CONF = '''
preload_app = True
workers = 2
timeout = 120
graceful_timeout = 5
EXTRA
from immortal_prefork import gunicorn_when_ready as when_ready
from immortal_prefork import gunicorn_post_fork as post_fork
'''


@unittest.skipUnless(hasattr(sys, "immortalize_heap"),
                     "needs Immortal CPython")
@unittest.skipUnless(PREFIX and os.path.exists(
    os.path.join(PREFIX, "lib", "libpython3.11.so.1.0")),
    "needs the fork installed as a shared library (make servers; make test "
    "sets IMMORTAL_SERVER_PREFIX)")
@unittest.skipUnless(os.path.exists(os.path.join(DIST_PACKAGES, "gunicorn")),
                     "needs Debian's gunicorn")
class GunicornWorkersTest(unittest.TestCase):

    def start(self, extra_conf="", env_extra=None):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.port = free_port()
        with open(os.path.join(self.tmp, "app.py"), "w") as f:
            f.write(APP)
        conf = os.path.join(self.tmp, "gunicorn.conf.py")
        with open(conf, "w") as f:
            f.write(CONF.replace("EXTRA", extra_conf))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "LANG": "C.UTF-8", "HOME": self.tmp,
               "PYTHONPATH": DIST_PACKAGES}
        env.update(env_extra or {})
        self.log_path = os.path.join(self.tmp, "server.log")
        self.log = open(self.log_path, "w+")
        self.addCleanup(self.log.close)
        self.proc = subprocess.Popen(
            [os.path.join(PREFIX, "bin", "python3"), "-m", "gunicorn", "-c",
             conf, "--bind", f"127.0.0.1:{self.port}", "app:application"],
            cwd=self.tmp, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.addCleanup(stop_server, self.proc)
        return self.info(deadline=time.monotonic() + 60)

    def server_log(self):
        with open(self.log_path) as f:
            return f.read()

    def info(self, deadline=None):
        deadline = deadline or time.monotonic() + 30
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                              timeout=10)
            try:
                conn.request("GET", "/info")
                resp = conn.getresponse()
                if resp.status == 200:
                    return json.loads(resp.read())
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.fail("the server does not answer:\n"
                          + self.server_log()[-3000:])
            time.sleep(0.1)

    def check_worker(self, info):
        self.assertTrue(info["immortal"], info)
        self.assertEqual(info["master"], self.proc.pid)
        self.assertEqual(info["items"], 300000)

    def kill_mid_response(self, path):
        """GET path, read the first half, SIGKILL the worker that is
        sending it, read on; return the exception the read raised, or
        None if the body came whole."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            worker = int(resp.getheader("X-Worker"))
            first = resp.read(1 << 20)
            self.assertEqual(first, b"a" * (1 << 20))
            os.kill(worker, signal.SIGKILL)
            try:
                rest = resp.read()
            except (http.client.HTTPException, OSError) as e:
                return worker, e
            self.fail(f"{path}: a body of {len(first) + len(rest)} bytes "
                      "was read as whole from a killed worker")
        finally:
            conn.close()

    def test_sigkill_mid_response(self):
        first = self.start()
        self.check_worker(first)
        rss_before = rollup_kb(self.proc.pid, "Rss")
        killed = set()
        for n in range(6):
            path = "/stream" if n % 2 == 0 else "/chunked"
            worker, error = self.kill_mid_response(path)
            self.assertIsInstance(error, (http.client.IncompleteRead,
                                          ConnectionError), path)
            killed.add(worker)
            info = self.info()
            self.check_worker(info)
            self.assertNotIn(info["pid"], killed)
        self.assertEqual(len(killed), 6)
        self.assertEqual(self.server_log().count("immortalize_heap: "), 1)
        rss = rollup_kb(self.proc.pid, "Rss")
        # The arbiter's bookkeeping of six workers: well under a MiB. (Rss:
        # the master's Private_Dirty moves with how many children share
        # its pages at the moment.)
        self.assertLess(rss - rss_before, 1024, (rss_before, rss))

    def test_post_fork_hook_that_raises(self):
        flaky = os.path.join(tempfile.mkdtemp(), "fails")
        self.addCleanup(shutil.rmtree, os.path.dirname(flaky))
        info = self.start(env_extra={"FLAKY_FILE": flaky})
        self.check_worker(info)
        # Three workers failed and were replaced; two serve (the second
        # may still be booting when the first answers).
        deadline = time.monotonic() + 30
        while os.path.getsize(flaky) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(os.path.getsize(flaky), 5)
        log = self.server_log()
        self.assertEqual(log.count("after_fork() failed in worker"), 3, log)
        self.assertIn("RuntimeError: flaky after-fork hook", log)
        self.assertNotIn("Worker failed to boot", log)
        pids = {self.info()["pid"] for _ in range(20)}
        self.assertLessEqual(len(pids), 2)
        self.assertIsNone(self.proc.poll())

    def test_workers_replaced_after_each_request(self):
        self.start("max_requests = 1\nmax_requests_jitter = 0\n")
        pids = set()
        samples = []
        start = time.monotonic()
        for n in range(REQUESTS):
            info = self.info()
            self.check_worker(info)
            pids.add(info["pid"])
            if n in (REQUESTS // 10, REQUESTS - 1):
                samples.append(rollup_kb(self.proc.pid, "Rss"))
        elapsed = time.monotonic() - start
        # Each request was served by a worker of its own.
        self.assertGreaterEqual(len(pids), REQUESTS * 0.95)
        rss0, rss1 = samples
        if support.verbose:
            print(f"longrun: {REQUESTS} requests, {len(pids)} workers in "
                  f"{elapsed:.1f} s; master Rss {rss0} -> {rss1} KiB")
        # The arbiter's memory between a tenth of the way and the end.
        self.assertLess(rss1 - rss0, 2048, samples)
        self.assertEqual(self.server_log().count("immortalize_heap: "), 1)


@unittest.skipUnless(hasattr(sys, "immortalize_heap"),
                     "needs Immortal CPython")
@support.requires_fork()
class LongLivedMasterTest(unittest.TestCase):

    def test_allocating_after_the_call_and_calling_again(self):
        # Ten rounds: 40 MiB of garbage made and dropped after a call (the
        # master reuses that memory: it does not seal), then 1.2 MiB of new
        # warm data kept and the call made again, then a worker. The
        # master's memory grows by what the rounds kept, not by what they
        # dropped.
        code = textwrap.dedent(r"""
            import gc, os, sys
            def rss_kib():
                for line in open("/proc/self/status"):
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
            warm = [{"k%d" % i: [i, str(i)] for i in range(20000)}]
            sys.immortalize_heap()
            rounds = []
            for r in range(10):
                garbage = [[i, "x%d" % i, (i, float(i))] for i in range(250000)]
                del garbage
                gc.collect()
                warm.append({"r%d-%d" % (r, i): [i] for i in range(5000)})
                sys.immortalize_heap()
                assert sys._is_immortal(warm[-1]["r%d-7" % r])
                pid = os.fork()
                if pid == 0:
                    ok = (all(sys._is_immortal(d) for d in warm)
                          and sum(len(d) for d in warm) == 20000 + 5000 * (r + 1))
                    garbage = [[i] for i in range(100000)]
                    os._exit(0 if ok else 1)
                assert os.waitpid(pid, 0)[1] == 0
                rounds.append(rss_kib())
            print(rounds[0], rounds[-1])
        """)
        res = script_helper.assert_python_ok("-c", code)
        first, last = map(int, res.out.split())
        if support.verbose:
            print(f"master after 10 rounds of 40 MiB garbage, 1.2 MiB kept and "
                  f"a call: VmRSS {first} -> {last} KiB")
        # Nine rounds kept 9 x 5,000 small dicts (about 1.2 MiB each); 40 MiB
        # of garbage a round, had it stayed, would be 360 MiB.
        self.assertLess(last - first, 24 * 1024, (first, last))


if __name__ == "__main__":
    unittest.main()
