from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.contrib.sitemaps.views import sitemap
from wagtail.documents import urls as wagtaildocs_urls

from realsite.blog import views

urlpatterns = [
    path("django-admin/", admin.site.urls),
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    path("sitemap.xml", sitemap),
]

# Pages, search and tags under a language prefix: /en/, /de/, /pt-br/...
urlpatterns += i18n_patterns(
    path("search/", views.search, name="search"),
    path("tags/<slug:tag>/", views.tag, name="tag"),
    path("", include(wagtail_urls)),
)
