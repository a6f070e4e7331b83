#!/usr/bin/env bash
# The main job: the pre-fork memory demo. The same warm heap is built by the
# fork and by its stock twin (same upstream source, same flags); each master
# forks workers that read the heap, collect, and serve request-shaped
# garbage; the table shows what each worker cost in private memory, and
# build/cowprobe.svg charts it. Then the same per shape of warm data (40
# shapes, one row each). Tools/immortal/cowprobe.py says more.
#
# Extra probe options: Tools/immortal/demo.sh --heap-mb 300 --workers 8 ...
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

for v in stock immortal; do
    printf '%-22s %s\n' "build/$v/python:" "$("build/$v/python" -c 'import sys; print(sys.version.replace(chr(10), " "))')"
done
a=$(build/stock/python -c 'import sysconfig; print(sysconfig.get_config_var("CONFIG_ARGS"))')
b=$(build/immortal/python -c 'import sysconfig; print(sysconfig.get_config_var("CONFIG_ARGS"))')
if [ "$a" != "$b" ]; then
    echo "demo: configure flags differ between the twins" >&2
    exit 1
fi
echo "same upstream source, same configure flags: the fork differs only by patches/ and its own files"

build/stock/python Tools/immortal/cowprobe.py \
    --python stock=build/stock/python --python fork=build/immortal/python \
    --svg build/cowprobe.svg --json build/cowprobe.json "$@"

# The shape table: each shape of warm data (Tools/immortal/cowshapes.py) in
# a master of its own, one row per shape (stock, stock + gc.freeze(), fork).
exec build/stock/python Tools/immortal/cowprobe.py --shape-table \
    --python stock=build/stock/python --python fork=build/immortal/python \
    --json build/cowshapes.json
