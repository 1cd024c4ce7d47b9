#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Description: BPF detection on a busy host.  The scheduler-heavy test
# binaries run in turn, alternating UMCG_DETECT=hooks and =bpf, while a
# second libumcg process with BPF detection runs its own tests beside them
# and CPU hogs compete for the cores.  Any hang or failure fails the run.
#
#   tests/bpf_soak.sh [builddir]     (default build)
#
# Environment:
#   DURATION   seconds of the main loop (default 30; the soak of issue 15
#              is DURATION=1200)
#   HOGS       CPU-burning processes beside the loop (default 2)
#   COMPANIONS second BPF processes, each looping over its own tests
#              (default 1)
#   RUN_TIMEOUT seconds one run may take before it counts as a hang
#              (default 150: every test's own watchdog fires before)
#   SOAK_LOG   directory kept for the logs of failed runs (default: a
#              fresh one under TMPDIR)
#
# Prints one line per failed run, then
#   "soak: <runs> runs (<bpf> bpf), <hangs> hangs, <failures> other failures"
# and exits 1 if any run hung or failed.  Without BPF (not root, no
# bpf(2)) it prints SKIP and exits 77, unless UMCG_TEST_BPF=1 asks for it.

set -u

build=${1:-build}
duration=${DURATION:-30}
hogs=${HOGS:-2}
companions=${COMPANIONS:-1}
run_timeout=${RUN_TIMEOUT:-150}
cd "$(dirname "$0")/.." || exit 1

main_bins="stress sched_sync sched_policies preempt direct_switch invariant_monitor"
companion_bins="bpf_detect stress sched_sync direct_switch"

for b in $main_bins $companion_bins; do
	[ -x "$build/tests/$b" ] || { echo "no $build/tests/$b (make first)"; exit 1; }
done

# Does BPF detection load here?  bpf_detect says SKIP (77) when it cannot.
UMCG_DETECT=bpf timeout 60 "$build/tests/bpf_detect" >/dev/null 2>&1
rc=$?
if [ $rc -eq 77 ]; then
	if [ "${UMCG_TEST_BPF:-}" = 1 ]; then
		echo "UMCG_TEST_BPF=1 but BPF detection does not load"
		exit 1
	fi
	echo "SKIP: BPF detection unavailable (needs root and bpf(2))"
	exit 77
fi

logdir=${SOAK_LOG:-$(mktemp -d "${TMPDIR:-/tmp}/umcg-soak.XXXXXX")}
mkdir -p "$logdir"
stop=$logdir/.stop
rm -f "$stop"
pids=""

cleanup() {
	touch "$stop"
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

i=0
while [ "$i" -lt "$hogs" ]; do
	# A hog stops by itself with the loop (and at the latest after
	# DURATION + 10 min, should the loop die without cleanup).
	timeout $((duration + 600)) sh -c "while [ ! -e '$stop' ]; do :; done" &
	pids="$pids $!"
	i=$((i + 1))
done

# A companion: its own tests, all with BPF detection, until told to stop.
# Its failures are counted too (written to its own tally file).
companion() {
	n=$1
	runs=0
	bad=0
	while [ ! -e "$stop" ]; do
		for b in $companion_bins; do
			[ -e "$stop" ] && break
			UMCG_DETECT=bpf timeout -k 5 "$run_timeout" \
				"$build/tests/$b" >"$logdir/c$n.log" 2>&1
			rc=$?
			runs=$((runs + 1))
			if [ $rc -ne 0 ] && [ ! -e "$stop" ]; then
				bad=$((bad + 1))
				cp "$logdir/c$n.log" "$logdir/companion$n-$runs-$b.log"
				echo "companion $n: $b with bpf exited $rc" \
					"(log $logdir/companion$n-$runs-$b.log)"
			fi
		done
		echo "$runs $bad" >"$logdir/c$n.tally"
	done
	echo "$runs $bad" >"$logdir/c$n.tally"
}

i=0
while [ "$i" -lt "$companions" ]; do
	companion "$i" &
	pids="$pids $!"
	i=$((i + 1))
done

runs=0
bpf_runs=0
hangs=0
failures=0
end=$(($(date +%s) + duration))
mode=hooks
while [ "$(date +%s)" -lt "$end" ]; do
	for b in $main_bins; do
		[ "$(date +%s)" -lt "$end" ] || break
		UMCG_DETECT=$mode timeout -k 5 "$run_timeout" \
			"$build/tests/$b" >"$logdir/main.log" 2>&1
		rc=$?
		runs=$((runs + 1))
		[ $mode = bpf ] && bpf_runs=$((bpf_runs + 1))
		if [ $rc -ne 0 ]; then
			kept=$logdir/main-$runs-$b-$mode.log
			cp "$logdir/main.log" "$kept"
			if [ $rc -eq 124 ] || [ $rc -eq 137 ] ||
				grep -q '^TIMEOUT' "$kept"; then
				hangs=$((hangs + 1))
				what=hung
			else
				failures=$((failures + 1))
				what="exited $rc"
			fi
			echo "run $runs: $b with $mode $what (log $kept)"
			grep -m1 '^TIMEOUT' "$kept"
		fi
		if [ $mode = hooks ]; then mode=bpf; else mode=hooks; fi
	done
	# Six binaries: flip once more so that each meets both modes.
	if [ $mode = hooks ]; then mode=bpf; else mode=hooks; fi
done

touch "$stop"
for p in $pids; do
	wait "$p" 2>/dev/null
done
pids=""

c_runs=0
c_bad=0
for t in "$logdir"/c*.tally; do
	[ -f "$t" ] || continue
	read -r r b <"$t"
	c_runs=$((c_runs + r))
	c_bad=$((c_bad + b))
done

echo "soak: $runs runs ($bpf_runs bpf), $hangs hangs, $failures other failures;" \
	"companions: $c_runs runs, $c_bad failed; logs in $logdir"
[ $hangs -eq 0 ] && [ $failures -eq 0 ] && [ $c_bad -eq 0 ]
