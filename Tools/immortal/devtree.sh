#!/usr/bin/env bash
# Turn upstream + overlay + patches into a git repository to edit in:
#
#   tag pristine   the CPython tarball (one commit)
#   tag upstream   + Debian's security series, one commit per patch of
#                  patches/security-series, and the header that names the
#                  level (what our patches apply to)
#   tag overlay    our files added at their CPython paths (one commit)
#   then           one commit per patches/series entry, in order (git am)
#
# Edit there, commit (a new commit for a new concern, `git commit --fixup` +
# `git rebase -i --autosquash` to change an existing patch), then run
# export.sh to write patches/ and the overlay back into this repo.
#
# Usage: devtree.sh [DIR]      (default: dev/ at the repo root, git-ignored)
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

dir=${1:-$IMMORTAL_ROOT/dev}
[ ! -e "$dir" ] ||
    die "$dir already exists: export its work (make export) and remove it, or name another directory"

tarball=$("$IMMORTAL_ROOT/Tools/immortal/upstream.sh")
mkdir -p "$dir"
ok=
trap '[ -n "$ok" ] || rm -rf "$dir"' EXIT

tar -xzf "$tarball" -C "$dir" --strip-components=1
cd "$dir"
git init -q
git config core.autocrlf false
git config user.name "${GIT_AUTHOR_NAME:-Immortal CPython developer}"
git config user.email "${GIT_AUTHOR_EMAIL:-dev@immortal-cpython.invalid}"
# Build outputs of an in-tree build, so `git status` stays readable if you
# build here; upstream's tarball carries no .gitignore.
cat >> .git/info/exclude <<'EOF'
*.o
*.a
*.so
*.pyc
__pycache__/
/python
/Makefile
/Makefile.pre
/Modules/Setup.bootstrap
/Modules/Setup.local
/Modules/Setup.stdlib
/Modules/config.c
/Modules/ld_so_aix
/Programs/_freeze_module
/Programs/_testembed
/Python/deepfreeze/*.c
/Python/frozen_modules/*.h
/build/
/config.log
/config.status
/libpython*
/platform
/pybuilddir.txt
/pyconfig.h
/python-config
/python-config.py
/python-gdb.py
/.immortal-manifest
EOF

# Fixed dates make the upstream and overlay commits the same every time.
export GIT_AUTHOR_DATE="2023-02-08T00:00:00Z" GIT_COMMITTER_DATE="2023-02-08T00:00:00Z"
git add -A
GIT_AUTHOR_NAME="CPython upstream" GIT_AUTHOR_EMAIL="upstream@python.invalid" \
    git commit -q -m "upstream: CPython $UPSTREAM_VERSION ($UPSTREAM_TARBALL)"
git tag pristine

security_commit() {
    git add -A
    case $1 in
        local/*) git commit -q -m "security: $1 (ours, patches/$1)" ;;
        *) GIT_AUTHOR_NAME="Debian python3.11" GIT_AUTHOR_EMAIL="debian-python@lists.debian.org" \
               git commit -q -m "security: $1 (Debian $DEBIAN_REVISION)" ;;
    esac
}
apply_security . security_commit
write_security_header .
git add -A
git commit -q -m "security: Include/immortalsecurity.h ($(security_level))"
git tag upstream

copy_overlay .    # the current directory is $dir
git add -A
git commit -q --allow-empty -m "overlay: files of Immortal CPython"
git tag overlay
unset GIT_AUTHOR_DATE GIT_COMMITTER_DATE

while IFS= read -r p; do
    git am -q --whitespace=nowarn --committer-date-is-author-date "$p" >/dev/null 2>&1 || {
        git am --abort >/dev/null 2>&1 || true
        die "patch patches/${p##*/} does not apply with git am in $dir"
    }
done < <(series_patches)

source_fingerprint > .git/immortal-source
ok=1
n=$(git rev-list --count overlay..HEAD)
echo "devtree: $dir ready: upstream, overlay, $n patch commit(s). Edit, commit, then: make export" >&2
