#!/usr/bin/env bash
# Assemble a CPython source tree: the pristine tarball, Debian's security
# series (patches/security-series), then our overlay files copied over it,
# then patches/series applied in order.
#
# Usage: assemble.sh immortal DEST    tarball + security series + overlay + patches
#        assemble.sh stock DEST       tarball + security series (what we compare with)
#        assemble.sh pristine DEST    the tarball only (pure 3.11.2, for reference)
#
# The tree is first built in a staging directory beside DEST; only when every
# patch applied is it synced into DEST, rewriting just the files whose content
# changed. Unchanged files keep their mtimes, so an in-tree build in DEST stays
# incremental; files dropped from the overlay since the last assembly are
# removed (DEST/.immortal-manifest remembers what assembly put there). Build
# outputs in DEST are left alone. Nothing in the repo itself is written.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

[ $# -eq 2 ] || die "usage: assemble.sh immortal|stock|pristine DEST"
variant=$1
dest=$2
case $variant in
    immortal|stock|pristine) ;;
    *) die "unknown variant '$variant' (immortal, stock or pristine)" ;;
esac
case $(realpath -m "$dest")/ in
    "$IMMORTAL_ROOT"/build/*) ;;
    "$IMMORTAL_ROOT"/*) die "refusing to assemble into $dest: inside the repo but outside build/" ;;
esac

tarball=$("$IMMORTAL_ROOT/Tools/immortal/upstream.sh")
mkdir -p "$(dirname "$dest")"
stage=$(mktemp -d "$dest.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT

tar -xzf "$tarball" -C "$stage" --strip-components=1 ||
    die "cannot unpack $tarball"

[ "$variant" = pristine ] || apply_security "$stage"

if [ "$variant" = immortal ]; then
    write_security_header "$stage"
    copy_overlay "$stage"

    # Every patch file must be in the series: a forgotten one is a silent loss.
    series=$(series_patches)
    for p in "$IMMORTAL_ROOT"/patches/*.patch; do
        [ -e "$p" ] || continue
        grep -qxF "$p" <<< "$series" ||
            die "patches/${p##*/} is not listed in patches/series"
    done

    while IFS= read -r p; do
        [ -n "$p" ] || continue    # an empty series
        name=patches/${p##*/}
        [ -f "$p" ] || die "$name is listed in patches/series but does not exist"
        if ! out=$(patch -d "$stage" -p1 --fuzz=0 --forward --batch --dry-run < "$p" 2>&1); then
            files=$(printf '%s\n' "$out" | awk '
                /^(patching|checking) file / { f = $3 }
                /FAILED|can.t find file|No file to patch|Reversed|malformed/ { if (f != "") print f; else print "?" }' |
                sort -u | tr '\n' ' ')
            first=$(printf '%s\n' "$out" | grep -E 'FAILED|can.t find|Reversed|malformed|Only garbage' | sed -n 1,1p)
            die "patch $name does not apply: file(s) ${files:-?}(${first:-see patch --dry-run})"
        fi
        patch -d "$stage" -p1 --fuzz=0 --forward --batch --silent --no-backup-if-mismatch < "$p" >/dev/null ||
            die "patch $name failed while applying after a clean dry run"
    done <<< "$series"
fi

(cd "$stage" && find . -type f -o -type l | sed 's|^\./||' | LC_ALL=C sort) > "$stage/.immortal-manifest"

if [ ! -e "$dest" ]; then
    # First assembly: the staging tree becomes DEST as it is, upstream mtimes included.
    mv "$stage" "$dest"
    trap - EXIT
else
    old=$(mktemp)
    if [ -f "$dest/.immortal-manifest" ]; then cp "$dest/.immortal-manifest" "$old"; fi
    # Rewrite only changed files; those get a fresh mtime (no -t), so make sees them.
    rsync -rlpc "$stage"/ "$dest"/
    # What assembly put there last time but not now left the overlay (or a
    # patch deleted it upstream): remove it.
    LC_ALL=C comm -23 "$old" "$dest/.immortal-manifest" |
        while IFS= read -r f; do rm -f "$dest/$f"; done
    rm -f "$old"
fi
echo "assemble: $variant tree ready in $dest" >&2
