#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Run the conformance suite: every test binary in each given build dir.
#
#   tests/run.sh <builddir>[@bpf]...  e.g. tests/run.sh build build-thread
#
# "<builddir>@bpf" runs that build's suite again with UMCG_DETECT=bpf (the
# emul backend's BPF block detection, docs/bpf.md); its lines read
# "PASS build@bpf/<name>".
#
# One line per test: "PASS|FAIL|SKIP <dir>/<name> (<seconds>s)"; the output
# of a failing test follows its line.  The last line is exactly
# "N passed, N failed" (", N skipped" added when some skipped); before it,
# "N cases run": the sum of the "CASES n" lines the binaries print
# (t_finish()).  A build dir whose full suite ran fewer cases than
# tests/min_cases counts as one failure.
# Exit status: 1 if anything failed or anything skipped; a skip is
# allowed only with UMCG_ALLOW_SKIP=1 (a run without root, where the BPF,
# userfaultfd and SCHED_FIFO cases cannot run).
#
# Also runs each tests/*.sh (other than this one) once, with the first
# build dir as its argument.
#
# Environment: TEST_TIMEOUT (seconds per test, default 120), TESTS (a
# space-separated list of test names to run, default all),
# UMCG_ALLOW_SKIP.
# Sanitizer builds (a dir name containing "thread" or "address") get
# halt_on_error options; TSan binaries run under "setarch -R" (no ASLR),
# because clang-14's TSan dies on some mmap layouts of newer kernels
# ("unexpected memory mapping").

set -u

timeout_s=${TEST_TIMEOUT:-120}
passed=0
failed=0
skipped=0
cases=0
failures=""

if [ $# -eq 0 ]; then
	echo "usage: $0 <builddir>..." >&2
	exit 2
fi

TSAN_OPTIONS=${TSAN_OPTIONS:-"halt_on_error=1 second_deadlock_stack=1 exitcode=66"}
ASAN_OPTIONS=${ASAN_OPTIONS:-"halt_on_error=1 detect_leaks=1 exitcode=66"}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-"halt_on_error=1 print_stacktrace=1"}
export TSAN_OPTIONS ASAN_OPTIONS UBSAN_OPTIONS

norandom=""
if setarch "$(uname -m)" -R true 2>/dev/null; then
	norandom="setarch $(uname -m) -R"
fi

log=$(mktemp "${TMPDIR:-/tmp}/umcg-test.XXXXXX")
trap 'rm -f "$log"' EXIT INT TERM

now_ms() {
	date +%s%3N
}

run_one() {
	dir=$1
	bin=$2
	shift 2
	name=${bin##*/}
	prefix=""
	case "$dir" in
	*thread*) prefix=$norandom ;;
	esac
	case "$bin" in
	*.sh) prefix="sh" ;;
	esac
	start=$(now_ms)
	# shellcheck disable=SC2086
	timeout -k 5 "$timeout_s" env $run_env $prefix "$bin" "$@" >"$log" 2>&1
	rc=$?
	end=$(now_ms)
	n=$(sed -n 's/^CASES \([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)
	cases=$((cases + ${n:-0}))
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", (b - a) / 1000 }')
	case $rc in
	0)
		echo "PASS $dir/$name (${secs}s)"
		passed=$((passed + 1))
		;;
	77)
		reason=$(grep -m1 -i 'skip' "$log" || true)
		echo "SKIP $dir/$name (${secs}s) ${reason}"
		skipped=$((skipped + 1))
		;;
	*)
		what="exit $rc"
		[ $rc -eq 124 ] && what="timed out after ${timeout_s}s"
		[ $rc -gt 128 ] && [ $rc -ne 124 ] && what="killed by signal $((rc - 128))"
		echo "FAIL $dir/$name (${secs}s) [$what]"
		sed -e 's/^/    | /' "$log" | tail -n 200
		failed=$((failed + 1))
		failures="$failures $dir/$name"
		;;
	esac
}

# Each build dir's full suite (no TESTS) must run at least the cases
# tests/min_cases records, so a test that quietly stops running its
# cases fails the run.
min_cases=$(cat "$(dirname "$0")/min_cases" 2>/dev/null || echo 0)
cases_before=0
run_env=""
for arg in "$@"; do
	arg=${arg%/}
	dir=${arg%@*}
	run_env=""
	case $arg in
	*@bpf) run_env="UMCG_DETECT=bpf" ;;
	*@*) echo "FAIL $arg (unknown mode: only @bpf)"
		failed=$((failed + 1))
		continue ;;
	esac
	if [ ! -d "$dir/tests" ]; then
		echo "FAIL $dir (no $dir/tests: build it first)"
		failed=$((failed + 1))
		continue
	fi
	for bin in "$dir"/tests/*; do
		[ -f "$bin" ] && [ -x "$bin" ] || continue
		name=${bin##*/}
		if [ -n "${TESTS:-}" ]; then
			case " $TESTS " in
			*" $name "*) ;;
			*) continue ;;
			esac
		fi
		run_one "$arg" "$bin"
	done
	dir_cases=$((cases - cases_before))
	cases_before=$cases
	if [ -z "${TESTS:-}" ] && [ "$dir_cases" -lt "$min_cases" ]; then
		echo "FAIL $arg: only $dir_cases cases ran, tests/min_cases wants at least $min_cases"
		failed=$((failed + 1))
		failures="$failures $arg(cases)"
	fi
done
run_env=""

# Shell tests (tests/*.sh but this runner) check the source tree: once.
here=$(dirname "$0")
for script in "$here"/*.sh; do
	[ -f "$script" ] || continue
	name=${script##*/}
	[ "$name" = "run.sh" ] && continue
	if [ -n "${TESTS:-}" ]; then
		case " $TESTS " in
		*" ${name%.sh} "* | *" $name "*) ;;
		*) continue ;;
		esac
	fi
	run_one "tests" "$script" "$1"
done

[ -n "$failures" ] && echo "failed:$failures"
echo "$cases cases run"
skip_fail=0
if [ $skipped -gt 0 ] && [ "${UMCG_ALLOW_SKIP:-}" != "1" ]; then
	echo "the $skipped skipped test(s) count as failures (UMCG_ALLOW_SKIP=1 allows them)"
	skip_fail=1
fi
if [ $skipped -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ $failed -eq 0 ] && [ $skip_fail -eq 0 ]
