"""The demo shop's ASGI module, for gunicorn with uvicorn workers
(servers/asgi/gunicorn.conf.py, preload_app): the app is loaded and warmed
up in the master through Django's ASGI handler (warm.warm_master(), with
immortal_prefork.asgi_warm_up(): a loop of its own, closed again; asgiref's
thread, and the database connection it opened, end with it), then the heap
is prepared for fork by the config's when_ready hook."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demoapp.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()

from demoapp.shop import warm  # noqa: E402

warm.warm_master(application, "asgi_warm_up")
