#!/usr/bin/env bash
# Install, with apt, whatever the build and the tests need and this machine
# lacks (Debian 12). Does nothing, and needs no network, when all is present.
#
# The list covers every optional stdlib extension module (so the fork and its
# stock twin build the same full stdlib) and the tools the tests call (gdb
# for test_gdb; Debian's uWSGI and gunicorn for test_immortal_prefork).
# A package given as NAME>=VERSION is also upgraded when an older one is
# installed: the libraries whose security fixes the fork takes from Debian
# (Doc/immortal/security.md).
set -euo pipefail

packages=(
    # compiler, make, patch, tree tools
    build-essential pkg-config git rsync ccache patch xz-utils ca-certificates
    # optional stdlib modules
    libssl-dev zlib1g-dev libbz2-dev liblzma-dev libffi-dev libsqlite3-dev
    libreadline-dev libncurses-dev libgdbm-dev libgdbm-compat-dev uuid-dev tk-dev
    # pyexpat links Debian's libexpat (--with-system-expat), not the copy of
    # expat 2.5.0 in the tarball that no security fix reaches; deb12u5 (the
    # current one in 2026-12) fixes CVE-2024-28757, CVE-2025-59375 and more
    'libexpat1-dev>=2.5.0-1+deb12u5'
    # used by tests
    gdb
    # pre-fork servers the tests run the fork under (test_immortal_prefork),
    # and the server benchmark's load generator
    uwsgi-core uwsgi-plugin-python3 gunicorn python3-django wrk
    # the broker of the Celery prefork test and benchmark (started on
    # loopback by them, never as a service)
    redis-server
    # the allocator of workers forked after sys.immortalize_heap()
    # (Python/immortal_alloc.c loads it at run time)
    libmimalloc2.0
    # binary extensions built for stock 3.11 (test_immortal_extensions)
    python3-numpy python3-lxml python3-yaml python3-psutil python3-markupsafe
    python3-cryptography python3-msgpack python3-simplejson python3-regex
    python3-pil python3-ujson python3-bcrypt
)

missing=()
for spec in "${packages[@]}"; do
    p=${spec%%>=*}
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    elif [ "$p" != "$spec" ] &&
         ! dpkg --compare-versions "$(dpkg-query -W -f='${Version}' "$p")" ge "${spec#*>=}"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

command -v apt-get >/dev/null 2>&1 ||
    { echo "deps.sh: missing ${missing[*]} and no apt-get to install them" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then sudo=
elif command -v sudo >/dev/null 2>&1; then sudo=sudo
else
    echo "deps.sh: missing ${missing[*]}: run as root: apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null ||
    { echo "deps.sh: apt-get update failed (network?)" >&2; exit 1; }
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
    { echo "deps.sh: apt-get install ${missing[*]} failed" >&2; exit 1; }
