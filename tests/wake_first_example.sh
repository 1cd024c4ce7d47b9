#!/bin/sh
# Description: examples/wake_first (a policy written outside the library,
# attr.policy = &wake_first_ops) runs its workload under its own policy and
# under "global", and every sleeper finishes all its rounds (the program
# checks that and fails otherwise).  No timing is asserted: the latencies
# it prints are what the example shows, not what a test may rely on.
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
bin=$build/examples/wake_first
[ -x "$bin" ] || { echo "no $bin (make first)"; exit 1; }
out=$("$bin" 50) || { echo "$out"; echo "wake_first failed"; exit 1; }
echo "$out"
echo "$out" | grep -Eq '^wake_first +sleeps 100 ' || { echo "no wake_first run"; exit 1; }
echo "$out" | grep -Eq '^global +sleeps 100 ' || { echo "no global run"; exit 1; }
