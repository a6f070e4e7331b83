#!/usr/bin/env bash
# make deb: a Debian package of the fork, installed under its own prefix
# (/opt/immortal-cpython) beside the system's python3, which it never
# touches: no file outside the prefix, no alternatives, no /usr/bin entry.
#
#   Tools/immortal/deb.sh    -> build/deb/immortal-cpython_VERSION_ARCH.deb
#
# build.sh immortal-deb configures the fork with that prefix (shared, its
# libpython found through an $ORIGIN rpath, pip from ensurepip) and installs
# it into build/deb/root with DESTDIR; this script adds DEBIAN/control, with
# the runtime libraries dpkg-shlibdeps finds, and runs dpkg-deb.
# Install: dpkg -i build/deb/immortal-cpython_*.deb; remove: dpkg -r
# immortal-cpython. test_immortal_install does both.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is missing (Debian's dpkg)"
command -v dpkg-shlibdeps >/dev/null 2>&1 ||
    die "dpkg-shlibdeps is missing: apt-get install dpkg-dev (Tools/immortal/deps.sh)"

"$IMMORTAL_ROOT/Tools/immortal/build.sh" immortal-deb
deb=$IMMORTAL_ROOT/build/deb
root=$deb/root
prefix=/opt/immortal-cpython
[ -x "$root$prefix/bin/python3" ] || die "build.sh immortal-deb installed nothing in $root$prefix"

fork_version=$(sed -n 's/^#define PY_IMMORTAL_VERSION "\(.*\)"/\1/p' \
    "$IMMORTAL_ROOT/Include/immortalversion.h")
[ -n "$fork_version" ] || die "no PY_IMMORTAL_VERSION in Include/immortalversion.h"
version=3.11.2+immortal$fork_version
arch=$(dpkg --print-architecture)

# The libraries the binaries link, as package dependencies (dpkg-shlibdeps
# wants a debian/control to read; a minimal one in a scratch directory).
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/debian"
printf 'Source: immortal-cpython\n\nPackage: immortal-cpython\nArchitecture: any\n' \
    > "$scratch/debian/control"
mapfile -t elves < <(find "$root$prefix" -type f \( -name '*.so*' -o -perm -u+x \) \
    -exec sh -c 'head -c 4 "$1" | grep -q ELF && echo "$1"' _ {} \;)
deps=$(cd "$scratch" && dpkg-shlibdeps -O -l"$root$prefix/lib" \
    --ignore-missing-info "${elves[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$deps" ] || die "dpkg-shlibdeps found no dependencies"
# Our own libpython3.11.so.1.0 has the SONAME of Debian's: the package
# ships it (the binaries find it through their rpath), it does not need
# Debian's.
deps=$(printf '%s' "$deps" | sed -E 's/(^|, )libpython3\.11[^,]*//; s/^, //')

mkdir -p "$root/DEBIAN"
size=$(du -sk "$root$prefix" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: immortal-cpython
Version: $version
Architecture: $arch
Maintainer: Immortal CPython developers <dev@immortal-cpython.invalid>
Installed-Size: $size
Depends: $deps
Recommends: libmimalloc2.0
Section: python
Priority: optional
Homepage: https://immortal-cpython.invalid/
Description: CPython 3.11.2 with immortal objects, for pre-fork servers
 Immortal CPython: sys.immortalize_heap() makes a master's warm heap
 immortal before it forks workers, which then share it instead of copying
 it. Installed under $prefix, beside the system's python3, which it
 leaves alone: run $prefix/bin/python3.
CONTROL
out=$deb/immortal-cpython_${version}_$arch.deb
dpkg-deb --root-owner-group -Zgzip --build "$root" "$out" >/dev/null
echo "deb: $out ($(du -h "$out" | cut -f1))" >&2
