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
#  7. Every Debian patch of patches/security-series (taken or "#-" not
#     taken) has its row in Doc/immortal/security.md, and the devtree holds
#     one commit per taken patch between tags pristine and upstream.
#  8. When apt's index names a newer Debian revision than the pin, the
#     build says so in one line (and stays quiet without a deb-src index).
#  9. repin.sh moves the pin to a new revision (added and dropped patches),
#     and puts the old pin back when the new series does not assemble.
# Cases 2-6, 8 and 9 run in a scratch copy of the repo, never in the repo itself.
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
elif ! diff -ru -x security-series -x local "$root/patches" "$tmp/out/patches" > "$tmp/d3"; then
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

# --- 7. the security table ---------------------------------------------------
table_misses() {   # ROOT: the listed patches that have no row in its table
    local r=$1 p
    { (IMMORTAL_ROOT=$r; security_series)
      sed -n 's/^#-[[:space:]]*\([^[:space:]]*\).*/\1/p' "$r/patches/security-series"; } |
        while IFS= read -r p; do
            grep -qF "| \`$p\` |" "$r/Doc/immortal/security.md" || echo "$p"
        done
}
misses=$(table_misses "$root")
commits=$(git -C "$tmp/dev" rev-list --count pristine..upstream)
if [ -n "$misses" ]; then
    fail "security table: no row in Doc/immortal/security.md for: $(echo "$misses" | tr '\n' ' ')"
elif [ "$commits" != "$(( $(security_series | wc -l) + 1 ))" ]; then
    fail "security series: devtree has $commits commits between pristine and upstream, expected one per patch and the header"
else
    pass "security table: all $(security_series | wc -l) taken patches and the ones not taken have their row"
fi

# --- 8. the archive moved past the pin -----------------------------------------
cache=$tmp/cache
mkdir -p "$cache"
debian=$("$root/Tools/immortal/upstream.sh" --debian 2>/dev/null)
# The pinned file under an older revision's name: to upstream.sh the archive
# (which names the pinned revision) has moved past it.
old_rev=${DEBIAN_REVISION%u*}u$(( ${DEBIAN_REVISION##*u} - 1 ))
old_name=${UPSTREAM_DEBIAN_SOURCE}_$old_rev.debian.tar.xz
cp "$debian" "$cache/$old_name"
sed -i -e "s|^DEBIAN_REVISION=.*|DEBIAN_REVISION=$old_rev|" \
       -e "s|^DEBIAN_TARBALL=.*|DEBIAN_TARBALL=$old_name|" "$repo/upstream.lock"
out=$(IMMORTAL_CACHE_DIR=$cache "$repo/Tools/immortal/upstream.sh" --debian 2>&1 >/dev/null)
if apt-get source --print-uris "$UPSTREAM_DEBIAN_SOURCE" 2>/dev/null | grep -qF "$DEBIAN_REVISION"; then
    if [ "$(printf '%s\n' "$out" | grep -c .)" = 1 ] &&
       [[ $out == *"has moved to $UPSTREAM_DEBIAN_SOURCE $DEBIAN_REVISION (pinned: $old_rev)"*"make repin"* ]]; then
        pass "archive moved: the build says so in one line"
    else
        fail "archive moved: expected one line naming $DEBIAN_REVISION and make repin, got: $out"
    fi
elif [ -n "$out" ]; then
    fail "archive moved: without a deb-src index for $UPSTREAM_DEBIAN_SOURCE the build should stay quiet, got: $out"
else
    pass "archive moved: no deb-src index for $UPSTREAM_DEBIAN_SOURCE here, so nothing to compare and nothing said"
fi
git -C "$repo" checkout -q -- upstream.lock
rm -f "$cache/$old_name"

# --- 9. repin ---------------------------------------------------------------------
ln -s "$("$root/Tools/immortal/upstream.sh" 2>/dev/null)" "$cache/$UPSTREAM_TARBALL"
fake_revision() {   # NAME EDIT: a new revision in $tmp/NAME, its series edited by EDIT
    local d=$tmp/$1
    mkdir -p "$d/src"
    tar -xJf "$debian" -C "$d/src"
    eval "$2"
    tar -cJf "$d/${UPSTREAM_DEBIAN_SOURCE}_${DEBIAN_REVISION%u*}u99.debian.tar.xz" -C "$d/src" debian
    rm -rf "$d/src"
}
new_rev=${DEBIAN_REVISION%u*}u99
dropped=$(security_series | tail -n 2 | sed -n 1p)
fake_revision good '
    printf "%s\n" "--- /dev/null" "+++ b/Misc/immortal-repin-test.txt" "@@ -0,0 +1 @@" "+fixed" > "$d/src/debian/patches/CVE-2099-0001.patch"
    sed -i "/^$dropped\$/d" "$d/src/debian/patches/series"
    echo CVE-2099-0001.patch >> "$d/src/debian/patches/series"'
out=$(IMMORTAL_CACHE_DIR=$cache "$repo/Tools/immortal/repin.sh" --from "$tmp/good" 2>&1) || true
if ! grep -qx "DEBIAN_REVISION=$new_rev" "$repo/upstream.lock" ||
   ! grep -qx "DEBIAN_SHA256=$(sha256sum "$tmp/good"/*.debian.tar.xz | cut -d' ' -f1)" "$repo/upstream.lock"; then
    fail "repin: upstream.lock does not pin $new_rev: $out"
elif ! grep -q '^CVE-2099-0001.patch  # new in' "$repo/patches/security-series" ||
     grep -q "^$dropped" "$repo/patches/security-series" ||
     [[ $out != *"added   CVE-2099-0001.patch"* || $out != *"dropped $dropped"* ]]; then
    fail "repin: the new list or the report of added and dropped patches is wrong: $out"
elif [ "$(security_series | grep -c '^local/')" != "$( (IMMORTAL_ROOT=$repo; security_series) | grep -c '^local/')" ] ||
     ! diff <(security_series | grep -B1 '^local/') <( (IMMORTAL_ROOT=$repo; security_series) | grep -B1 '^local/') >/dev/null; then
    fail "repin: our local/ fix-ups did not stay after the Debian patches they follow"
elif [ "$(table_misses "$repo")" != CVE-2099-0001.patch ]; then
    fail "repin: the table check does not ask for the added patch's row: $(table_misses "$repo")"
else
    pass "repin: the pin moves to $new_rev; the added patch is listed and asks for its row, the dropped one goes"
fi
git -C "$repo" checkout -q -- upstream.lock patches/security-series
fake_revision bad '
    printf "%s\n" "--- a/Lib/os.py" "+++ b/Lib/os.py" "@@ -1,1 +1,1 @@" "-no such line" "+fixed" > "$d/src/debian/patches/CVE-2099-0002.patch"
    echo CVE-2099-0002.patch >> "$d/src/debian/patches/series"'
if out=$(IMMORTAL_CACHE_DIR=$cache "$repo/Tools/immortal/repin.sh" --from "$tmp/bad" 2>&1); then
    fail "repin: a revision whose patch does not apply was pinned"
elif ! git -C "$repo" diff --quiet -- upstream.lock patches/security-series; then
    fail "repin: a failed repin left the pin or the list changed"
elif [[ $out != *"CVE-2099-0002.patch"* ]]; then
    fail "repin: the failure does not name the patch: $out"
else
    pass "repin: a revision that does not assemble is refused, naming its patch; the pin stays"
fi

if [ "$fails" -ne 0 ]; then
    echo "tree tools: $fails test(s) failed"
    exit 1
fi
echo "tree tools: all tests passed"
