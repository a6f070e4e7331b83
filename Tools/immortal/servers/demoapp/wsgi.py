"""The demo shop's WSGI module. uWSGI (lazy-apps off) and gunicorn
(preload_app) import it in the master: the app is loaded and warmed up
there (warm.warm_master()), then the heap is prepared for fork."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demoapp.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

from demoapp.shop import warm  # noqa: E402

immortal_prefork = warm.warm_master(application, "warm_up")

# Under uWSGI, prepare the heap here, in the master, and re-initialize each
# worker after fork. (gunicorn does it in gunicorn.conf.py's hooks.)
try:
    import uwsgi  # noqa: F401 (exists only inside uWSGI)
except ImportError:
    uwsgi = None

if uwsgi is not None:
    if immortal_prefork is not None:
        immortal_prefork.uwsgi_setup()
    else:           # stock CPython: the gc.freeze() recipe
        import gc
        gc.collect()
        gc.freeze()
