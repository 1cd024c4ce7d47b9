#!/bin/sh
# SPDX-License-Identifier: MIT
# Description: the USDT probes reach a tracer.  The library carries every
# probe docs/tracing.md lists; tools/umcg-top attached (bpftrace, root) to
# the running demo prints per-server activity and per-worker histograms,
# with events from the toolkit's servers and from the ABI's blocks.
#
#   tests/usdt_trace.sh <builddir>
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
lib=$build/libumcg.so.1
demo=$build/examples/demo

fail() { echo "usdt_trace: FAIL: $*"; exit 1; }
[ -f "$lib" ] && [ -x "$demo" ] || fail "build $build first"

want="register unregister block queued switch preempt park timeout
tk_run tk_handoff tk_block tk_enqueue tk_preempt tk_steal"
have=$(readelf -n "$lib" | sed -n 's/^ *Name: //p' | sort -u)
[ -n "$have" ] || fail "$lib has no USDT probes (built without <sys/sdt.h>: apt-get install systemtap-sdt-dev)"
for p in $want; do
	echo "$have" | grep -qx "$p" || fail "probe umcg:$p missing from $lib"
done

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: attaching a tracer needs root (probes checked in the ELF notes only)"
	exit 77
fi
command -v bpftrace >/dev/null || fail "bpftrace missing (apt-get install bpftrace)"

out=$(mktemp "${TMPDIR:-/tmp}/umcg-usdt.XXXXXX")
trap 'rm -f "$out"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null' EXIT INT TERM
"$demo" --only umcg --duration 60 --rounds 1 --quiet >/dev/null 2>&1 &
pid=$!
sleep 1
kill -0 "$pid" 2>/dev/null || fail "the demo did not start"
timeout 120 tools/umcg-top "$pid" 3 >"$out" 2>&1 || { cat "$out"; fail "umcg-top failed"; }
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=

events=$(sed -n 's/^umcg-top: events \([0-9]*\).*/\1/p' "$out")
[ "${events:-0}" -gt 0 ] || { cat "$out"; fail "no events arrived"; }
grep -q '^@run\[[0-9]*\]: [1-9]' "$out" || { cat "$out"; fail "no toolkit server ran a worker"; }
grep -q '^@blocks_told\[[0-9]*\]: [1-9]' "$out" || { cat "$out"; fail "no block reached a server"; }
grep -q '^@blocked_us\[' "$out" || { cat "$out"; fail "no blocked-time histogram"; }
grep -q '^@runnable_us\[' "$out" || { cat "$out"; fail "no runnable-wait histogram"; }
echo "usdt_trace: $events events from the demo through tools/umcg-top"
