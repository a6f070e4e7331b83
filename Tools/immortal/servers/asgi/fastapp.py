"""A FastAPI app with a warm cache of pydantic models, for pre-fork ASGI
servers (gunicorn with uvicorn workers: asgi/gunicorn.conf.py).

The master imports it (preload_app): the cache is built here, the routes are
warmed up through the ASGI app (immortal_prefork.asgi_warm_up(), no event
loop left behind), then gunicorn's when_ready prepares the heap.

Each route reads one page of the cache per request, the next page each time,
so every worker walks the whole cache under load:

  /models     returns the models through response_model: pydantic-core
              (compiled Rust) validates and serializes them
  /dicts      the same data as dicts, through the stdlib json module
  /orjson     the same dicts through orjson
  /count      reads the models' attributes, returns a number
  /rendered   the page's JSON rendered by pydantic in the master, at
              warm-up; the worker sends those bytes (the remedy for
              pydantic-core's writes: Doc/immortal/servers.md)
  /_prefork/  what the worker is: interpreter, prepared, immortal cache

ASGIAPP_MODELS: models in the cache (default 20000); ASGIAPP_PAGE: models
per page (default 200); ASGIAPP_WARM_UP: warm-up rounds (0: none).
"""
import itertools
import json
import os
import sys

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse, Response
from pydantic import BaseModel

N = int(os.environ.get("ASGIAPP_MODELS", "20000"))
PAGE = int(os.environ.get("ASGIAPP_PAGE", "200"))
PAGES = max(1, (N + PAGE - 1) // PAGE)


class Item(BaseModel):
    id: int
    name: str
    price: float
    tags: list[str]
    stock: dict[str, int]


CACHE = [Item(id=i, name=f"item-{i}", price=i * 0.25,
              tags=[f"tag-{i % 7}", f"colour-{i % 13}"],
              stock={"north": i % 17, "south": i % 19})
         for i in range(N)]
DICTS = [m.model_dump() for m in CACHE]
RENDERED = []      # filled by render(), in the master

app = FastAPI()
_pages = {route: itertools.count() for route in
          ("models", "dicts", "orjson", "count", "rendered")}


def _page(route):
    k = next(_pages[route]) % PAGES
    return slice(k * PAGE, (k + 1) * PAGE)


@app.get("/models", response_model=list[Item])
def models():
    return CACHE[_page("models")]


@app.get("/dicts")
def dicts():
    return Response(json.dumps(DICTS[_page("dicts")]),
                    media_type="application/json")


@app.get("/orjson")
def orjson_route():
    return ORJSONResponse(DICTS[_page("orjson")])


@app.get("/count")
def count():
    return {"count": sum(1 for m in CACHE[_page("count")] if m.price >= 0)}


@app.get("/rendered")
def rendered():
    return Response(RENDERED[next(_pages["rendered"]) % PAGES],
                    media_type="application/json")


@app.get("/_prefork/")
async def prefork_info():
    import asyncio
    import immortal_prefork
    immortal = getattr(sys, "_is_immortal", None)
    return {"pid": os.getpid(), "version": sys.version,
            "fork": hasattr(sys, "immortalize_heap"),
            "prepared": immortal_prefork.prepared(),
            "cache_immortal": bool(immortal and immortal(CACHE[0])),
            "models": N,
            "loop": type(asyncio.get_running_loop()).__module__,
            "httptools": "httptools" in sys.modules}


def render():
    """Each page as pydantic renders it for /models, once, in the master."""
    from pydantic import TypeAdapter
    adapter = TypeAdapter(list[Item])
    RENDERED[:] = [adapter.dump_json(CACHE[k * PAGE:(k + 1) * PAGE])
                   for k in range(PAGES)]


ROUTES = ["/models", "/dicts", "/orjson", "/count", "/rendered"]


def warm():
    """Render the pages, then run every route through the app."""
    render()
    try:
        import immortal_prefork
    except ImportError:
        return
    rounds = int(os.environ.get("ASGIAPP_WARM_UP",
                                immortal_prefork.WARM_UP_ROUNDS))
    immortal_prefork.asgi_warm_up(app, ROUTES, rounds)
    for counter in _pages:      # the workers start at page 0
        _pages[counter] = itertools.count()


warm()
