#!/usr/bin/env bash
# Make sure a pinned upstream input is in the cache, and print its path.
#
# Two inputs, both pinned in upstream.lock: the pristine CPython tarball and
# Debian's .debian.tar.xz of the pinned revision (its security patches are
# applied before ours). Both come from Debian's source package through apt's
# source client (`apt-get source --download-only`), are checked against their
# sha256 and only then moved into the cache, so an interrupted or wrong
# download leaves nothing behind. With good cached copies no network or apt
# is needed. python.org's Python-3.11.2.tgz is the same file as the orig
# tarball: users off Debian may put it into the cache directory instead.
#
# Debian's mirror keeps only the current revision. When apt's index names a
# newer one than the pin, this says so in one line (the cached copy still
# builds); `make repin` moves the pin (Doc/immortal/security.md).
#
# Usage: upstream.sh                 the orig tarball's path (download if needed)
#        upstream.sh --debian        the Debian tarball's path (download if needed)
#        upstream.sh --current DIR   download the archive's current source
#                                    package into DIR, unpinned (for repin.sh)
#        upstream.sh --where         the cache directory
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

cache=$IMMORTAL_CACHE_DIR
what=orig
case ${1:-} in
    --where) printf '%s\n' "$cache"; exit 0 ;;
    --debian) what=debian ;;
    --current) what=current; current_dir=${2:?--current needs a directory} ;;
    "") ;;
    *) die "unknown option $1" ;;
esac
if [ "$what" = debian ]; then
    names=("$DEBIAN_TARBALL") want=$DEBIAN_SHA256
    hint="or put $DEBIAN_TARBALL (sha256 $want) into $cache/"
else
    names=("$UPSTREAM_TARBALL" "$UPSTREAM_TARBALL_ALT") want=$UPSTREAM_SHA256
    hint="or put $UPSTREAM_TARBALL_ALT from python.org (sha256 $want) into $cache/"
fi

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# The .debian.tar.xz that apt's index names now (no network: apt's lists).
archive_debian_tarball() {
    apt-get source --print-uris "$UPSTREAM_DEBIAN_SOURCE" 2>/dev/null |
        grep -oE "'[^']*/${UPSTREAM_DEBIAN_SOURCE}_[^/']*\.debian\.tar\.xz'" |
        sed -n "1s|.*/||;1s|'\$||;1s|%2b|+|g;1p" || true
}
revision_of() {   # python3.11_3.11.2-6+deb12u8.debian.tar.xz -> 3.11.2-6+deb12u8
    local r=${1#"${UPSTREAM_DEBIAN_SOURCE}_"}
    printf '%s\n' "${r%.debian.tar.xz}"
}
say_if_moved() {
    local now
    command -v apt-get >/dev/null 2>&1 || return 0
    now=$(archive_debian_tarball)
    [ -z "$now" ] || [ "$now" = "$DEBIAN_TARBALL" ] ||
        echo "upstream: Debian's archive has moved to $UPSTREAM_DEBIAN_SOURCE $(revision_of "$now") (pinned: $DEBIAN_REVISION): \`make repin\` moves the security level to it (Doc/immortal/security.md)" >&2
}

# A cached copy under either name, checked every time (it is cheap).
if [ "$what" != current ]; then
    for name in "${names[@]}"; do
        f=$cache/$name
        [ -f "$f" ] || continue
        got=$(sha_of "$f")
        [ "$got" = "$want" ] ||
            die "cached $f has sha256 $got, expected $want: delete it and run again"
        [ "$what" != debian ] || say_if_moved
        printf '%s\n' "$f"
        exit 0
    done
fi

command -v apt-get >/dev/null 2>&1 ||
    die "no cached ${names[0]} and no apt-get to fetch it: $hint"

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

if [ "$what" = current ]; then
    mkdir -p "$current_dir"
    cp "$tmp"/*.dsc "$tmp"/*.tar.* "$current_dir"/
    ls "$current_dir"/*.debian.tar.xz
    exit 0
fi

# Cache every pinned file that came (one download serves both inputs).
for pair in "$UPSTREAM_TARBALL:$UPSTREAM_SHA256" "$DEBIAN_TARBALL:$DEBIAN_SHA256"; do
    name=${pair%%:*} sha=${pair#*:}
    [ -f "$tmp/$name" ] || continue
    got=$(sha_of "$tmp/$name")
    [ "$got" = "$sha" ] ||
        die "downloaded $name has sha256 $got, expected $sha; nothing was cached"
    # Same filesystem: the rename is atomic, so the cache never holds half a file.
    mv "$tmp/$name" "$cache/$name"
    echo "upstream: cached $cache/$name (sha256 verified)" >&2
done

if [ ! -f "$cache/${names[0]}" ]; then
    came=$(cd "$tmp" && ls | grep -v '^apt.log$' | tr '\n' ' ')
    if [ "$what" = debian ] && now=$(cd "$tmp" && ls -- *.debian.tar.xz 2>/dev/null); then
        die "Debian's archive has moved to $UPSTREAM_DEBIAN_SOURCE $(revision_of "$now") and no longer has the pinned $DEBIAN_REVISION: \`make repin\` moves the security level to it (Doc/immortal/security.md), $hint"
    fi
    die "apt's $UPSTREAM_DEBIAN_SOURCE source no longer carries ${names[0]} (got: $came); $hint"
fi
printf '%s\n' "$cache/${names[0]}"
