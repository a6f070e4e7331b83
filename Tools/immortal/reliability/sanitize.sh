#!/usr/bin/env bash
# make sanitize: the fork under AddressSanitizer and UBSan, then
# LeakSanitizer on Py_Initialize()/Py_Finalize() cycles of an embedding
# program that calls sys.immortalize_heap(). Doc/immortal/reliability.md
# has the last run's output.
#
#   sanitize.sh [TEST ...]    default: ours that run in the build tree, and
#                             test_gc test_dict test_sys test_weakref
#                             test_tuple test_unicode test_capi
# Reports: build/sanitize/{asan,ubsan}.PID (one file per process that
# found something); the summary is printed last. Exit status 1 if any.
set -euo pipefail
# shellcheck source=../common.sh
. "$(dirname "$0")/../common.sh"

build=$IMMORTAL_ROOT/build
asan=$build/immortal-asan
out=$build/sanitize
[ -x "$asan/python" ] || die "no $asan/python: make immortal-asan first"
rm -rf "$out"
mkdir -p "$out"

# Ours that need neither the installed servers prefix nor PyPI nor the
# stock twin's build: prefork, install, wheels and security test those.
ours=(test_immortal test_immortalize_heap test_immortal_alloc
      test_immortal_audit test_immortal_detect test_immortal_extensions
      test_immortal_bounds test_immortal_version test_immortal_privmap
      test_immortal_concurrency)
upstream=(test_gc test_dict test_sys test_weakref test_tuple test_unicode
          test_capi)
if [ $# -gt 0 ]; then tests=("$@"); else tests=("${ours[@]}" "${upstream[@]}"); fi

# Leaks are the embedding run's business; here an interpreter that exits
# leaves its immortal heap behind by design.
# libcrypt preloaded: ASan's crypt_r() interceptor finds the real one only
# in a library loaded at start-up, and _crypt is a shared module (without
# it, _crypt.crypt() jumps to address 0, fork and stock alike); then ASan
# must be told not to insist on coming first.
export LD_PRELOAD=libcrypt.so.1
export ASAN_OPTIONS="detect_leaks=0:verify_asan_link_order=0:log_path=$out/asan"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$out/ubsan"
echo "sanitize: ${#tests[@]} test modules on $asan/python" >&2
status=0
(cd "$asan" && ./python -m test -j"$(nproc)" --timeout 1800 "${tests[@]}") \
    > "$out/tests.log" 2>&1 || status=$?
tail -n 15 "$out/tests.log"

# LeakSanitizer: the same warm heap, N cycles, with and without the call.
cflags=$("$asan/python" -c 'import sysconfig as s; print(s.get_config_var("CFLAGS"))')
libs=$("$asan/python" -c 'import sysconfig as s; print(s.get_config_var("LIBS"), s.get_config_var("SYSLIBS"), s.get_config_var("LINKFORSHARED"))')
# shellcheck disable=SC2086
gcc $cflags -I"$asan/Include" -I"$asan" \
    "$IMMORTAL_ROOT/Tools/immortal/reliability/embed_cycles.c" \
    "$asan/libpython3.11.a" $libs -o "$out/embed_cycles"
echo "sanitize: LeakSanitizer on embed_cycles (build/sanitize/embed_cycles)"
for mode in plain immortalize; do
    for n in 1 4; do
        log=$out/lsan-$mode-$n.log
        (cd "$out" && PYTHONHOME=$asan PYTHONPATH=$asan/Lib:$asan/$(cat "$asan/pybuilddir.txt") \
            ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0 ./embed_cycles "$n" "$mode") > "$log" 2>&1 || true
        summary=$(grep -h 'SUMMARY: AddressSanitizer' "$log" || echo "no leak reported")
        rss=$(grep -h 'embed_cycles:' "$log" | sed 's/.*: rss //' | tr '\n' ' ' || true)
        echo "  $mode, $n cycle(s): $summary; rss after each: $rss"
    done
done

found=$(find "$out" -name 'asan.*' -o -name 'ubsan.*' | sort)
if [ -n "$found" ]; then
    echo "sanitize: reports:"
    for f in $found; do
        echo "== ${f#"$out"/}"
        grep -m3 -E 'ERROR|runtime error' "$f" || head -n 3 "$f"
    done
    status=1
else
    echo "sanitize: no AddressSanitizer or UBSan report"
fi
exit "$status"
