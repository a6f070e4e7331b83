#!/usr/bin/env bash
# Write a development tree (see devtree.sh) back into the repo:
#
#   commits after tag `overlay`  -> patches/NNNN-*.patch + patches/series,
#                                   each limited to the upstream files it changes
#   files not in upstream (HEAD) -> the overlay, at the same path in the repo
#
# A commit that touches only files of ours yields no patch; their content is
# taken from HEAD. The patches are made by git format-patch with settings that
# make them depend only on content and commit messages, so exporting an
# unchanged tree changes nothing.
#
# Usage: export.sh [DIR] [--to ROOT] [--force]
#   DIR      the development tree (default: dev/ at the repo root)
#   ROOT     where to write (default: this repo; the round-trip test uses a scratch copy)
#   --force  export even though the repo's overlay or patches changed since
#            DIR was made (after porting that change into DIR yourself)
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

dir=$IMMORTAL_ROOT/dev
root=$IMMORTAL_ROOT
force=
while [ $# -gt 0 ]; do
    case $1 in
        --to) root=${2:?--to needs a directory}; shift 2 ;;
        --force) force=1; shift ;;
        -*) die "unknown option $1" ;;
        *) dir=$1; shift ;;
    esac
done
root=$(cd "$root" && pwd)


[ -d "$dir/.git" ] || die "$dir is not a development tree (make devtree creates one)"
g() { git -C "$dir" "$@"; }
g rev-parse -q --verify 'upstream^{commit}' >/dev/null &&
    g rev-parse -q --verify 'overlay^{commit}' >/dev/null ||
    die "$dir lacks the upstream/overlay tags that devtree.sh makes"
g merge-base --is-ancestor overlay HEAD ||
    die "HEAD of $dir does not descend from tag overlay"
if ! g diff --quiet HEAD --; then
    die "$dir has uncommitted changes to tracked files: commit them first (export reads commits only)"
fi
untracked=$(g ls-files --others --exclude-standard | sed -n 1,5p)
[ -z "$untracked" ] ||
    echo "export: warning: untracked files in $dir are not exported: $(echo "$untracked" | tr '\n' ' ')..." >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "$root" = "$IMMORTAL_ROOT" ] && [ -z "$force" ]; then
    # The repo's overlay and patches must be what dev/ was made from (or
    # last exported), committed or not: anything else is an edit made
    # outside dev/, which export would silently undo.
    [ -f "$dir/.git/immortal-source" ] ||
        die "$dir records no source fingerprint; recreate it with make devtree"
    source_fingerprint > "$tmp/now"
    if ! cmp -s "$dir/.git/immortal-source" "$tmp/now"; then
        changed=$({ diff "$dir/.git/immortal-source" "$tmp/now" || true; } | sed -n 's/^[<>] [0-9a-f]*  //p' | LC_ALL=C sort -u | sed -n 1,5p | tr '\n' ' ')
        die "the repo changed since $dir was made ($changed); export would undo that: redo your commits on a fresh devtree, or port the repo change into $dir and run export with --force"
    fi
fi
g ls-tree -r --name-only upstream | LC_ALL=C sort > "$tmp/upstream"
g ls-tree -r --name-only HEAD | LC_ALL=C sort > "$tmp/head"

# --- overlay -------------------------------------------------------------
LC_ALL=C comm -13 "$tmp/upstream" "$tmp/head" > "$tmp/ours"
while IFS= read -r f; do
    ! is_plumbing "$f" || die "new file $f is project plumbing: add it in the repo itself, not in $dir"
    top=${f%%/*}
    case " $IMMORTAL_OVERLAY_DIRS " in
        *" $top "*) [ "$top" != "$f" ] || die "new top-level file $f has no overlay home" ;;
        *) die "new file $f is outside the overlay directories ($IMMORTAL_OVERLAY_DIRS)" ;;
    esac
done < "$tmp/ours"

# Remove overlay files of ROOT that the tree no longer has, then write the rest.
if [ "$root" = "$IMMORTAL_ROOT" ]; then
    overlay_files
else
    # shellcheck disable=SC2086
    (cd "$root" && find $IMMORTAL_OVERLAY_DIRS -type f 2>/dev/null || true) |
        sed 's|^\./||' | while IFS= read -r f; do is_plumbing "$f" || echo "$f"; done
fi | LC_ALL=C sort > "$tmp/had"
LC_ALL=C comm -23 "$tmp/had" "$tmp/ours" | while IFS= read -r f; do
    rm -f "$root/$f"
    echo "export: removed $f" >&2
done
while IFS= read -r f; do
    mkdir -p "$root/$(dirname "$f")"
    g show "HEAD:$f" > "$root/$f.export-tmp"
    if [ "$(g ls-tree HEAD -- "$f" | cut -d' ' -f1)" = 100755 ]; then
        chmod 755 "$root/$f.export-tmp"
    else
        chmod 644 "$root/$f.export-tmp"
    fi
    if cmp -s "$root/$f.export-tmp" "$root/$f" 2>/dev/null; then
        rm "$root/$f.export-tmp"
    else
        mv "$root/$f.export-tmp" "$root/$f"
    fi
done < "$tmp/ours"

# --- patches -------------------------------------------------------------
mkdir -p "$tmp/patches"
n=0
for c in $(g rev-list --reverse --no-merges overlay..HEAD); do
    g diff-tree --no-commit-id --name-only -r --no-renames "$c" | LC_ALL=C sort > "$tmp/changed"
    LC_ALL=C comm -12 "$tmp/changed" "$tmp/upstream" > "$tmp/paths"
    [ -s "$tmp/paths" ] || continue
    n=$((n + 1))
    # shellcheck disable=SC2046
    g -c core.abbrev=12 -c diff.noprefix=false format-patch -q \
        --zero-commit --no-signature --no-numbered --no-renames \
        --start-number "$n" -o "$tmp/patches" -1 "$c" -- $(cat "$tmp/paths") >/dev/null
done

{
    echo "# Applied in order over upstream + overlay by Tools/immortal/assemble.sh."
    echo "# Generated by Tools/immortal/export.sh from a development tree: do not edit by hand."
    (cd "$tmp/patches" && ls | LC_ALL=C sort)
} > "$tmp/series"

mkdir -p "$root/patches"
for p in "$root"/patches/*.patch; do
    [ -e "$p" ] || continue
    [ -e "$tmp/patches/${p##*/}" ] || { rm -f "$p"; echo "export: removed patches/${p##*/}" >&2; }
done
for p in "$tmp"/patches/*.patch "$tmp/series"; do
    [ -e "$p" ] || continue
    cmp -s "$p" "$root/patches/${p##*/}" 2>/dev/null || cp "$p" "$root/patches/${p##*/}"
done
if [ "$root" = "$IMMORTAL_ROOT" ]; then
    source_fingerprint > "$dir/.git/immortal-source"
fi
echo "export: $(wc -l < "$tmp/ours") overlay file(s), $n patch(es) written to $root" >&2
