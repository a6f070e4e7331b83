#!/usr/bin/env python3
"""What extensions built for stock 3.11 cost a worker after
sys.immortalize_heap().

Their Py_INCREF/Py_DECREF are a plain ob_refcnt++/--: every immortal object
they touch gets its refcount written, and its page copied. A master builds
a heap of JSON-like records and immortalizes it; one worker per serializer
encodes the whole heap once; the table gives each worker's Private_Dirty
growth. json's C accelerator is built with the fork's headers (it skips
immortal objects); msgpack, simplejson and ujson are Debian's, built for
stock 3.11.

    build/immortal/python Tools/immortal/bench/extcost.py   # Debian's packages on
                                                           # /usr/lib/python3/dist-packages
"""

import gc
import os
import sys

sys.path.append("/usr/lib/python3/dist-packages")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cowprobe import smaps_rollup  # noqa: E402


def serializers():
    import json
    out = {"json (fork's headers)": json.dumps}
    for name, attr in (("msgpack", "packb"), ("simplejson", "dumps"),
                       ("ujson", "dumps")):
        try:
            mod = __import__(name)
        except ImportError:
            print(f"extcost: {name} is not installed: skipped", file=sys.stderr)
            continue
        out[f"{name} (stock headers)"] = getattr(mod, attr)
    return out


def main():
    if not hasattr(sys, "immortalize_heap"):
        sys.exit("extcost: run it with the fork")
    funcs = serializers()
    start = smaps_rollup()["Rss"]
    heap = [{"id": i, "name": f"record-{i:08d}", "score": i * 0.25,
             "tags": ["alpha", "beta", f"t{i % 97}"],
             "owner": {"user": f"user{i % 1009}", "active": bool(i & 1)}}
            for i in range(200_000)]
    heap_kb = smaps_rollup()["Rss"] - start
    gc.collect()
    sys.immortalize_heap()
    print(f"heap: {len(heap)} records, {heap_kb / 1024:.1f} MiB; one worker "
          f"per serializer encodes all of it once")
    print(f"{'serializer':28} {'private MiB':>12} {'% of heap':>10}")
    for label, func in funcs.items():
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            base = smaps_rollup()["Private_Dirty"]
            func(heap)
            grown = smaps_rollup()["Private_Dirty"] - base
            os.write(w, str(grown).encode())
            os._exit(0)
        os.close(w)
        grown = int(os.read(r, 100))
        os.waitpid(pid, 0)
        print(f"{label:28} {grown / 1024:12.1f} {100 * grown / heap_kb:9.1f}%")


if __name__ == "__main__":
    main()
