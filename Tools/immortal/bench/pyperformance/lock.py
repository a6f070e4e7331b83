#!/usr/bin/env python3
"""Regenerate requirements.txt from requirements.in (make pyperformance's
runner venv).

    python3 Tools/immortal/bench/pyperformance/lock.py [--dest DIR] [--check]

The Wagtail benchmark's lock (Tools/immortal/servers/realapp/lock.py) on
these files: pip download from PyPI alone, then one `name==version
--hash=sha256:...` line per distribution. --check fails (exit 1) if
requirements.txt would change. Stdlib only.
"""

import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))
# Under its own name: it imports the corpus's lock.py as "lock".
_spec = importlib.util.spec_from_file_location(
    "realapp_lock", os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                 "servers", "realapp", "lock.py"))
realapp_lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(realapp_lock)

if __name__ == "__main__":
    realapp_lock.main(
        __doc__, os.path.join(HERE, "requirements.in"),
        os.path.join(HERE, "requirements.txt"),
        title="The runner venv of make pyperformance "
              "(Tools/immortal/bench/pyperformance.py)",
        script="Tools/immortal/bench/pyperformance/lock.py")
