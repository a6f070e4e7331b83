#!/usr/bin/env bash
# Tests of the tree tools (assemble, devtree, export), run by `make test`.
#
#  1. Round trip: devtree from the repo, then export, reproduces the repo's
#     overlay files and patches/ byte for byte.
#  2. Incremental assembly: re-assembling rewrites only changed files, and a
#     file dropped from the overlay leaves the assembled tree.
#  3. A patch that does not apply stops assembly with its name and file.
#  4. An overlay file that would replace an upstream file is refused.
#  5. Export refuses to overwrite uncommitted work in the target repo.
#  6. Export refuses a development tree made before the repo last changed.
# Cases 2-5 run in a scratch copy of the repo, never in the repo itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
# shellcheck source=../common.sh
. "$root/Tools/immortal/common.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
trap 'echo "FAIL tree tools: aborted at line $LINENO: $BASH_COMMAND"' ERR
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# A scratch repo: the tracked and new files of this one, committed.
scratch_repo() {
    local to=$1
    mkdir -p "$to"
    (cd "$root" && git ls-files --cached --others --exclude-standard -z |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        xargs -0 cp --parents -p -t "$to")
    git -C "$to" init -q
    git -C "$to" add -A
    git -C "$to" -c user.name=t -c user.email=t@t commit -q -m scratch
}

# --- 1. round trip -----------------------------------------------------------
"$root/Tools/immortal/devtree.sh" "$tmp/dev" 2>/dev/null
mkdir "$tmp/out"
"$root/Tools/immortal/export.sh" "$tmp/dev" --to "$tmp/out" 2>/dev/null
overlay_files > "$tmp/want"
(cd "$tmp/out" && find . -type f ! -path './patches/*' | sed 's|^\./||' | LC_ALL=C sort) > "$tmp/got"
if ! diff -u "$tmp/want" "$tmp/got" > "$tmp/d1"; then
    fail "round trip: exported overlay file list differs:"; cat "$tmp/d1"
elif ! (cd "$root" && while IFS= read -r f; do cmp -s "$f" "$tmp/out/$f" || echo "$f"; done < "$tmp/want") > "$tmp/d2" ||
     [ -s "$tmp/d2" ]; then
    fail "round trip: exported overlay content differs: $(cat "$tmp/d2")"
elif ! diff -ru "$root/patches" "$tmp/out/patches" > "$tmp/d3"; then
    fail "round trip: exported patches differ:"; head -n 40 "$tmp/d3"
else
    pass "round trip: devtree then export reproduces $(wc -l < "$tmp/want") overlay files and $(series_patches | wc -l) patch(es)"
fi

# --- 2. incremental assembly -------------------------------------------------
repo=$tmp/repo
scratch_repo "$repo"
mkdir -p "$repo/Objects"
printf '/* scratch */\n' > "$repo/Objects/immortal_scratch_a.c"
printf '/* scratch */\n' > "$repo/Objects/immortal_scratch_b.c"
dest=$repo/build/t
"$repo/Tools/immortal/assemble.sh" immortal "$dest" 2>/dev/null
touch -d '2001-01-01' "$dest/Objects/object.c" "$dest/Objects/immortal_scratch_a.c"
printf '/* changed */\n' > "$repo/Objects/immortal_scratch_a.c"
rm "$repo/Objects/immortal_scratch_b.c"
"$repo/Tools/immortal/assemble.sh" immortal "$dest" 2>/dev/null
if [ "$(stat -c %Y "$dest/Objects/object.c")" != "$(date -d 2001-01-01 +%s)" ]; then
    fail "incremental: an unchanged upstream file was rewritten"
elif [ "$(stat -c %Y "$dest/Objects/immortal_scratch_a.c")" = "$(date -d 2001-01-01 +%s)" ] ||
     ! grep -q changed "$dest/Objects/immortal_scratch_a.c"; then
    fail "incremental: a changed overlay file was not updated"
elif [ -e "$dest/Objects/immortal_scratch_b.c" ]; then
    fail "incremental: a file removed from the overlay stayed in the tree"
else
    pass "incremental: unchanged files keep their mtime, changed ones update, removed ones go"
fi
rm -f "$repo/Objects/immortal_scratch_a.c"

# --- 3. a patch that does not apply ------------------------------------------
first=$(series_patches | sed -n 1,1p)
if [ -n "$first" ]; then
    name=${first##*/}
    target=$(grep -m1 '^+++ b/' "$first" | sed 's|^+++ b/||')
    # Break the first context line of the first hunk.
    awk 'done == 0 && /^@@/ { hunk = 1; print; next }
         hunk == 1 && /^ / { print " this line is not in upstream"; done = 1; hunk = 0; next }
         { print }' "$first" > "$repo/patches/$name"
    if out=$("$repo/Tools/immortal/assemble.sh" immortal "$repo/build/broken" 2>&1); then
        fail "broken patch: assembly succeeded"
    elif [[ $out != *"patches/$name"* || $out != *"$target"* ]]; then
        fail "broken patch: message does not name the patch and file: $out"
    elif [ -e "$repo/build/broken" ]; then
        fail "broken patch: a half-assembled tree was left behind"
    else
        pass "broken patch: assembly stops naming $name and $target"
    fi
    cp "$first" "$repo/patches/$name"
else
    fail "broken patch: the series has no patch to break"
fi

# --- 4. overlay may not replace an upstream file -----------------------------
printf 'int x;\n' > "$repo/Objects/object.c"
if out=$("$repo/Tools/immortal/assemble.sh" immortal "$repo/build/clash" 2>&1); then
    fail "overlay clash: assembly succeeded"
elif [[ $out != *"Objects/object.c"* ]]; then
    fail "overlay clash: message does not name the file: $out"
else
    pass "overlay clash: a file of ours at an upstream path is refused"
fi
rm "$repo/Objects/object.c"

# --- 5. export keeps uncommitted work ----------------------------------------
"$repo/Tools/immortal/devtree.sh" "$repo/dev" 2>/dev/null
printf '# local edit\n' >> "$repo/Lib/test/test_immortal_version.py"
if out=$("$repo/Tools/immortal/export.sh" 2>&1); then
    fail "export: overwrote uncommitted changes"
elif ! grep -q '# local edit' "$repo/Lib/test/test_immortal_version.py"; then
    fail "export: refused, but the uncommitted edit is gone"
else
    pass "export: refuses to overwrite uncommitted changes in the repo"
fi

git -C "$repo" checkout -q -- .

# --- 6. export keeps newer committed work ------------------------------------
printf '# newer edit\n' >> "$repo/Lib/test/test_immortal_version.py"
git -C "$repo" -c user.name=t -c user.email=t@t commit -qam "newer edit"
if out=$("$repo/Tools/immortal/export.sh" 2>&1); then
    fail "export: a stale development tree overwrote newer repo commits"
elif [[ $out != *"Lib/test/test_immortal_version.py"* ]] ||
     ! grep -q '# newer edit' "$repo/Lib/test/test_immortal_version.py"; then
    fail "export: stale tree refused without naming the file, or the edit is gone: $out"
else
    pass "export: refuses a development tree older than the repo's last change"
fi

if [ "$fails" -ne 0 ]; then
    echo "tree tools: $fails test(s) failed"
    exit 1
fi
echo "tree tools: all tests passed"
