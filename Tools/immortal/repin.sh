#!/usr/bin/env bash
# Move the security level to the Debian revision of python3.11 that apt
# offers now (Doc/immortal/security.md, "Updating").
#
#   1. fetch the current source package (apt-get update first, as root),
#   2. choose the new patch list: every patch of patches/security-series that
#      the new debian/patches/series still has, plus every patch it added
#      after the first one we take, unless patches/security-series names it
#      on a "#- NAME reason" line (a Debian patch deliberately not taken),
#   3. write upstream.lock's DEBIAN_* lines and patches/security-series,
#   4. re-check: assemble the fork's tree (pristine tarball + the new series
#      with --fuzz=0 + overlay + our patches with --fuzz=0) in build/; on any
#      failure the old pin and list are put back.
#
# It prints what was added and dropped. Then: write the added patches' rows
# in Doc/immortal/security.md (test_tree_tools checks that every patch has
# one), make test, commit.
#
# Usage: repin.sh [--from DIR]   DIR: a downloaded source package (its .dsc,
#                                orig and .debian.tar.xz) instead of apt's
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

from=
case ${1:-} in
    --from) from=$(cd "${2:?--from needs a directory}" && pwd) ;;
    "") ;;
    *) die "unknown option $1" ;;
esac

lock=$IMMORTAL_ROOT/upstream.lock
list=$IMMORTAL_ROOT/patches/security-series
tmp=$(mktemp -d)
restore=
cleanup() {
    if [ -n "$restore" ]; then
        cp "$tmp/upstream.lock.old" "$lock"
        cp "$tmp/security-series.old" "$list"
        echo "repin: the pin and the patch list are unchanged ($DEBIAN_REVISION)" >&2
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

if [ -z "$from" ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -q >/dev/null 2>&1 ||
            echo "repin: apt-get update failed; using apt's current index" >&2
    else
        echo "repin: not root, so apt's index is not refreshed (run apt-get update first)" >&2
    fi
    "$IMMORTAL_ROOT/Tools/immortal/upstream.sh" --current "$tmp/src" >/dev/null
    from=$tmp/src
fi
new_tarball=$(cd "$from" && ls -- *.debian.tar.xz 2>/dev/null | sed -n 1p)
[ -n "$new_tarball" ] || die "no .debian.tar.xz in $from"
new_revision=${new_tarball#"${UPSTREAM_DEBIAN_SOURCE}_"}
new_revision=${new_revision%.debian.tar.xz}
case $new_revision in
    "$UPSTREAM_VERSION"-*) ;;
    *) die "$new_tarball is not a Debian revision of $UPSTREAM_VERSION: a new upstream version is a new port, not a repin" ;;
esac
new_sha=$(sha256sum "$from/$new_tarball" | cut -d' ' -f1)
if [ "$new_tarball" = "$DEBIAN_TARBALL" ]; then
    [ "$new_sha" = "$DEBIAN_SHA256" ] ||
        die "$new_tarball has sha256 $new_sha, but upstream.lock pins $DEBIAN_SHA256 for it"
    echo "repin: already at $DEBIAN_REVISION, the revision apt offers" >&2
    exit 0
fi

tar -xJf "$from/$new_tarball" -C "$tmp" debian/patches/series ||
    die "cannot read debian/patches/series from $new_tarball"
list_entries "$tmp/debian/patches/series" > "$tmp/new-series"
security_series > "$tmp/old"
sed -n 's/^#-[[:space:]]*\([^[:space:]]*\).*/\1/p' "$list" > "$tmp/not-taken"
first=$(grep -v '^local/' "$tmp/old" | sed -n 1p)

# The new list, in the new series' order; kept lines keep their comments.
cp "$lock" "$tmp/upstream.lock.old"
cp "$list" "$tmp/security-series.old"
{
    awk '/^[^#]/ { exit } !/^#-/ { print }' "$list"
    started=
    while IFS= read -r p; do
        [ "$p" = "$first" ] && started=1
        if grep -qxF "$p" "$tmp/old"; then
            # The entry as it was, with the local/ fix-ups that followed it.
            awk -v n="$p" '{ x = $0; sub(/#.*/, "", x); gsub(/[[:space:]]/, "", x) }
                           f && x !~ /^local\// { exit }
                           f { print }
                           x == n { print; f = 1 }' "$list"
        elif [ -n "$started" ] && ! grep -qxF "$p" "$tmp/not-taken"; then
            printf '%s  # new in %s\n' "$p" "$new_revision"
            echo "$p" >> "$tmp/added"
        fi
    done < "$tmp/new-series"
    # The trailer (the "#-" lines and their comment) after the first blank line.
    awk 'seen && /^$/ { f = 1 } f { print } /^[^#[:space:]]/ { seen = 1 }' "$list"
} > "$tmp/security-series.new"
while IFS= read -r p; do
    case $p in local/*) continue ;; esac
    grep -qxF "$p" "$tmp/new-series" || echo "$p" >> "$tmp/dropped"
done < "$tmp/old"

restore=1
sed -e "s|^DEBIAN_REVISION=.*|DEBIAN_REVISION=$new_revision|" \
    -e "s|^DEBIAN_TARBALL=.*|DEBIAN_TARBALL=$new_tarball|" \
    -e "s|^DEBIAN_SHA256=.*|DEBIAN_SHA256=$new_sha|" "$tmp/upstream.lock.old" > "$lock"
cp "$tmp/security-series.new" "$list"
mkdir -p "$IMMORTAL_CACHE_DIR"
# The file just pinned replaces any cached one of that name (atomic rename).
cp "$from/$new_tarball" "$IMMORTAL_CACHE_DIR/$new_tarball.tmp"
mv "$IMMORTAL_CACHE_DIR/$new_tarball.tmp" "$IMMORTAL_CACHE_DIR/$new_tarball"

echo "repin: checking $new_revision: the security series, then our patches, with --fuzz=0" >&2
"$IMMORTAL_ROOT/Tools/immortal/assemble.sh" immortal "$IMMORTAL_ROOT/build/repin-check" 2>"$tmp/assemble.log" || {
    cat "$tmp/assemble.log" >&2
    die "$new_revision does not assemble with our patches: port them (make devtree on the new pin) or leave the pin"
}
rm -rf "$IMMORTAL_ROOT/build/repin-check"
restore=

echo "repin: $DEBIAN_REVISION -> $new_revision ($new_tarball, sha256 $new_sha)"
echo "repin: $(security_series | wc -l) patches taken"
[ ! -f "$tmp/added" ] || sed 's/^/repin: added   /' "$tmp/added"
[ ! -f "$tmp/dropped" ] || sed 's/^/repin: dropped /' "$tmp/dropped"
echo "repin: next: rows for the added patches in Doc/immortal/security.md, make test, commit"
