#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Runs inside the kernel-check guest as /kt/guest (started by /init; no
# .sh suffix, so that no runner globbing *.sh picks it up).  The kernel command
# line selects what (umcg_mode=test|bench, umcg_suite=0|1; the kernel hands
# unknown parameters to /init as environment variables).
#
# test:  one "KTEST PASS|FAIL <name>" line per kernel-only test, then the
#        conformance suite on each backend ("CONFORMANCE <backend>: ...").
# bench: the BENCH lines of kernel/tests/k_bench and of libumcg's bench/ on
#        each backend (prefix kernel. / emul.).
# Exit status 0 when everything passed.

status=0
mode=${umcg_mode:-test}
echo "GUEST kernel $(uname -r), umcg abi $(cat /sys/kernel/umcg/abi_version)," \
	"syscalls $(cat /sys/kernel/umcg/syscalls)," \
	"clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)," \
	"mode $mode"
[ -f /proc/sys/kernel/hung_task_timeout_secs ] &&
	echo 30 >/proc/sys/kernel/hung_task_timeout_secs

run() {	# name, timeout, command...
	name=$1 tmo=$2
	shift 2
	timeout -k 5 "$tmo" "$@" >/tmp/out 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "KTEST PASS $name"
	else
		echo "KTEST FAIL $name (exit $rc)"
		sed 's/^/    | /' /tmp/out | tail -40
		status=1
	fi
	grep '^BENCH ' /tmp/out
}

if [ "$mode" = test ]; then
	for t in /kt/k_*; do
		case $t in
		*k_bench) continue ;;
		esac
		run "${t##*/}" 120 "$t"
	done
	if [ "${umcg_suite:-1}" = 1 ] && [ -d /umcg/build/tests ]; then
		cd /umcg || exit 1
		for b in kernel emul; do
			# the test kernel has no BPF: bpf_detect checks the refusal;
			# run.sh fails on any SKIP (UMCG_ALLOW_SKIP is not set)
			UMCG_BACKEND=$b UMCG_TEST_BPF=0 TEST_TIMEOUT=120 \
				sh tests/run.sh build >/tmp/suite 2>&1
			rc=$?
			sed "s/^/CONFORMANCE $b: /" /tmp/suite
			[ $rc -eq 0 ] || status=1
		done
	fi
else
	run k_bench 300 /kt/k_bench
	if [ "${umcg_suite:-1}" = 1 ] && [ -d /umcg/build/bench ]; then
		cd /umcg || exit 1
		for b in kernel emul; do
			UMCG_BACKEND=$b UMCG_BENCH_PREFIX=$b. \
				UMCG_BENCH_SCALE=${UMCG_BENCH_SCALE:-0.3} \
				UMCG_BENCH_NO_RERUN=1 \
				UMCG_BENCH_TIMEOUT=400 sh bench/run.sh build 2>/tmp/bench.err
			if [ $? -ne 0 ]; then
				# which binary failed or timed out, then the last notes
				echo "KTEST FAIL bench/run.sh ($b)"
				grep -v '^#' /tmp/bench.err | sed 's/^/    | /'
				sed 's/^/    | /' /tmp/bench.err | tail -20
				status=1
			fi
		done
	fi
fi
exit $status
