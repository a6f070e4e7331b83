#!/usr/bin/env bash
# Assemble and build one variant, in-tree, under build/VARIANT/.
#
#   immortal        the fork                      -> build/immortal/python
#   stock           upstream with Debian's security series (what the fork
#                   is compared with), same flags -> build/stock/python
#   pristine        the 3.11.2 tarball alone, same flags, for reference
#                                                 -> build/pristine/python
#   immortal-debug  the fork, --with-pydebug      -> build/immortal-debug/python
#   stock-debug     upstream, --with-pydebug      -> build/stock-debug/python
#   immortal-shared the fork as libpython3.11.so, installed in
#                   build/prefix/immortal/ (bin/python3, lib/libpython3.11.so.1.0):
#                   what uWSGI's python3 plugin loads (Doc/immortal/servers.md)
#   stock-shared    the same for upstream         -> build/prefix/stock/
#   immortal-opt    the fork, --enable-optimizations --with-lto (PGO + LTO,
#                   as Debian builds its python3.11) -> build/immortal-opt/python
#   stock-opt       upstream, the same            -> build/stock-opt/python
#   immortal-asan   the fork with AddressSanitizer and UBSan (gcc; upstream's
#                   configure turns pymalloc off for ASan)
#                                                 -> build/immortal-asan/python
#   immortal-m32    the fork as a 32-bit (i386) program, -m32 through Debian's
#                   gcc-multilib; modules needing 32-bit libraries are left out
#                                                 -> build/immortal-m32/python
#   immortal-deb    the fork, shared, --prefix=/opt/immortal-cpython, installed
#                   into build/deb/root/ for Tools/immortal/deb.sh (make deb)
#
# Options come from the environment and are sticky: a value given once (e.g.
# `make SHARED=1`) is saved in build/options and used by every variant until
# given again, so the fork and its stock twin always share their flags.
#   PREFIX           install prefix (default /usr/local)
#   SHARED           1: --enable-shared, libpython3.11.so found via $ORIGIN rpath
#   CONFIGURE_FLAGS  extra ./configure arguments
#   JOBS             parallel make jobs (default: number of CPUs)
# A change of options reconfigures the variant from clean. ccache is used when
# installed (through /usr/lib/ccache, so it does not leak into sysconfig's CC).
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

variant=${1:?usage: build.sh immortal|stock|pristine|immortal-debug|stock-debug|immortal-shared|stock-shared|immortal-opt|stock-opt|immortal-asan|immortal-m32|immortal-deb}
install_prefix=
optimize=
special=()
IMMORTAL_DEB_PREFIX=/opt/immortal-cpython
case $variant in
    immortal|stock|pristine) source_kind=$variant; debug= ;;
    immortal-opt|stock-opt)
        # PGO's training run is upstream's own (PROFILE_TASK: the --pgo
        # subset of the test suite), the same for both twins.
        source_kind=${variant%-opt}; debug=
        optimize="--enable-optimizations --with-lto" ;;
    immortal-debug|stock-debug) source_kind=${variant%-debug}; debug=--with-pydebug ;;
    immortal-asan)
        # Doc/immortal/reliability.md: make sanitize runs tests on it.
        source_kind=immortal; debug=
        special=(--with-address-sanitizer --with-undefined-behavior-sanitizer) ;;
    immortal-m32)
        # A native 32-bit build (the kernel runs i386 programs), not a
        # cross build: configure's checks run as they would on i386.
        source_kind=immortal; debug=
        special=('CC=gcc -m32' 'CXX=g++ -m32' --without-ensurepip) ;;
    immortal-shared|stock-shared)
        source_kind=${variant%-shared}; debug=
        install_prefix=$IMMORTAL_ROOT/build/prefix/$source_kind ;;
    immortal-deb)
        # For `make deb` (Tools/immortal/deb.sh): installed under its own
        # prefix, beside the system's python3, into a staging root.
        source_kind=immortal; debug= ;;
    *) die "unknown variant '$variant'" ;;
esac

build=$IMMORTAL_ROOT/build
dir=$build/$variant
mkdir -p "$build"

# Sticky options: explicit values win and are remembered.
options=$build/options
saved_PREFIX=/usr/local saved_SHARED=0 saved_CONFIGURE_FLAGS=
if [ -f "$options" ]; then
    # shellcheck disable=SC1090
    . "$options"
fi
PREFIX=${PREFIX-$saved_PREFIX}
SHARED=${SHARED-$saved_SHARED}
CONFIGURE_FLAGS=${CONFIGURE_FLAGS-$saved_CONFIGURE_FLAGS}
case $SHARED in 0|1) ;; *) die "SHARED must be 0 or 1, not '$SHARED'" ;; esac
case $PREFIX in /*) ;; *) die "PREFIX must be an absolute path, not '$PREFIX'" ;; esac
{
    printf 'saved_PREFIX=%q\n' "$PREFIX"
    printf 'saved_SHARED=%q\n' "$SHARED"
    printf 'saved_CONFIGURE_FLAGS=%q\n' "$CONFIGURE_FLAGS"
} > "$options.tmp" && mv "$options.tmp" "$options"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

# pyexpat links Debian's libexpat, which gets security fixes, not the
# tarball's copy of expat 2.5.0 (Doc/immortal/security.md); every variant,
# so twins compare like with like.
common_args=(--with-system-expat)
configure_args=(--prefix="$PREFIX")
if [ "$variant" = immortal-deb ]; then
    configure_args=(--prefix="$IMMORTAL_DEB_PREFIX" --enable-shared
                    'LDFLAGS=-Wl,-rpath,\$$ORIGIN/../lib')
elif [ -n "$install_prefix" ]; then
    # Always shared, installed in its own prefix: the sticky PREFIX and
    # SHARED are for the main variants.
    configure_args=(--prefix="$install_prefix" --enable-shared --with-ensurepip=no
                    'LDFLAGS=-Wl,-rpath,\$$ORIGIN/../lib')
elif [ "$SHARED" = 1 ]; then
    # $ORIGIN: build/VARIANT/python finds the libpython beside it, an installed
    # bin/python3 the one in ../lib, never the system's libpython3.11.so.1.0.
    configure_args+=(--enable-shared 'LDFLAGS=-Wl,-rpath,\$$ORIGIN:\$$ORIGIN/../lib')
fi
configure_args+=("${common_args[@]}")
[ -z "$debug" ] || configure_args+=("$debug")
[ ${#special[@]} -eq 0 ] || configure_args+=("${special[@]}")
# shellcheck disable=SC2206
[ -z "$optimize" ] || configure_args+=($optimize)
# shellcheck disable=SC2206
[ -z "$CONFIGURE_FLAGS" ] || configure_args+=($CONFIGURE_FLAGS)

if [ "$variant" = immortal-m32 ] &&
   ! echo 'int main(void) { return 0; }' | gcc -m32 -x c - -o /dev/null 2>/dev/null; then
    die "gcc -m32 cannot link a program: apt-get install gcc-multilib"
fi

"$IMMORTAL_ROOT/Tools/immortal/assemble.sh" "$source_kind" "$dir"

if [ "$variant" = immortal-asan ]; then
    # Configure's test programs and the build run (setup.py, freezing); what an exiting
    # interpreter leaves allocated is LeakSanitizer's business only in
    # sanitize.sh's embedding run. Upstream's own ASan CI does the same.
    export ASAN_OPTIONS=detect_leaks=0
fi

if [ -d /usr/lib/ccache ]; then
    export PATH=/usr/lib/ccache:$PATH
fi

stamp=$dir/.immortal-configure
want=$(printf '%q ' "${configure_args[@]}")
if [ ! -f "$dir/Makefile" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    if [ -f "$dir/Makefile" ]; then
        echo "build: $variant: configure options changed, rebuilding from clean" >&2
        make -C "$dir" distclean >/dev/null 2>&1 || true
        rm -f "$stamp"
        # distclean may remove upstream files (*.orig, ...): put them back.
        "$IMMORTAL_ROOT/Tools/immortal/assemble.sh" "$source_kind" "$dir"
    fi
    echo "build: $variant: ./configure $want" >&2
    (cd "$dir" && ./configure "${configure_args[@]}") > "$build/$variant.configure.log" 2>&1 || {
        tail -n 20 "$build/$variant.configure.log" >&2
        die "configure failed for $variant: see build/$variant.configure.log"
    }
    printf '%s' "$want" > "$stamp"
fi

echo "build: $variant: make -j$JOBS (log: build/$variant.build.log)" >&2
make -C "$dir" -j"$JOBS" > "$build/$variant.build.log" 2>&1 || {
    grep -nE 'error|Error' "$build/$variant.build.log" | sed -n 1,20p >&2
    tail -n 20 "$build/$variant.build.log" >&2
    die "build of $variant failed: see build/$variant.build.log"
}
# setup.py lists the optional extension modules it could not build.
missing=$(sed -n '/necessary bits to build these optional modules were not found/,/^$/p;/Failed to build these modules/,/^$/p' \
    "$build/$variant.build.log" | tr -s ' \n' ' ')
[ -z "$missing" ] || echo "build: $variant: warning: $missing (Tools/immortal/deps.sh installs their libraries)" >&2

if [ "$variant" = immortal-deb ]; then
    rm -rf "$build/deb/root"
    make -C "$dir" install DESTDIR="$build/deb/root" > "$build/$variant.install.log" 2>&1 || {
        tail -n 20 "$build/$variant.install.log" >&2
        die "install of $variant into build/deb/root failed: see build/$variant.install.log"
    }
    echo "build: $variant: installed into build/deb/root$IMMORTAL_DEB_PREFIX" >&2
elif [ -n "$install_prefix" ]; then
    make -C "$dir" install > "$build/$variant.install.log" 2>&1 || {
        tail -n 20 "$build/$variant.install.log" >&2
        die "install of $variant failed: see build/$variant.install.log"
    }
    "$install_prefix/bin/python3" -c 'import sys; print("build: " + sys.argv[1] + ": " + sys.version)' "$variant" >&2 ||
        die "the installed $variant interpreter does not run"
else
    "$dir/python" -c 'import sys; print("build: " + sys.argv[1] + ": " + sys.version)' "$variant" >&2 ||
        die "the built $variant interpreter does not run"
fi
