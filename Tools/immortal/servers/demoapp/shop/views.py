"""Request handlers: each reads the warm cache built in the master, some
query the database, all allocate and drop a response."""
import random

from django.http import Http404, JsonResponse
from django.shortcuts import render

from demoapp.shop import warm
from demoapp.shop.models import Product


def catalogue(request):
    cache = warm.CACHE
    start = random.randrange(0, max(1, len(cache["products"]) - 30))
    items = cache["products"][start:start + 30]
    return render(request, "shop/catalogue.html", {
        "items": items, "categories": cache["categories"],
        "total": len(cache["products"]),
    })


def product(request, pk):
    info = warm.CACHE["by_id"].get(pk)
    if info is None:
        raise Http404("no such product")
    fresh = Product.objects.filter(pk=pk).values("stock").first()
    return render(request, "shop/product.html",
                  {"p": info, "stock": fresh["stock"] if fresh else 0})


def search(request):
    words = request.GET.get("q", "").lower().split()
    index = warm.CACHE["index"]
    hits = None
    for w in words:
        ids = index.get(w, frozenset())
        hits = ids if hits is None else hits & ids
    by_id = warm.CACHE["by_id"]
    found = [by_id[i] for i in sorted(hits or ())[:20]]
    return JsonResponse({"count": len(hits or ()), "results": [
        {"id": p["id"], "name": p["name"], "price": p["price"]}
        for p in found]})


def prefork_status(request):
    """What the worker serving this request runs on: the interpreter,
    Django's version, how its master prepared the heap, and whether the
    warm cache is immortal."""
    import os
    import sys
    import django
    try:
        import immortal_prefork
        prepared = immortal_prefork.prepared()
    except ImportError:
        prepared = None
    is_immortal = getattr(sys, "_is_immortal", lambda obj: False)
    return JsonResponse({
        "version": sys.version, "django": django.get_version(),
        "pid": os.getpid(), "prepared": prepared,
        "cache_immortal": is_immortal(warm.CACHE["products"]),
    })
