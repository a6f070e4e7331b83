"""The demo shop's WSGI module. uWSGI (lazy-apps off) and gunicorn
(preload_app) import it in the master: the app is loaded and warmed up
there, then the heap is prepared for fork."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demoapp.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

from demoapp.shop import warm  # noqa: E402

warm.warm_up()

try:
    import immortal_prefork
except ImportError:
    immortal_prefork = None

# Requests through the real WSGI handler, so that the code workers run is
# specialized in the master before the heap is frozen
# (Doc/immortal/servers.md, "Code in the workers"). DEMOAPP_WARM_UP: the
# rounds (0: none; default immortal_prefork.WARM_UP_ROUNDS).
if immortal_prefork is not None:
    rounds = int(os.environ.get("DEMOAPP_WARM_UP",
                                immortal_prefork.WARM_UP_ROUNDS))
    immortal_prefork.warm_up(application, warm.URLS, rounds)
    warm.connection.close()     # no database connection crosses the fork

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
