# gunicorn with uvicorn workers (ASGI: FastAPI, Starlette, Django's ASGI
# handler) for a pre-fork app on Immortal CPython:
#
#   $VENV/bin/python -m gunicorn -c gunicorn.conf.py fastapp:app
#
# preload_app imports the application in the arbiter, where the app warms
# its caches and runs requests through itself (immortal_prefork.
# asgi_warm_up(): on a loop of its own, closed again, so no event loop,
# selector or worker thread crosses the fork); when_ready then prepares the
# heap, once, before the first fork; post_fork runs in each worker, and
# the uvicorn worker creates its event loop (uvloop when installed) and
# parser (httptools when installed) there. On stock CPython the same file
# applies the gc.freeze() recipe. Doc/immortal/servers.md ("ASGI") has the
# figures and what must be created after the fork.
#
# uvicorn's own --workers mode starts its workers with multiprocessing's
# spawn: each imports the app afresh and nothing is shared. Use gunicorn.
from immortal_prefork import gunicorn_post_fork as post_fork  # noqa: F401
from immortal_prefork import gunicorn_when_ready as when_ready  # noqa: F401

preload_app = True
workers = 4
worker_class = "uvicorn.workers.UvicornWorker"
accesslog = None
