"""Settings of the benchmark's Wagtail site (Wagtail 7.0 LTS, Django 4.2 LTS).

Shaped like the settings of `wagtail start`, in production mode (DEBUG off,
ManifestStaticFilesStorage), plus i18n: LocaleMiddleware and every language
Django ships. The data (SQLite database, media, collected static files)
lives outside the repository: REALAPP_DATA names its directory, REALAPP_DB
the database file (the benchmark gives each run a copy of its own).
"""
import os

from django.conf import global_settings

PROJECT_DIR = os.path.dirname(os.path.abspath(__file__))
# Default: build/realapp/data in the repository (PROJECT_DIR is
# Tools/immortal/servers/realapp/realsite).
REPO_ROOT = os.path.abspath(os.path.join(PROJECT_DIR, *[os.pardir] * 5))
DATA_DIR = os.environ.get("REALAPP_DATA") or os.path.join(
    REPO_ROOT, "build", "realapp", "data")

SECRET_KEY = "realapp-benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "realsite.blog",
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.contrib.sitemaps",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django_filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]

ROOT_URLCONF = "realsite.urls"
WSGI_APPLICATION = "realsite.wsgi.application"

TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.debug",
        "django.template.context_processors.request",
        "django.template.context_processors.i18n",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

DATABASES = {"default": {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.environ.get("REALAPP_DB")
    or os.path.join(DATA_DIR, "site.sqlite3"),
}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = []
PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]

# Every language Django ships, in the URL (/de/, /fr/, ...) and the UI.
LANGUAGE_CODE = "en"
LANGUAGES = global_settings.LANGUAGES
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True
# The content itself is in one language (Wagtail's own i18n is off).
WAGTAIL_I18N_ENABLED = False
WAGTAIL_CONTENT_LANGUAGES = [("en", "English")]

STATIC_ROOT = os.path.join(DATA_DIR, "static")
STATIC_URL = "/static/"
MEDIA_ROOT = os.path.join(DATA_DIR, "media")
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND":
                    "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

WAGTAIL_SITE_NAME = "Immortal CPython realapp"
WAGTAILADMIN_BASE_URL = "http://localhost"
WAGTAILSEARCH_BACKENDS = {"default": {
    "BACKEND": "wagtail.search.backends.database"}}
WAGTAILDOCS_EXTENSIONS = ["pdf", "txt"]

# Errors in requests go to the server's log (stderr), not to e-mail.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"],
                                   "level": "ERROR"}},
}
