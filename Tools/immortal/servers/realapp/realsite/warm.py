"""Warm-up in the master: request each URL of urls.txt once, through the
WSGI application itself (no socket, no test client), before the heap is
prepared and the workers fork. Every answer must be 200."""
import io
import os
import sys
import time

from django.conf import settings

from realsite.prefork import report


def urls():
    with open(os.path.join(settings.DATA_DIR, "urls.txt")) as f:
        return [line.strip() for line in f if line.strip()]


def request(application, url):
    path, _, query = url.partition("?")
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
        "SCRIPT_NAME": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1",
        "HTTP_ACCEPT": "text/html", "HTTP_USER_AGENT": "realapp-warm-up",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr, "wsgi.multithread": False,
        "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    status = []
    body = application(environ, lambda s, h, exc=None: status.append(s))
    try:
        size = sum(len(chunk) for chunk in body)
    finally:
        if hasattr(body, "close"):
            body.close()
    return int(status[0].split()[0]), size


def warm_up(application):
    from django.db import connections

    t0 = time.perf_counter()
    failed, total = [], 0
    todo = urls()
    for url in todo:
        code, size = request(application, url)
        total += size
        if code != 200:
            failed.append("%s -> %d" % (url, code))
    connections.close_all()
    report(event="warm-up", urls=len(todo), bytes=total,
           seconds=round(time.perf_counter() - t0, 3),
           modules=len(sys.modules), failed=failed)
    if failed:
        raise SystemExit("realapp warm-up: %d of %d URLs did not answer 200: "
                         "%s" % (len(failed), len(todo), ", ".join(failed[:10])))
