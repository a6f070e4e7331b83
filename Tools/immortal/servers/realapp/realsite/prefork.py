"""The master's side of the benchmark: how its heap is prepared before the
workers fork (REALAPP_PREPARE), and a note from each worker that it is up
(REALAPP_READY_DIR), through Lib/immortal_prefork.py's hooks.

REALAPP_PREPARE=prepare (the default): immortal_prefork.prepare_fork(),
that is sys.immortalize_heap() on Immortal CPython and gc.collect() +
gc.freeze() on stock CPython. REALAPP_PREPARE=none: nothing (plain stock).
Each worker still runs immortal_prefork.after_fork().

The master reports on stderr, one line each: `REALAPP-MASTER {json}`.
"""
import json
import os
import sys
import time

import immortal_prefork


def report(**fields):
    print("REALAPP-MASTER " + json.dumps(fields), file=sys.stderr, flush=True)


def _ready():
    ready_dir = os.environ.get("REALAPP_READY_DIR")
    if ready_dir:
        with open(os.path.join(ready_dir, str(os.getpid())), "w"):
            pass


immortal_prefork.register_after_fork(_ready)


def mode():
    value = os.environ.get("REALAPP_PREPARE", "prepare")
    if value not in ("prepare", "none"):
        raise SystemExit("realapp: REALAPP_PREPARE must be prepare or none, "
                         "not %r" % value)
    return value


def _prepare(how):
    """Run how() (which returns prepare_fork()'s stats) unless
    REALAPP_PREPARE=none; report what was done."""
    requested = mode()
    t0 = time.perf_counter()
    stats = how() if requested == "prepare" else None
    report(event="prepared", requested=requested,
           prepared=immortal_prefork.prepared(),
           objects=getattr(stats, "objects", None),
           seconds=round(time.perf_counter() - t0, 3),
           stats=repr(stats) if stats is not None else None)


def uwsgi_setup():
    """For the end of the WSGI module under uWSGI (imported in the master):
    immortal_prefork.uwsgi_setup(), or with REALAPP_PREPARE=none only the
    post-fork hook it would install."""
    import uwsgi
    if mode() == "none":
        uwsgi.post_fork_hook = immortal_prefork.after_fork
    _prepare(immortal_prefork.uwsgi_setup)


def gunicorn_when_ready(server):
    """gunicorn's when_ready hook (in the arbiter, after preload_app)."""
    _prepare(immortal_prefork.prepare_fork)
