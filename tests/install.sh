#!/bin/sh
# SPDX-License-Identifier: MIT
# Description: what a user installs is enough.  `make install` into a scratch
# DESTDIR (PREFIX=/usr, where the system's own headers live), then the
# README's example (C), a toolkit program (C) and tests/cxx_toolkit.cpp
# (C++17) are built against the installed copy alone, found through
# pkg-config, linked both with the shared library and with libumcg.a, and
# run.  `make uninstall` must then leave no file behind.
#
#   tests/install.sh <builddir>
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
case "$build" in
*thread* | *address*)
	# The installed library is the plain one; a sanitizer build dir would
	# install an instrumented libumcg the plain programs cannot load.
	build=build ;;
esac

fail() { echo "install: FAIL: $*"; exit 1; }
command -v pkg-config >/dev/null || fail "pkg-config is not installed"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/umcg-install.XXXXXX")
trap 'rm -rf "$scratch"' EXIT INT TERM
dest=$scratch/root
out=$scratch/out
mkdir -p "$out"

make -s O="$build" DESTDIR="$dest" PREFIX=/usr install >"$scratch/make.log" 2>&1 ||
	{ cat "$scratch/make.log"; fail "make install"; }

libdir=$dest/usr/lib
for f in usr/include/umcg.h usr/include/umcg_sched.h usr/include/umcg/linux/umcg.h \
	usr/lib/libumcg.a usr/lib/libumcg.so usr/lib/libumcg.so.1 \
	usr/lib/pkgconfig/umcg.pc usr/share/man/man2/umcg_wait.2 \
	usr/share/man/man3/umcg_worker_spawn.3 usr/share/man/man7/umcg.7; do
	[ -e "$dest/$f" ] || fail "make install did not install /$f"
done
[ ! -e "$dest/usr/include/linux/umcg.h" ] ||
	fail "the ABI header landed in <INCDIR>/linux, beside the system's uapi headers"
soname=$(readelf -d "$libdir/libumcg.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libumcg.so.1" ] || fail "soname is '$soname'"

# pkg-config sees only the scratch tree; the sysroot turns its /usr paths
# into paths inside it.
export PKG_CONFIG_LIBDIR="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
unset PKG_CONFIG_PATH
cflags=$(pkg-config --cflags umcg)
libs=$(pkg-config --libs umcg)
static_libs=$(pkg-config --static --libs umcg)
# The repository's include/ must not be what makes a build work.
case "$cflags $libs" in
*"$PWD/include"*) fail "pkg-config points into the source tree" ;;
esac

cat >"$out/toolkit.c" <<'EOF'
#include <stdio.h>
#include <umcg_sched.h>

static struct umcg_mutex m = UMCG_MUTEX_INITIALIZER;
static long counter;

static void *count(void *arg)
{
	for (int i = 0; i < 1000; i++) {
		umcg_mutex_lock(&m);
		counter++;
		umcg_mutex_unlock(&m);
		if (i % 100 == 0)
			umcg_worker_yield();
	}
	return arg;
}

int main(void)
{
	struct umcg_sched_attr a;
	struct umcg_worker_attr wa;
	struct umcg_worker *w[4];
	struct umcg_sched *s;

	umcg_sched_attr_init(&a);
	a.policy = umcg_policy_by_name("prio");
	if (umcg_sched_create(&s, &a))
		return 1;
	umcg_worker_attr_init(&wa);
	for (int i = 0; i < 4; i++) {
		wa.priority = i & 1;
		if (umcg_worker_spawn(s, &w[i], count, NULL, &wa))
			return 1;
	}
	for (int i = 0; i < 4; i++)
		umcg_worker_join(w[i], NULL);
	umcg_sched_destroy(s);
	printf("counter %ld\n", counter);
	return counter == 4000 ? 0 : 1;
}
EOF

CC=${CC:-cc}
CXX=${CXX:-c++}
# shellcheck disable=SC2086
build_all() {
	how=$1
	shift
	$CC -std=gnu11 -Wall -Wextra -Werror $cflags -o "$out/hello.$how" \
		examples/hello.c "$@" || fail "README example, $how"
	$CC -std=gnu11 -Wall -Wextra -Werror $cflags -o "$out/toolkit.$how" \
		"$out/toolkit.c" "$@" || fail "toolkit program, $how"
	$CXX -std=c++17 -Wall -Wextra -Werror $cflags -o "$out/cxx.$how" \
		tests/cxx_toolkit.cpp "$@" || fail "C++ toolkit program, $how"
}
# shellcheck disable=SC2086
build_all shared $libs
# libumcg.a with the shared libc: -Bstatic picks the archive for -lumcg.
# shellcheck disable=SC2086
build_all static -Wl,-Bstatic -lumcg -Wl,-Bdynamic $static_libs

for how in shared static; do
	for prog in hello toolkit cxx; do
		bin=$out/$prog.$how
		if [ $how = shared ]; then
			readelf -d "$bin" | grep -q 'NEEDED.*libumcg.so.1' ||
				fail "$prog.$how does not link libumcg.so.1"
		else
			! readelf -d "$bin" | grep -q 'NEEDED.*libumcg' ||
				fail "$prog.$how links libumcg dynamically"
		fi
		LD_LIBRARY_PATH=$libdir timeout 60 "$bin" >"$out/$prog.$how.log" 2>&1 ||
			{ cat "$out/$prog.$how.log"; fail "$prog.$how did not run"; }
	done
	grep -q 'worker .*: done' "$out/hello.$how.log" || fail "hello.$how: no worker finished"
	[ "$(grep -c ': done' "$out/hello.$how.log")" -eq 2 ] || fail "hello.$how: want 2 workers"
	grep -q '^counter 4000$' "$out/toolkit.$how.log" || fail "toolkit.$how: wrong count"
done

make -s O="$build" DESTDIR="$dest" PREFIX=/usr uninstall >"$scratch/make.log" 2>&1 ||
	{ cat "$scratch/make.log"; fail "make uninstall"; }
left=$(find "$dest" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install: installed, built shared and static (C, toolkit, C++) through pkg-config, ran, uninstalled"
