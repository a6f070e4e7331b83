# shellcheck shell=bash
# Shared settings for the tree tools; sourced, never run.
# Everything here is derived from the repo; nothing is written by sourcing it.

IMMORTAL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# shellcheck source=../../upstream.lock
. "$IMMORTAL_ROOT/upstream.lock"

# Where the upstream tarball is cached (outside the work tree).
IMMORTAL_CACHE_DIR=${IMMORTAL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/immortal-cpython}

# Top-level directories of the CPython tree. Files of ours under them form
# the overlay: copied over upstream at the same path. Everything else at the
# repo root (Makefile, README.md, patches/, .ci/, ...) is project plumbing.
IMMORTAL_OVERLAY_DIRS="Doc Grammar Include Lib Mac Misc Modules Objects PC PCbuild Parser Programs Python Tools"
# ...except the project's own plumbing and notes, which sit at CPython-style
# paths but are not part of the interpreter: never copied into a tree.
IMMORTAL_NOT_OVERLAY="Tools/immortal/ Doc/immortal/"

die() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

# List overlay files (relative paths), tracked or new-but-not-ignored,
# skipping ones deleted from the work tree.
overlay_files() {
    local d
    # shellcheck disable=SC2086  # the directory list is meant to split
    ( cd "$IMMORTAL_ROOT" &&
      git ls-files --cached --others --exclude-standard -- $IMMORTAL_OVERLAY_DIRS |
      LC_ALL=C sort -u | while IFS= read -r d; do
          is_plumbing "$d" || { [ -f "$d" ] && printf '%s\n' "$d"; }
      done )
}

# Copy the overlay files into the tree at DEST. They add files; changing an
# upstream file is a patch's job, so a file of ours at an upstream path is an
# error.
copy_overlay() {
    local dest=$1 f
    while IFS= read -r f; do
        [ ! -e "$dest/$f" ] ||
            die "overlay file $f would replace the upstream file of the same path; change upstream files with a patch (see CONTRIBUTING.md)"
        mkdir -p "$dest/$(dirname "$f")"
        cp -p "$IMMORTAL_ROOT/$f" "$dest/$f"
    done < <(overlay_files)
}

is_plumbing() {
    local p
    for p in $IMMORTAL_NOT_OVERLAY; do
        case $1 in "$p"*) return 0 ;; esac
    done
    return 1
}

# List the patches of patches/series, in order, one path per line.
series_patches() {
    local series="$IMMORTAL_ROOT/patches/series" line
    [ -f "$series" ] || return 0
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line%%#*}
        line=$(printf '%s' "$line" | tr -d '[:space:]')
        [ -n "$line" ] && printf '%s\n' "$IMMORTAL_ROOT/patches/$line"
    done < "$series"
}

# A fingerprint of everything a development tree is made from: each overlay
# file and patch with its sha256. devtree.sh stores it; export.sh compares, so
# an edit made in the repo after the devtree was made is never overwritten.
source_fingerprint() {
    ( cd "$IMMORTAL_ROOT" &&
      { overlay_files; ls patches/series patches/*.patch 2>/dev/null; } |
      LC_ALL=C sort -u | while IFS= read -r f; do sha256sum "$f"; done )
}
