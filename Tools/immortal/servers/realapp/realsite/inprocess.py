"""One worker without a server: what it holds between requests.

    python -m realsite.inprocess PASSES

The master imports the site (realsite.wsgi warms it up), prepares its heap
as realsite.prefork does (REALAPP_PREPARE), and forks one worker, which
runs immortal_prefork.after_fork() and requests every URL PASSES times
through the WSGI application. After each request its private memory (USS)
is read; printed as JSON: the mean, the largest and the last reading, the
last again after a gc.collect() (cyclic garbage of the last requests gone:
what the worker keeps), and the seconds the passes took (wall, and CPU:
user + system).
"""
import gc
import json
import os
import sys
import time

import immortal_prefork

from realsite import prefork, warm, wsgi


def uss_kib():
    fields = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                fields[parts[0].rstrip(":")] = int(parts[1])
    return fields["Private_Clean"] + fields["Private_Dirty"]


def main():
    passes = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    prefork._prepare(immortal_prefork.prepare_fork)
    urls = warm.urls()
    r, w = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        immortal_prefork.after_fork()
        at_fork = uss_kib()
        readings = []
        t0 = time.perf_counter()
        c0 = time.process_time()
        for _ in range(passes):
            for url in urls:
                warm.request(wsgi.application, url)
                readings.append(uss_kib())
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
        gc.collect()
        result = {"fork_kib": at_fork, "mean_kib": sum(readings) / len(readings),
                  "max_kib": max(readings), "last_kib": readings[-1],
                  "collected_kib": uss_kib(), "requests": len(readings),
                  "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2)}
        os.write(w, json.dumps(result).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        raise SystemExit("realapp in-process worker failed (status %d)" % status)
    print("REALAPP-INPROCESS " + data.decode(), flush=True)


if __name__ == "__main__":
    main()
