from django.urls import path

from demoapp.shop import views

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("product/<int:pk>/", views.product, name="product"),
    path("api/search/", views.search, name="search"),
    path("_prefork/", views.prefork_status, name="prefork_status"),
]
