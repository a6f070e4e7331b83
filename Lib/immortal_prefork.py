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

uWSGI (lazy-apps off, the default), at the end of the WSGI module:

    import immortal_prefork
    immortal_prefork.uwsgi_setup()

Doc/immortal/servers.md in the Immortal CPython repository has the
reasoning: what the collector does around the fork, what each worker must
re-create (sockets, database connections, random seeds).
"""

import gc
import random
import sys

__all__ = ["prepare_fork", "after_fork", "register_after_fork",
           "gunicorn_when_ready", "gunicorn_post_fork", "uwsgi_setup"]

_after_fork_hooks = []
_prepared = None

# The collector's thresholds in a fresh interpreter, and the oldest
# generation's threshold after_fork() gives a worker that keeps them.
_DEFAULT_THRESHOLD = (700, 10, 10)
WORKER_THRESHOLD2 = 1


def prepare_fork():
    """Make the master's heap shareable; call after warm-up, before fork.

    Returns sys.immortalize_heap()'s stats on Immortal CPython, None
    elsewhere (after gc.collect() and gc.freeze()). Calling it again
    covers what was created since.
    """
    global _prepared
    if hasattr(sys, "immortalize_heap"):
        _prepared = "immortalize_heap"
        return sys.immortalize_heap()
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


def gunicorn_when_ready(server):
    """gunicorn's when_ready hook: runs once in the arbiter, after
    preload_app imported the application, before the first fork."""
    stats = prepare_fork()
    if stats is not None:
        server.log.info("immortalize_heap: %d objects in %.3f s",
                        stats.objects, stats.seconds)


def gunicorn_post_fork(server, worker):
    """gunicorn's post_fork hook: runs in each worker."""
    after_fork()


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
