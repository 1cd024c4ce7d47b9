#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make kernel-check: build Linux 6.12 with the UMCG series and prove it in
# QEMU with the conformance suite, the kernel-only tests and the benchmarks.
#
#  1. apt-get installs the kernel source, QEMU and the build dependencies
#     (only what is missing; as root or through sudo);
#  2. unpacks /usr/src/linux-source-6.12.tar.xz twice into kernel/build/
#     (ignored by git), linux-test and linux-bench, and applies the series
#     (kernel/apply.sh) to each;
#  3. tinyconfig + kernel/config/*.config: linux-test with the debug
#     options (lockdep, DEBUG_ATOMIC_SLEEP, PREEMPT, ...), linux-bench
#     without them; bzImage of each with ccache;
#  4. builds libumcg with its conformance suite and benchmarks
#     (kernel/build/user), and the kernel-only tests (kernel/tests/k_*.c,
#     static);
#  5. packs them with a minimal user land into an initramfs
#     (usr/gen_init_cpio, no root needed);
#  6. boots qemu-system-x86_64 -smp 2 under TCG twice: the debug kernel runs
#     the kernel-only tests and the conformance suite on both backends, the
#     non-debug kernel the benchmarks; the guest's /init ends QEMU through
#     isa-debug-exit;
#  7. fails on any failed or skipped test, a missing PASS marker, or any WARNING, BUG,
#     oops, lockdep, hung-task or KASAN report on either guest console.
#
# The BENCH lines (kernel.*, emul.*) are repeated at the end.
# Logs: kernel/build/console.log (tests), kernel/build/bench.log
# (benchmarks), kernel/build/build-{test,bench}.log (kernel builds).
#
# Environment:
#   KCHECK_JOBS            make -j (default: CPUs + 1)
#   KCHECK_TIMEOUT         seconds for each QEMU run (default 1500)
#   KCHECK_NO_BENCH_KERNEL=1  run the benchmarks on the debug kernel
#   KCHECK_NO_SUITE=1      do not build/run libumcg's suite and benchmarks
#                          (only the kernel-only tests); the result says so
#   KCHECK_CLEAN=1         unpack the sources afresh even if stamps match
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out="$here/build"
user="$out/user"
kt="$out/ktests"
stage="$out/initramfs"
log="$out/console.log"
jobs=${KCHECK_JOBS:-$(($(nproc) + 1))}
qemu_timeout=${KCHECK_TIMEOUT:-1500}
tarball=/usr/src/linux-source-6.12.tar.xz
start=$(date +%s)

say() { echo "kernel-check: $*"; }
die() { echo "kernel-check: FAIL: $*" >&2; exit 1; }
elapsed() { echo "$(($(date +%s) - start))s"; }

# ---- 1. packages ---------------------------------------------------------
pkgs="linux-source-6.12 qemu-system-x86 ccache gcc make flex bison bc \
libelf-dev libssl-dev cpio xz-utils patch gzip python3"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	say "installing:$missing"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends $missing
fi
[ -f "$tarball" ] || die "no $tarball"

# ---- 2./3. source + series + kernel, twice ---------------------------------
# "test": with the debug options, runs the tests.  "bench": without them
# (lockdep and friends make every kernel entry many times dearer), runs the
# benchmarks.
export KBUILD_BUILD_TIMESTAMP="2026-01-01" KBUILD_BUILD_USER=umcg KBUILD_BUILD_HOST=umcg
mkdir -p "$out"

build_kernel() {	# name, config fragments...
	name=$1
	shift
	t="$out/linux-$name"
	# New files (kernel/src, the uapi header) are refreshed in place; a
	# change of the tarball, the patches or the configs means a new tree.
	stamp=$( (ls -l "$tarball"; cat "$here"/patches/*.patch "$@") |
		sha256sum | cut -c1-16)
	if [ "${KCHECK_CLEAN:-}" = 1 ] || [ ! -f "$t/.umcg-stamp" ] ||
	   [ "$(cat "$t/.umcg-stamp")" != "$stamp" ]; then
		say "$name kernel: unpacking $tarball"
		rm -rf "$t" "$out/linux-source-6.12"
		tar -C "$out" -xf "$tarball"
		mv "$out/linux-source-6.12" "$t"
		"$here/apply.sh" "$t"
		say "$name kernel: tinyconfig +$(for c in "$@"; do printf ' %s' "$(basename "$c")"; done)"
		make -C "$t" -s tinyconfig >/dev/null
		"$t/scripts/kconfig/merge_config.sh" -m -O "$t" "$t/.config" "$@" >/dev/null
		make -C "$t" -s olddefconfig >/dev/null
		bad=""
		for opt in $(cat "$@" | sed -n 's/^\(CONFIG_[A-Z0-9_]*\)=y$/\1/p'); do
			grep -q "^$opt=y" "$t/.config" || bad="$bad $opt"
		done
		[ -z "$bad" ] || say "warning: not set after olddefconfig:$bad"
		grep -q '^CONFIG_UMCG=y' "$t/.config" || die "CONFIG_UMCG not set"
		grep -q '^CONFIG_64BIT=y' "$t/.config" || die "not a 64-bit config"
		echo "$stamp" >"$t/.umcg-stamp"
	else
		say "$name kernel: patched tree up to date ($t)"
		"$here/apply.sh" --copy-only "$t"
	fi
	say "$name kernel: building bzImage (make -j$jobs, ccache) ..."
	if ! make -C "$t" -j"$jobs" CC="ccache gcc" bzImage >"$out/build-$name.log" 2>&1; then
		grep -E "error|Error" "$out/build-$name.log" | head -30 >&2
		die "kernel build failed (see $out/build-$name.log)"
	fi
	if grep -E "warning:" "$out/build-$name.log" | grep -i umcg >&2; then
		die "compiler warnings in UMCG code"
	fi
	say "$name kernel: bzImage ready ($(elapsed))"
}

base="$here/config/10-base.config $here/config/20-umcg.config"
build_kernel test $base "$here/config/30-debug.config"
tree="$out/linux-test"
bench_tree="$tree"
if [ "${KCHECK_NO_BENCH_KERNEL:-}" != 1 ]; then
	build_kernel bench $base
	bench_tree="$out/linux-bench"
fi
make -C "$tree" -s usr/gen_init_cpio >/dev/null 2>&1 || true
[ -x "$tree/usr/gen_init_cpio" ] || die "no usr/gen_init_cpio"

# ---- 4. user space -----------------------------------------------------------
suite=1
[ "${KCHECK_NO_SUITE:-}" = 1 ] && suite=0
if [ $suite = 1 ]; then
	say "building libumcg, its suite and benchmarks into $user"
	if ! make -C "$repo" -s O="$user" all >"$out/user-build.log" 2>&1; then
		tail -30 "$out/user-build.log" >&2
		die "libumcg build failed (see $out/user-build.log); KCHECK_NO_SUITE=1 runs the kernel-only tests alone"
	fi
fi
rm -rf "$kt"
mkdir -p "$kt"
for src in "$here"/tests/k_*.c; do
	name=$(basename "$src" .c)
	gcc -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -static -pthread \
		-I"$repo/include" -o "$kt/$name" "$src" || die "building $name"
done
gcc -O2 -Wall -Wextra -Werror -static -o "$kt/init" "$here/tests/init.c" ||
	die "building init"

# ---- 5. initramfs --------------------------------------------------------------
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/kt" "$stage/umcg"
cp "$kt"/k_* "$stage/kt/"
cp "$kt/init" "$stage/init"
cp "$here/tests/guest.sh" "$stage/kt/guest"
tools="sh mktemp date awk timeout sed tail head grep setarch uname rm cat sleep \
env true false ls wc sort mkdir cut tr expr seq dirname basename printf"
for t in $tools; do
	p=""
	for d in /usr/bin /bin /usr/sbin /sbin; do
		[ -x "$d/$t" ] && { p="$d/$t"; break; }
	done
	[ -n "$p" ] || die "no $t on the host"
	cp -L "$p" "$stage/bin/$t"
done
if [ $suite = 1 ]; then
	mkdir -p "$stage/umcg/build" "$stage/umcg/tests" "$stage/umcg/bench"
	cp -L "$user/libumcg.so.1" "$stage/umcg/build/"
	[ -d "$user/testdata" ] && cp -r "$user/testdata" "$stage/umcg/build/"
	for d in tests bench; do
		[ -d "$user/$d" ] && cp -r "$user/$d" "$stage/umcg/build/"
		cp "$repo/$d/run.sh" "$stage/umcg/$d/run.sh"
	done
	# test scripts (tests/*.sh other than run.sh) are not run in the guest
fi
# shared libraries of every dynamic ELF in the stage
find "$stage" -type f -perm -u+x | while read -r f; do
	ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'
done | sort -u | while read -r lib; do
	case $lib in
	*/libumcg.so*) continue ;;
	esac
	mkdir -p "$stage$(dirname "$lib")"
	cp -L "$lib" "$stage$lib"
done
# dlopen()ed by glibc (pthread_exit, pthread_cancel): not in ldd's output
for lib in /lib/x86_64-linux-gnu/libgcc_s.so.1; do
	[ -f "$lib" ] || continue
	mkdir -p "$stage$(dirname "$lib")"
	cp -L "$lib" "$stage$lib"
done
mkdir -p "$stage/lib64"
[ -f "$stage/lib64/ld-linux-x86-64.so.2" ] ||
	cp -L /lib64/ld-linux-x86-64.so.2 "$stage/lib64/"
[ -e "$stage/usr/bin" ] || { mkdir -p "$stage/usr"; ln -s ../bin "$stage/usr/bin"; }
{
	echo "dir /dev 0755 0 0"
	echo "nod /dev/console 0600 0 0 c 5 1"
	(cd "$stage" && find . -mindepth 1 | sed 's|^\.||' | sort) | while read -r f; do
		if [ -L "$stage$f" ]; then
			echo "slink $f $(readlink "$stage$f") 0777 0 0"
		elif [ -d "$stage$f" ]; then
			echo "dir $f 0755 0 0"
		else
			mode=0644
			[ -x "$stage$f" ] && mode=0755
			echo "file $f $stage$f $mode 0 0"
		fi
	done
} >"$out/initramfs.list"
"$tree/usr/gen_init_cpio" "$out/initramfs.list" | gzip -1 >"$out/initramfs.cpio.gz"
say "initramfs: $(du -h "$out/initramfs.cpio.gz" | cut -f1)"

# ---- 6. boot ------------------------------------------------------------------
# TCG's TSC runs at the host's rate; calibration against the PIT fails on a
# loaded host, and a jiffies clock ruins the benchmarks: tell the guest.
tsc_khz=$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo 2>/dev/null || true)
tsc_args="tsc=reliable tsc=nowatchdog"
[ -n "$tsc_khz" ] && [ "$tsc_khz" -gt 0 ] && tsc_args="$tsc_args tsc_early_khz=$tsc_khz"

boot() {	# name, bzImage, mode, log
	say "$1: booting qemu-system-x86_64 -smp 2 (TCG) ..."
	set +e
	timeout -k 10 "$qemu_timeout" qemu-system-x86_64 -nographic -no-reboot \
		-smp 2 -m 1024 -M microvm,acpi=off -accel tcg \
		-device isa-debug-exit,iobase=0xf4,iosize=4 \
		-kernel "$2" -initrd "$out/initramfs.cpio.gz" \
		-append "console=ttyS0 $tsc_args panic=-1 reboot=t oops=panic panic_on_warn=1 quiet umcg_suite=$suite umcg_mode=$3" \
		</dev/null >"$4" 2>&1
	qrc=$?
	set -e
	tr -d '\r' <"$4" >"$4.tmp" && mv "$4.tmp" "$4"
	ok=1
	if grep -nE "WARNING:|BUG:|BUG |Oops|Call Trace|lockdep|LOCKDEP|possible (recursive|circular)|inconsistent lock|KASAN|UBSAN|INFO: task|soft lockup|Kernel panic|RCU stall|rcu_sched self-detected" "$4" >"$4.bad"; then
		echo "kernel-check: $1: kernel reports on the console:" >&2
		head -40 "$4.bad" >&2
		ok=0
	fi
	# QEMU: guest wrote 0 -> exit 1; wrote 1 -> exit 3
	if [ $qrc -ne 1 ]; then
		echo "kernel-check: $1: QEMU exit status $qrc (want 1: guest wrote 0 to isa-debug-exit)" >&2
		[ $qrc -eq 124 ] && echo "kernel-check: $1: the guest timed out after ${qemu_timeout}s" >&2
		ok=0
	fi
	grep -q "^GUEST ALL PASSED" "$4" || { echo "kernel-check: $1: no 'GUEST ALL PASSED' marker" >&2; ok=0; }
	# a test that could not run is a failure here, whatever the guest said
	if grep -E "^(CONFORMANCE [a-z]+: )?SKIP |^KTEST SKIP" "$4" >"$4.skip"; then
		echo "kernel-check: $1: skipped tests:" >&2
		head -20 "$4.skip" >&2
		ok=0
	fi
	[ $ok = 1 ] || status=1
}

status=0
boot "tests (debug kernel)" "$tree/arch/x86/boot/bzImage" test "$log"
echo "---- guest results ----"
grep -E "^(KTEST|CONFORMANCE|GUEST)" "$log" | grep -vE "^CONFORMANCE [a-z]*:     \|" || true
boot "benchmarks (non-debug kernel)" "$bench_tree/arch/x86/boot/bzImage" bench "$out/bench.log"
grep -E "^(KTEST FAIL|GUEST)" "$out/bench.log" || true
echo "---- benchmarks (non-debug kernel, same guest run per line) ----"
grep -E "^BENCH " "$out/bench.log" || true

[ $suite = 1 ] || echo "kernel-check: NOTE: KCHECK_NO_SUITE=1: the conformance suite and libumcg benchmarks were not run"
if [ $status -ne 0 ]; then
	say "FAILED after $(elapsed) (guest logs: $log, $out/bench.log)"
	exit 1
fi
say "passed in $(elapsed)"
