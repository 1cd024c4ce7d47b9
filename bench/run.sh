#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Run every benchmark binary under <build-dir>/bench/ (default: build),
# in name order, each under a time limit.  stdout gets exactly the
# "BENCH <name> median_ns=<n> baseline_ns=<n> ratio=<r>" lines; notes
# (spread of the samples, backend, CPU) go to stderr as "# ..." lines.
#
# Environment (passed through to the binaries, see docs/bench.md):
#   UMCG_BENCH_PREFIX   prepended to every result name (e.g. "emul.")
#   UMCG_BENCH_SCALE    multiply the number of rounds (default 1)
#   UMCG_BENCH_CPU      the one CPU every thread is pinned to
#   UMCG_BENCH_TIMEOUT  seconds per binary (default 120)
#   UMCG_BENCH_ONLY     run only binaries whose name contains this
#   UMCG_BENCH_NO_RERUN no .nopoll second run of the switch benchmarks
# Exits 1 if a binary failed or timed out, after running the others.

dir=${1:-build}/bench
limit=${UMCG_BENCH_TIMEOUT:-120}
status=0

if [ ! -d "$dir" ]; then
	echo "bench/run.sh: no $dir (run make first)" >&2
	exit 1
fi
if command -v timeout >/dev/null 2>&1; then
	tmo="timeout $limit"
else
	tmo=
fi

for b in "$dir"/*; do
	[ -f "$b" ] && [ -x "$b" ] || continue
	name=${b##*/}
	case $name in
	*"${UMCG_BENCH_ONLY:-}"*) ;;
	*) continue ;;
	esac
	$tmo "$b"
	rc=$?
	if [ $rc -ne 0 ]; then
		if [ $rc -eq 124 ]; then
			echo "bench/run.sh: $name timed out after ${limit}s" >&2
		else
			echo "bench/run.sh: $name failed (exit $rc)" >&2
		fi
		status=1
	fi
done
exit $status
