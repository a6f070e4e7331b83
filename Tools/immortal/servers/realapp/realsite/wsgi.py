"""The site's WSGI module. uWSGI (lazy-apps off) and gunicorn (preload_app)
import it in the master: the application is loaded and warmed up there (each
URL of the benchmark requested once), then, under uWSGI, the heap is
prepared here (gunicorn does it in its when_ready hook)."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realsite.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

from realsite import prefork, warm  # noqa: E402

if os.environ.get("REALAPP_WARM", "1") == "1":
    warm.warm_up(application)

try:
    import uwsgi  # noqa: F401 (exists only inside uWSGI)
except ImportError:
    uwsgi = None
if uwsgi is not None:
    prefork.uwsgi_setup()
