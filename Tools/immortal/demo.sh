#!/usr/bin/env bash
# The main job: the fork and its stock twin, built from the same upstream
# source with the same flags, side by side.
#
# Until the copy-on-write probe exists (the pre-fork memory demo), this shows
# what the pipeline produced: both interpreters, what tells them apart, that
# they share their build configuration, and the point of the fork in one
# line: does taking a million references to None write None's refcount?
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

show='
import sys, sysconfig, platform
print("  sys.version:          ", sys.version)
print("  platform version:     ", platform.python_version(), platform.python_implementation())
print("  _immortal_version:    ", getattr(sys.implementation, "_immortal_version", "(absent: stock)"))
print("  configure arguments:  ", sysconfig.get_config_var("CONFIG_ARGS"))
import ctypes
stored = lambda o: ctypes.c_ssize_t.from_address(id(o)).value
before = stored(None)
refs = [None] * 1_000_000
print("  [None] * 1_000_000:    stored refcount of None moved by", stored(None) - before)
'
for v in stock immortal; do
    echo "build/$v/python"
    "build/$v/python" -c "$show"
done
a=$(build/stock/python -c 'import sysconfig; print(sysconfig.get_config_var("CONFIG_ARGS"))')
b=$(build/immortal/python -c 'import sysconfig; print(sysconfig.get_config_var("CONFIG_ARGS"))')
if [ "$a" = "$b" ]; then
    echo "demo: same upstream source, same configure flags; the fork differs only by patches/ and its own files"
else
    echo "demo: configure flags differ between the twins" >&2
    exit 1
fi
