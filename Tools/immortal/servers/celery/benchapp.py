"""The Celery app of the prefork test and benchmark (celerybench.py).

At import, in the worker's main process, it builds a warm dataset shaped
like an application's caches (CELERYBENCH_MB MiB of records and an index),
then, unless CELERYBENCH_PREPARE=0, calls immortal_prefork.celery_setup():
sys.immortalize_heap() on the fork, gc.freeze() on stock, before the pool's
children are forked. The broker and the result backend are the Redis
server at CELERYBENCH_REDIS.
"""
import os

from celery import Celery

import immortal_prefork

app = Celery("benchapp", broker=os.environ["CELERYBENCH_REDIS"],
             backend=os.environ["CELERYBENCH_REDIS"])
app.conf.update(worker_prefetch_multiplier=1, task_acks_late=False,
                worker_hijack_root_logger=False, broker_connection_retry=True,
                broker_connection_retry_on_startup=True)

MB = int(os.environ.get("CELERYBENCH_MB", "100"))
RECORDS = {}
INDEX = {}
for i in range(MB * 1024):
    key = "rec-%08d" % i
    RECORDS[key] = {"id": i, "name": "record number %d" % i,
                    "score": i * 0.25, "tags": ("t%d" % (i % 97), "x"),
                    "values": [i, i + 1, i + 2], "key": key}
    INDEX.setdefault("t%d" % (i % 997), []).append(key)
KEYS = list(RECORDS)

if os.environ.get("CELERYBENCH_PREPARE", "1") != "0":
    immortal_prefork.celery_setup()


def _memory_kib():
    """(private, shared) KiB of this process, from smaps_rollup."""
    fields = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1])
    return (fields["Private_Clean"] + fields["Private_Dirty"],
            fields["Shared_Clean"] + fields["Shared_Dirty"])


@app.task
def lookup(part, parts):
    """Read every parts-th record from part on, and its index entry."""
    total = 0
    for k in KEYS[part::parts]:
        r = RECORDS[k]
        total += r["id"] + len(r["name"]) + len(r["tags"]) + r["values"][2]
        total += len(INDEX["t%d" % (r["id"] % 997)])
    return total


@app.task
def report(pause):
    """This child's pid, private memory, how its heap was prepared, and
    whether the dataset is immortal here (None on stock)."""
    import sys
    import time
    time.sleep(pause)              # so that each child takes one
    is_immortal = getattr(sys, "_is_immortal", None)
    uss, shared = _memory_kib()
    return {"pid": os.getpid(), "uss_kib": uss, "shared_kib": shared,
            "prepared": immortal_prefork.prepared(),
            "immortal": is_immortal(RECORDS) if is_immortal else None}
