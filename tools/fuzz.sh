#!/bin/sh
# SPDX-License-Identifier: MIT
#
# tools/fuzz.sh run|replay <fuzzdir> <seconds> <fuzzer>...  (make fuzz,
# make fuzz-regress; docs/reliability.md)
#
# run:    each fuzzer for <seconds> on <fuzzdir>/corpus/<name>, seeded with
#         tests/fuzz-regressions/<name>/; prints its executions; a crash,
#         sanitizer report, leak or hang (-timeout) fails, and its input is
#         left in <fuzzdir>/crashes/ to be copied to tests/fuzz-regressions/.
# replay: each input of tests/fuzz-regressions/<name>/ once; none may fail.
set -eu
mode=$1 dir=$2 secs=$3
shift 3
root=$(cd "$(dirname "$0")/.." && pwd)
fail=0
for f in "$@"; do
	name=$(basename "$f")
	regress=$root/tests/fuzz-regressions/$name
	log=$dir/$name.log
	mkdir -p "$regress" "$dir/corpus/$name" "$dir/crashes"
	if [ "$mode" = replay ]; then
		set -- "$regress"/*
		if [ ! -e "$1" ]; then
			echo "fuzz: $name: no regression inputs in tests/fuzz-regressions/$name"
			fail=1
			continue
		fi
		if "$f" -runs=1 -timeout=20 "$@" > "$log" 2>&1; then
			echo "fuzz: $name: replayed $# inputs"
		else
			echo "fuzz: $name: FAILED replaying (see $log)"; tail -30 "$log"; fail=1
		fi
		continue
	fi
	if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$dir/crashes/$name-" -print_final_stats=1 \
		"$dir/corpus/$name" "$regress" > "$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
		echo "fuzz: $name: $runs executions in ${secs}s, $cov, no failure"
	else
		echo "fuzz: $name: FAILED (see $log; input in $dir/crashes/)"
		grep -E 'ERROR|SUMMARY|abi_calls:' "$log" | head -10
		fail=1
	fi
done
exit $fail
