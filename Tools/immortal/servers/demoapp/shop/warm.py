"""The master's warm-up: create and fill the database if needed, then load
a cache of the catalogue (dicts, strings, a search index) and render each
page once, so that templates, URL resolvers and ORM paths are warm before
the workers fork."""
import random

from django.conf import settings
from django.db import connection

CACHE = {}

# The request mix of the server benchmark, for immortal_prefork.warm_up().
URLS = ["/", "/product/1/", "/product/2/", "/api/search/?q=red+steel",
        "/api/search/?q=travel"]

WORDS = ("red green blue black white small large light heavy steel wood "
         "glass cotton wool smart classic modern vintage compact deluxe "
         "portable outdoor kitchen garden office travel sport").split()


def ensure_database():
    from django.core.management import call_command
    from demoapp.shop.models import Category, Product
    call_command("migrate", run_syncdb=True, verbosity=0,
                 interactive=False)
    if Product.objects.exists():
        return
    rng = random.Random(42)
    cats = [Category.objects.create(name=f"Category {i}") for i in range(40)]
    batch = []
    for i in range(settings.DEMOAPP_PRODUCTS):
        words = rng.sample(WORDS, 4)
        batch.append(Product(
            category=cats[i % len(cats)], name=" ".join(words).title(),
            description=" ".join(rng.choice(WORDS) for _ in range(40)),
            price=f"{rng.randrange(100, 100000) / 100:.2f}",
            stock=rng.randrange(0, 500)))
        if len(batch) == 1000:
            Product.objects.bulk_create(batch)
            batch = []
    Product.objects.bulk_create(batch)


def load_cache():
    from demoapp.shop.models import Category, Product
    products, by_id, index = [], {}, {}
    for p in Product.objects.select_related("category").order_by("id"):
        info = {"id": p.id, "name": p.name, "description": p.description,
                "price": str(p.price), "category": p.category.name,
                "words": tuple(p.name.lower().split())}
        products.append(info)
        by_id[p.id] = info
        for w in info["words"]:
            index.setdefault(w, set()).add(p.id)
    CACHE.update(
        products=products, by_id=by_id,
        index={w: frozenset(ids) for w, ids in index.items()},
        categories=[c.name for c in Category.objects.order_by("name")])


def warm_up():
    ensure_database()
    load_cache()
    from django.test import Client
    client = Client()
    for url in ("/", "/product/1/", "/api/search/?q=red+steel"):
        for _ in range(3):
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"warm-up: {url} answered "
                                   f"{response.status_code}")
    connection.close()          # no database connection crosses the fork


def warm_master(application, helper):
    """The master's part of the WSGI and ASGI modules: warm_up(), then,
    where immortal_prefork is importable, requests through the real
    handler with its `helper` ("warm_up" for WSGI, "asgi_warm_up" for
    ASGI), so that the code workers run is specialized in the master
    before the heap is frozen (Doc/immortal/servers.md, "Code in the
    workers"). DEMOAPP_WARM_UP: the rounds (0: none; default
    immortal_prefork.WARM_UP_ROUNDS). Returns immortal_prefork, or None."""
    import os
    warm_up()
    try:
        import immortal_prefork
    except ImportError:
        return None
    rounds = int(os.environ.get("DEMOAPP_WARM_UP",
                                immortal_prefork.WARM_UP_ROUNDS))
    getattr(immortal_prefork, helper)(application, URLS, rounds)
    connection.close()          # no database connection crosses the fork
    return immortal_prefork
