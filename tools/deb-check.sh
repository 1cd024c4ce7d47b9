#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make deb-check: build the Debian packages (libumcg1, libumcg-dev) from a
# copy of the committed tree, check them with lintian (errors fail), install
# them with dpkg -i, build and run the README's example and a C++ toolkit
# program against the installed packages through pkg-config, then remove
# them.  Needs root (dpkg -i) and dpkg-dev, debhelper, lintian, pkg-config.
#
#   tools/deb-check.sh [--keep]    (--keep: leave the packages installed)
set -eu
cd "$(dirname "$0")/.."
keep=0
[ "${1:-}" = "--keep" ] && keep=1

say() { echo "deb-check: $*"; }
die() { echo "deb-check: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (dpkg -i); run: sudo make deb-check"
for t in dpkg-buildpackage dh lintian pkg-config; do
	command -v $t >/dev/null || die "$t missing (apt-get install dpkg-dev debhelper lintian pkg-config)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/umcg-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
version=$(dpkg-parsechangelog -l debian/changelog -SVersion)
src=$work/umcg-$version
mkdir -p "$src"
# The committed files only (plus uncommitted edits of them): no build output.
git ls-files -z | xargs -0 cp --parents -t "$src"

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
! installed libumcg1 || die "libumcg1 is installed already: dpkg -r libumcg-dev libumcg1 first"
say "building $version"
(cd "$src" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1 ||
	{ tail -n 60 "$work/build.log"; die "dpkg-buildpackage"; }
grep -q "dpkg-gensymbols: warning" "$work/build.log" &&
	{ grep -A30 "dpkg-gensymbols: warning" "$work/build.log"; die "the symbols file does not match the library"; }
debs=$(ls "$work"/*.deb | grep -v -- -dbgsym_)
say "built: $(for d in $debs; do basename "$d"; done | tr '\n' ' ')"

lintian --fail-on error --suppress-tags initial-upload-closes-no-bugs \
	"$work"/*.changes >"$work/lintian.log" 2>&1 ||
	{ cat "$work/lintian.log"; die "lintian errors"; }
say "lintian: $(grep -c '^E:' "$work/lintian.log" || true) errors, $(grep -c '^W:' "$work/lintian.log" || true) warnings"

# shellcheck disable=SC2086
dpkg -i $debs >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; die "dpkg -i"; }
cleanup_pkgs() {
	[ $keep -eq 1 ] || dpkg -r libumcg-dev libumcg1 >/dev/null 2>&1 || true
}
trap 'cleanup_pkgs; rm -rf "$work"' EXIT INT TERM

# shellcheck disable=SC2046
cc -Wall -Wextra -Werror -o "$work/hello" examples/hello.c $(pkg-config --cflags --libs umcg) ||
	die "README example does not build against the package"
# shellcheck disable=SC2046
c++ -std=c++17 -Wall -Wextra -Werror -o "$work/cxx" tests/cxx_toolkit.cpp \
	$(pkg-config --cflags --libs umcg) || die "C++ toolkit program does not build against the package"
timeout 60 "$work/hello" >"$work/hello.log" 2>&1 || { cat "$work/hello.log"; die "hello did not run"; }
[ "$(grep -c ': done' "$work/hello.log")" -eq 2 ] || die "hello: want 2 workers done"
timeout 60 "$work/cxx" || die "C++ toolkit program did not run"
ldd "$work/hello" | grep -Eq "libumcg.so.1 => (/usr)?/lib/" || die "hello does not use the packaged library"

cleanup_pkgs
[ $keep -eq 1 ] || ! installed libumcg1 || die "libumcg1 still installed after dpkg -r"
say "PASS: packages built, lintian clean of errors, installed, used through pkg-config, removed"
