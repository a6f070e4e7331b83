"""A second sys.immortalize_heap() over a heap that did not change.

A million untracked row dicts (only atoms as values, so the collector does
not track them) are made immortal by a first call; the second call finds
nothing new. It should cost a small fraction of the first: untracked
immortal dicts are entered again only if their PEP 509 version says they
changed since the last walk.

    build/immortal/python Tools/immortal/bench/second_call.py [N]
"""

import gc
import sys
import time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
rows = [{"id": i, "name": "n%d" % i, "v": i * 0.5} for i in range(n)]
assert not gc.is_tracked(rows[0])
t = time.perf_counter()
first = sys.immortalize_heap()
t1 = time.perf_counter() - t
t = time.perf_counter()
second = sys.immortalize_heap()
t2 = time.perf_counter() - t
rows[0]["new"] = "".join(["a new ", "str"])    # untracked still, but changed
assert not gc.is_tracked(rows[0])
t = time.perf_counter()
third = sys.immortalize_heap()
t3 = time.perf_counter() - t
print(f"{n} row dicts: first call {t1:.3f} s ({first.objects} objects), "
      f"second {t2:.3f} s ({second.objects}), after one change "
      f"{t3:.3f} s ({third.objects}); the changed row's new value "
      f"immortal: {sys._is_immortal(rows[0]['new'])}")
