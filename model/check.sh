#!/bin/sh
# SPDX-License-Identifier: MIT
#
# model/check.sh <outdir> [--mutants]: check model/umcg.pml with spin.
#
# Safety: assertions (one RUNNING worker per server, a woken or claimed
# worker runs once and from no list) and invalid end states (deadlock, a
# lost wake-up: some task sleeps for good).  Liveness: the LTL claim
# all_done (every worker ends, every server stops) under weak fairness.
# Every run is exhaustive (no BITSTATE, no COLLAPSE); the configurations
# and why are in docs/reliability.md.  Exits non-zero on any error, or on
# a search that did not complete.  --mutants: each mutant must make spin
# report an error.
set -eu
out=${1:?usage: model/check.sh <outdir> [--mutants]}
mode=${2:-}
src=$(cd "$(dirname "$0")" && pwd)/umcg.pml
SPIN=${SPIN:-spin}
CC=${CC:-cc}
command -v "$SPIN" >/dev/null || { echo "model: spin not found (Debian: apt-get install spin)" >&2; exit 1; }
mkdir -p "$out"
cd "$out"
cp "$src" umcg.pml

# build <name> <spin -D flags> <cc flags>
build() {
	mkdir -p "$1" && cp umcg.pml "$1/" && (cd "$1" && "$SPIN" $2 -a umcg.pml >/dev/null &&
		$CC -O2 -w -DMEMLIM=2048 $3 -o pan pan.c)
}

# run <name> <pan flags>: prints pan's summary, returns its error count
run() {
	(cd "$1" && ./pan $2 > pan.out 2>&1) || true
	grep -E 'errors:|states, stored|elapsed time|pan:1|MEMLIM' "$1/pan.out" | sed "s/^/model: $1: /" >&2
	if grep -qE 'MEMLIM|Search not completed' "$1/pan.out"; then
		echo 99		# an incomplete search is no proof
	else
		sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$1/pan.out" | head -1
	fi
}

fail=0
if [ "$mode" = --mutants ]; then
	for m in NO_RECHECK NO_COND_WAIT "PARK_ORDER -DFREE_OPS"; do
		name=mutant_$(echo "$m" | cut -d' ' -f1)
		build "$name" "-DMUTANT_$m" "-DNOCLAIM -DSAFETY"
		e=$(run "$name" "-m1000000" | tail -1)
		if [ "${e:-0}" -gt 0 ]; then
			echo "model: $name: found (as it must)"
		else
			echo "model: $name: NOT found: the model is vacuous here"; fail=1
		fi
	done 2>&1
	exit $fail
fi

# 2 servers x 3 workers, no slice timeouts: exhaustive, safety and liveness
build safety "-DSLICES=0" "-DNOCLAIM -DSAFETY"
e=$(run safety "-m1000000" | tail -1)
[ "${e:-1}" = 0 ] || { echo "model: safety: FAILED (trail: $out/safety)"; fail=1; }
build liveness "-DSLICES=0" "-DNFAIR=3"
e=$(run liveness "-a -f -m1000000" | tail -1)
[ "${e:-1}" = 0 ] || { echo "model: liveness: FAILED (trail: $out/liveness)"; fail=1; }
[ $fail = 0 ] && echo "model: no error"
exit $fail
