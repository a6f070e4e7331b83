# gunicorn for the Wagtail benchmark (Tools/immortal/servers/realapp.py):
# the recipe of Tools/immortal/servers/gunicorn.conf.py. preload_app imports
# realsite.wsgi in the arbiter, which warms the site up; when_ready then
# prepares the heap (REALAPP_PREPARE: immortal_prefork.prepare_fork(), or
# nothing), once, before the first fork; post_fork runs
# immortal_prefork.after_fork() in each worker.
from immortal_prefork import gunicorn_post_fork as post_fork  # noqa: F401
from realsite.prefork import gunicorn_when_ready as when_ready  # noqa: F401

preload_app = True
workers = 4
worker_class = "sync"
accesslog = None
