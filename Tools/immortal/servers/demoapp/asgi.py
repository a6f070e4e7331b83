"""The demo shop's ASGI module, for gunicorn with uvicorn workers
(servers/asgi/gunicorn.conf.py, preload_app): the app is loaded and warmed
up in the master through Django's ASGI handler, then the heap is prepared
for fork by the config's when_ready hook."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demoapp.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()

from demoapp.shop import warm  # noqa: E402

warm.warm_up()

try:
    import immortal_prefork
except ImportError:
    immortal_prefork = None

# DEMOAPP_WARM_UP: the rounds (0: none; default WARM_UP_ROUNDS). The
# requests run on a loop of their own, closed again; asgiref's thread, and
# the database connection it opened, end with it.
if immortal_prefork is not None:
    rounds = int(os.environ.get("DEMOAPP_WARM_UP",
                                immortal_prefork.WARM_UP_ROUNDS))
    immortal_prefork.asgi_warm_up(application, warm.URLS, rounds)
warm.connection.close()     # no database connection crosses the fork
