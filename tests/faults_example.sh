#!/bin/sh
# Description: examples/faults runs both detection modes to the end and
# reads every record (it checks the sum itself); with UMCG_TEST_BPF=1 the
# BPF run must happen.  No timing is asserted: that is what the example
# prints, not what a test may rely on.
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
bin=$build/examples/faults
[ -x "$bin" ] || { echo "no $bin (make first)"; exit 1; }
out=$(UMCG_DETECT= "$bin" 5 1 1) || { echo "$out"; echo "faults failed"; exit 1; }
echo "$out"
echo "$out" | grep -Eq '^(hooks|kernel) +20 records' || { echo "no first run"; exit 1; }
if [ "${UMCG_TEST_BPF:-}" = 1 ]; then
	echo "$out" | grep -Eq '^(bpf|kernel) +20 records' || { echo "no BPF run"; exit 1; }
fi
