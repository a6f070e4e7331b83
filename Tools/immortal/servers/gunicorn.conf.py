# gunicorn for a pre-fork app on Immortal CPython:
#
#   $PREFIX/bin/python3 -m gunicorn -c gunicorn.conf.py demoapp.wsgi:application
#
# preload_app imports the application in the arbiter; when_ready runs once
# there, after the import and before the first fork: that is where the heap
# is immortalized. post_fork runs in each worker. On stock CPython the same
# file applies the gc.freeze() recipe. Doc/immortal/servers.md explains it.
from immortal_prefork import gunicorn_post_fork as post_fork  # noqa: F401
from immortal_prefork import gunicorn_when_ready as when_ready  # noqa: F401

preload_app = True
workers = 4
worker_class = "sync"
accesslog = None
