#!/usr/bin/env bash
# make m32: the fork built as a 32-bit program (build/immortal-m32, gcc -m32
# from Debian's gcc-multilib), then the tests of the refcount
# representation on it: test_immortal_bounds (2**30 handovers between the
# core and stock-ABI code, the band's edges, the core's re-centring),
# test_immortal, test_immortalize_heap. Doc/immortal/reliability.md has the
# last run's output.
set -euo pipefail
# shellcheck source=../common.sh
. "$(dirname "$0")/../common.sh"

m32=$IMMORTAL_ROOT/build/immortal-m32
[ -x "$m32/python" ] || die "no $m32/python: make immortal-m32 first"
"$m32/python" -c 'import struct, sys, sysconfig
print("m32:", sys.version.split()[0], struct.calcsize("P") * 8, "bit,",
      sysconfig.get_config_var("CC"))'
file -L "$m32/python" 2>/dev/null || true
cd "$m32"
if [ $# -gt 0 ]; then
    exec ./python -m test -j"$(nproc)" "$@"
fi
status=0
./python -m test -v test_immortal_bounds > bounds.log 2>&1 || status=$?
grep -E '^(test_|Ran |OK|FAILED)' bounds.log || true
./python -m test -j"$(nproc)" test_immortal test_immortalize_heap || status=$?
exit "$status"
