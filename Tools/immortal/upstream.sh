#!/usr/bin/env bash
# Make sure the pristine upstream tarball is in the cache, and print its path.
#
# The tarball comes from Debian's source package through apt's source client
# (`apt-get source --download-only`), is checked against upstream.lock's
# sha256 and only then moved into the cache, so an interrupted or wrong
# download leaves nothing behind. With a good cached copy no network or apt
# is needed. python.org's Python-3.11.2.tgz is the same file: users off
# Debian may put it into the cache directory instead.
#
# Usage: upstream.sh            print the cached tarball's path (download if needed)
#        upstream.sh --where    print the cache directory
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

cache=$IMMORTAL_CACHE_DIR
want=$UPSTREAM_SHA256
hint="or put $UPSTREAM_TARBALL_ALT from python.org (sha256 $want) into $cache/"

if [ "${1:-}" = --where ]; then
    printf '%s\n' "$cache"
    exit 0
fi

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# A cached copy under either name, checked every time (it is cheap).
for name in "$UPSTREAM_TARBALL" "$UPSTREAM_TARBALL_ALT"; do
    f=$cache/$name
    [ -f "$f" ] || continue
    got=$(sha_of "$f")
    [ "$got" = "$want" ] ||
        die "cached $f has sha256 $got, expected $want: delete it and run again"
    printf '%s\n' "$f"
    exit 0
done

command -v apt-get >/dev/null 2>&1 ||
    die "no cached tarball and no apt-get to fetch it: $hint"

mkdir -p "$cache" 2>/dev/null || die "cannot create cache directory $cache (set IMMORTAL_CACHE_DIR)"
tmp=$(mktemp -d "$cache/.download.XXXXXX")
log=$tmp/apt.log
trap 'rm -rf "$tmp"' EXIT

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else return 1; fi
}

has_deb_src() {
    grep -rqsE '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}

# The machine's own Debian mirror and suite, for a deb-src entry like its deb ones.
add_deb_src() {
    local codename uri
    codename=$(. /etc/os-release 2>/dev/null && printf '%s' "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || die "cannot tell this machine's Debian suite from /etc/os-release; $hint"
    uri=$(grep -rhsE '^[[:space:]]*(URIs:|deb[[:space:]])' \
            /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
          grep -oE 'https?://[^ ]*debian[^ ]*' | grep -v security | sed -n 1,1p || true)
    uri=${uri:-http://deb.debian.org/debian}
    as_root tee /etc/apt/sources.list.d/immortal-cpython-src.sources >/dev/null <<EOF || return 1
# Added by Immortal CPython's Tools/immortal/upstream.sh to fetch the pristine
# CPython source with apt-get source.
Types: deb-src
URIs: $uri
Suites: $codename $codename-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

if ! apt-get source --print-uris "$UPSTREAM_DEBIAN_SOURCE" >"$log" 2>&1; then
    if ! has_deb_src; then
        echo "upstream: no deb-src entry in apt's sources; adding one for this machine's suites" >&2
        add_deb_src ||
            die "adding a deb-src entry needs root: run as root (or with sudo), $hint"
    fi
    as_root apt-get update >"$log" 2>&1 ||
        die "apt-get update failed (no network, or not root?): see 'apt-get update'; $hint"
fi

# apt's sandbox user must be able to write the download directory.
chmod 755 "$tmp"
chown _apt "$tmp" 2>/dev/null || true
(cd "$tmp" && apt-get source --download-only "$UPSTREAM_DEBIAN_SOURCE") >"$log" 2>&1 ||
    die "apt-get source --download-only $UPSTREAM_DEBIAN_SOURCE failed (network?): $(grep -E '^(E|Err):' "$log" | sed -n 1,1p); $hint"

got_file=$tmp/$UPSTREAM_TARBALL
[ -f "$got_file" ] ||
    die "apt's $UPSTREAM_DEBIAN_SOURCE source no longer carries $UPSTREAM_TARBALL (got: $(cd "$tmp" && ls | tr '\n' ' ')); $hint"
got=$(sha_of "$got_file")
[ "$got" = "$want" ] ||
    die "downloaded $UPSTREAM_TARBALL has sha256 $got, expected $want; nothing was cached"

# Same filesystem: the rename is atomic, so the cache never holds half a file.
mv "$got_file" "$cache/$UPSTREAM_TARBALL"
echo "upstream: cached $cache/$UPSTREAM_TARBALL (sha256 verified)" >&2
printf '%s\n' "$cache/$UPSTREAM_TARBALL"
