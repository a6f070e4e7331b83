"""Share a pre-fork server's warm heap with its workers.

Call prepare_fork() once in the master, after the application is imported
and its caches are warm, before the workers are forked; call after_fork()
first thing in each worker. On Immortal CPython prepare_fork() is
sys.immortalize_heap(): the workers then share the heap instead of copying
it as they read it. On any other CPython it falls back to the gc.freeze()
recipe (which keeps collections off the old objects, not refcounts).

gunicorn (preload_app = True), in gunicorn.conf.py:

    from immortal_prefork import gunicorn_when_ready as when_ready
    from immortal_prefork import gunicorn_post_fork as post_fork

ASGI (gunicorn with uvicorn workers: -k uvicorn.workers.UvicornWorker),
the same gunicorn.conf.py hooks, and in the application module, after its
caches are warm, requests through the app on a loop that is closed again:

    immortal_prefork.asgi_warm_up(app, ["/", "/items"])

uWSGI (lazy-apps off, the default), at the end of the WSGI module:

    import immortal_prefork
    immortal_prefork.uwsgi_setup()

Doc/immortal/servers.md in the Immortal CPython repository has the
reasoning: what the collector does around the fork, what each worker must
re-create (sockets, database connections, random seeds).
"""

import gc
import os
import random
import sys

__all__ = ["prepare_fork", "after_fork", "register_after_fork", "warm_up",
           "asgi_warm_up", "pool", "celery_setup", "gunicorn_when_ready",
           "gunicorn_post_fork", "uwsgi_setup"]

_after_fork_hooks = []
_prepared = None

# The collector's thresholds in a fresh interpreter, and the oldest
# generation's threshold after_fork() gives a worker that keeps them.
_DEFAULT_THRESHOLD = (700, 10, 10)
WORKER_THRESHOLD2 = 1


# Requests per path that warm_up() makes by default: 3.11 quickens a code
# object after 8 calls (or loop iterations) and specializes an instruction
# after 32 more executions, so code that runs once a request needs 40.
WARM_UP_ROUNDS = 48


def prepare_fork(*, specialize=False):
    """Make the master's heap shareable; call after warm-up, before fork.

    Returns sys.immortalize_heap()'s stats on Immortal CPython, None
    elsewhere (after gc.collect() and gc.freeze()). Calling it again
    covers what was created since. specialize is passed on to
    sys.immortalize_heap() (ignored elsewhere): True lets code keep
    specializing in the workers, at the cost of the pages it writes.
    """
    global _prepared
    if hasattr(sys, "immortalize_heap"):
        _prepared = "immortalize_heap"
        return sys.immortalize_heap(specialize=specialize)
    gc.collect()
    gc.freeze()
    _prepared = "freeze"
    return None


def prepared():
    """How prepare_fork() prepared this process (or the master it was forked
    from): "immortalize_heap", "freeze", or None."""
    return _prepared


def register_after_fork(func):
    """Have after_fork() call func() in each worker (returns func, so it
    can be used as a decorator): re-create what must not be shared, such
    as sockets and database connections opened in the master."""
    _after_fork_hooks.append(func)
    return func


def warm_up(application, paths, rounds=WARM_UP_ROUNDS, *, host="localhost"):
    """Request each path `rounds` times through a WSGI application, in the
    master, before prepare_fork(); return the number of requests made.

    After sys.immortalize_heap() code objects are frozen: what the master
    did not run often enough to specialize runs unspecialized in every
    worker. Requests made here specialize the code they run, once, in the
    master, so the workers share it warm. GET requests with the server name
    `host`; a path may carry a query string. Raises RuntimeError for an
    answer of 400 or more: a warm-up that fails warms the wrong code.
    """
    from wsgiref.util import setup_testing_defaults
    count = 0
    for _ in range(rounds):
        for path in paths:
            path, _, query = path.partition("?")
            environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path,
                       "QUERY_STRING": query, "SERVER_NAME": host,
                       "HTTP_HOST": host}
            setup_testing_defaults(environ)
            status = []

            def start_response(s, headers, exc_info=None):
                status.append(s)
                return lambda data: None

            body = application(environ, start_response)
            try:
                for _chunk in body:
                    pass
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
            code = int(status[-1].split()[0]) if status else 500
            if code >= 400:
                raise RuntimeError(f"warm_up(): {path!r} answered "
                                   f"{status[-1] if status else 'nothing'}")
            count += 1
    return count


def asgi_warm_up(application, paths, rounds=WARM_UP_ROUNDS, *,
                 host="localhost"):
    """warm_up() for an ASGI application (FastAPI, Starlette, Django's
    ASGI handler): GET requests through it, in the master, before
    prepare_fork(); return the number of requests made.

    The requests run on an event loop of their own that is closed
    afterwards, with its async generators, its default executor and the
    threads the requests started (sync routes run in a thread pool): the
    master forks with no event loop, selector, self-pipe or worker thread
    left behind. Each worker's server (uvicorn) creates its own loop after
    the fork. The application's lifespan (startup/shutdown) is not run
    here: it runs in each worker. Raises RuntimeError for an answer of 400
    or more, or if a thread the requests started does not end.
    """
    import asyncio
    import threading

    async def request(path):
        path, _, query = path.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0",
                                          "spec_version": "2.3"},
                 "http_version": "1.1", "method": "GET", "scheme": "http",
                 "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": query.encode(),
                 "headers": [(b"host", host.encode())],
                 "client": ("127.0.0.1", 0), "server": (host, 80)}
        messages = [{"type": "http.request", "body": b"",
                     "more_body": False}]
        sent = []

        async def receive():
            if messages:
                return messages.pop()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await application(scope, receive, send)
        start = [m for m in sent if m["type"] == "http.response.start"]
        code = start[0]["status"] if start else 500
        if code >= 400:
            raise RuntimeError(f"asgi_warm_up(): {path!r} answered {code}")

    async def requests():
        count = 0
        for _ in range(rounds):
            for path in paths:
                await request(path)
                count += 1
        return count

    threads = set(threading.enumerate())
    loop = asyncio.new_event_loop()
    try:
        count = loop.run_until_complete(requests())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
    _end_asgiref_thread()
    for thread in set(threading.enumerate()) - threads:
        # anyio's worker threads end when the loop's main task does.
        thread.join(timeout=30)
        if thread.is_alive():
            raise RuntimeError(f"asgi_warm_up(): thread {thread.name!r} "
                               "the requests started is still running")
    return count


def _end_asgiref_thread():
    """asgiref (Django's ASGI handler) runs sync code in a thread of a
    process-wide executor that never ends on its own; end it, with the
    database connections Django opened there, and leave a fresh executor
    that starts its thread in the worker when first used."""
    sync = sys.modules.get("asgiref.sync")
    executor = getattr(getattr(sync, "SyncToAsync", None),
                       "single_thread_executor", None)
    if executor is None or not getattr(executor, "_threads", None):
        return
    db = sys.modules.get("django.db")
    if db is not None:
        executor.submit(db.connections.close_all).result()
    executor.shutdown(wait=True)
    from concurrent.futures import ThreadPoolExecutor
    sync.SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


def after_fork():
    """Per-worker re-initialization; call first thing after the fork.

    Reseeds the random module (servers that fork from C, like uWSGI
    without --py-call-osafterfork, skip os.register_at_fork() hooks, so
    every worker would draw the same numbers), has the collector free the
    worker's cyclic garbage sooner (see _collect_sooner()), closes the
    database connections Django may have inherited from the master, and
    calls the functions given to register_after_fork().
    """
    random.seed()
    _collect_sooner()
    db = sys.modules.get("django.db")
    if db is not None:
        db.connections.close_all()
    for func in _after_fork_hooks:
        func()


def _collect_sooner():
    """In a worker of a prepared master, run the oldest generation's
    collection as often as the collector's own rule allows.

    A request's cyclic garbage (Django model instances and their state,
    template contexts) that a young collection finds alive, because the
    request was still running, waits in the oldest generation. With the
    default threshold that generation is examined once every ten
    middle-generation collections: in a Wagtail worker about 20,000 dead
    objects at a time, which is most of the worker's private memory on the
    fork, whose heap is otherwise shared. A full collection there examines
    only the worker's own objects: the master's are immortal (or frozen by
    gc.freeze()), outside the generations, so it costs about what a
    young one does, and the collector still waits until the survivors
    since the last one are a quarter of the generation (its rule against
    quadratic work). Thresholds a user set are left as they are; nothing
    changes when the master did not prepare its heap, because then a full
    collection examines (and writes) all of it.
    """
    if _prepared is None or gc.get_threshold() != _DEFAULT_THRESHOLD:
        return
    gc.set_threshold(_DEFAULT_THRESHOLD[0], _DEFAULT_THRESHOLD[1],
                     WORKER_THRESHOLD2)


def _pool_initializer(initializer, initargs):
    after_fork()
    if initializer is not None:
        initializer(*initargs)


def pool(processes=None, initializer=None, initargs=(), maxtasksperchild=None,
         *, specialize=False):
    """A multiprocessing.Pool whose workers share the caller's heap.

    Prepares the heap (prepare_fork(), once: data created later and passed
    to tasks is pickled to the workers anyway), then starts a pool of the
    "fork" context, whose workers run after_fork() and then initializer.
    Build the read-only data first, then call this; use the pool as
    multiprocessing.Pool (a context manager, map(), apply_async(), ...).
    Workers that replace others (maxtasksperchild) are forked from the
    same prepared heap. The "fork" context exists on POSIX only.
    specialize is passed to prepare_fork() when this call prepares the
    heap; a heap prepared earlier is used as it is.
    """
    import multiprocessing
    if _prepared is None:
        prepare_fork(specialize=specialize)
    ctx = multiprocessing.get_context("fork")
    return ctx.Pool(processes, _pool_initializer, (initializer, initargs),
                    maxtasksperchild)


_celery_specialize = False


def _celery_worker_init(sender=None, **kwargs):
    prepare_fork(specialize=_celery_specialize)


def _celery_process_init(sender=None, **kwargs):
    after_fork()


def celery_setup(*, specialize=False):
    """For the module that defines a Celery app: a prefork worker's main
    process prepares its heap before the pool's children are forked, and
    each child runs after_fork().

    Celery imports the app's task modules before it sends worker_init,
    in the main process, before the pool starts: prepare_fork() runs
    there, after what those modules built (the warm data the tasks read).
    worker_process_init runs in each pool child, replacements
    (worker_max_tasks_per_child) included. specialize is passed to
    prepare_fork(). Returns nothing; calling it twice connects the
    handlers once (the last specialize holds).
    """
    global _celery_specialize
    _celery_specialize = specialize
    from celery import signals
    signals.worker_init.connect(_celery_worker_init,
                                dispatch_uid="immortal_prefork.worker_init")
    signals.worker_process_init.connect(
        _celery_process_init,
        dispatch_uid="immortal_prefork.worker_process_init")


def gunicorn_when_ready(server):
    """gunicorn's when_ready hook: runs once in the arbiter, after
    preload_app imported the application, before the first fork."""
    stats = prepare_fork()
    if stats is not None:
        server.log.info("immortalize_heap: %d objects in %.3f s",
                        stats.objects, stats.seconds)


def gunicorn_post_fork(server, worker):
    """gunicorn's post_fork hook: runs in each worker.

    If after_fork() (a function given to register_after_fork(), say) raises,
    the worker logs it and exits with status 1, and the arbiter starts
    another. Left to gunicorn, the exception would end the worker with
    WORKER_BOOT_ERROR, on which the arbiter stops the whole server. A hook
    that always fails makes the arbiter fork again and again: the log says
    why, once per worker.
    """
    try:
        after_fork()
    except Exception:
        server.log.exception("immortal_prefork: after_fork() failed in "
                             "worker %s; it exits and the arbiter starts "
                             "another", os.getpid())
        sys.exit(1)


def uwsgi_setup():
    """For the end of a WSGI module that uWSGI imports in its master
    (lazy-apps off): prepare the heap now, and run after_fork() in each
    worker through uWSGI's post-fork hook."""
    import uwsgi
    previous = getattr(uwsgi, "post_fork_hook", None)

    def hook():
        if previous is not None:
            previous()
        after_fork()

    uwsgi.post_fork_hook = hook
    return prepare_fork()
