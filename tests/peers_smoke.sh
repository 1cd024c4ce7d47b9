#!/bin/sh
# Description: the pieces of `make peers` (docs/peers.md) each run briefly
# and count: the Go and Boost.Fiber in-process peers print their RESULT
# line; Go's net/http server answers both routes, and bench/peers/loadgen
# gets back every request it sent; wrk runs the mix script against it.
# No timing is asserted.  Needs `make peers-bin` (make check runs it) and
# golang-go, libboost-fiber-dev, wrk (.ci/run installs them): SKIP
# otherwise, which CI counts as a failure.  About 10 s.  Loopback only.
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
missing=""
for p in peers/go-inproc peers/go-httpd peers/fibers peers/loadgen; do
	[ -x "$build/$p" ] || missing="$missing $build/$p"
done
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
if [ -n "$missing" ]; then
	echo "SKIP not built or not installed:$missing (make peers-bin; Debian golang-go, libboost-fiber-dev, wrk)"
	exit 77
fi
fail() { echo "FAIL: $*"; exit 1; }

out=$("$build/peers/go-inproc" -load 0.3 -duration 1 -warmup 0.1 2>&1) || fail "go-inproc: $out"
echo "$out"
echo "$out" | grep -Eq '^RESULT go throughput=[0-9.]+ util=[0-9.]+ lc_p50_us=[0-9]+ lc_p99_us=[0-9]+ batch_p50_us=[0-9]+ batch_p99_us=[0-9]+$' ||
	fail "go-inproc: no RESULT line"
echo "$out" | grep -Eq '^RESULT go throughput=0(\.0)? ' && fail "go-inproc: nothing completed"

out=$("$build/peers/fibers" --load 0.3 --duration 1 --warmup 0.1 2>&1) || fail "fibers: $out"
echo "$out"
echo "$out" | grep -Eq '^RESULT fibers throughput=[0-9.]+ util=[0-9.]+ lc_p50_us=[0-9]+ lc_p99_us=[0-9]+ batch_p50_us=[0-9]+ batch_p99_us=[0-9]+$' ||
	fail "fibers: no RESULT line"
echo "$out" | grep -Eq '^RESULT fibers throughput=0(\.0)? ' && fail "fibers: nothing completed"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/umcg-peers-smoke.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
"$build/peers/go-httpd" -port-file "$tmp/port" -lc-burst 100 -batch-burst 500 >"$tmp/log" 2>&1 &
pid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat "$tmp/port" 2>/dev/null) || fail "go-httpd did not start: $(cat "$tmp/log")"

out=$("$build/peers/loadgen" --port "$port" --rate 50 --duration 1 --warmup 0.1 --drain 5 \
	--name http.go --server-pid "$pid") || fail "loadgen: $out"
echo "$out"
sent=$(echo "$out" | sed -n 's/^loadgen: .* sent=\([0-9]*\) .*/\1/p')
done_=$(echo "$out" | sed -n 's/^loadgen: .* completed=\([0-9]*\) .*/\1/p')
echo "$out" | grep -q ' errors=0 non2xx=0 unfinished=0 ' || fail "loadgen: errors"
[ "${sent:-0}" -gt 10 ] && [ "$sent" = "$done_" ] || fail "loadgen: sent $sent, completed $done_"
echo "$out" | grep -Eq '^ROUTE lc n=[1-9]' || fail "loadgen: no /lc answered"
echo "$out" | grep -Eq '^ROUTE batch n=[1-9]' || fail "loadgen: no /batch answered"
echo "$out" | grep -Eq '^RESULT http.go throughput=[0-9.]+ util=[0-9.]+ lc_p50_us=' ||
	fail "loadgen: no RESULT line"

out=$(wrk -t1 -c4 -d1s -s bench/peers/mix.lua "http://127.0.0.1:$port/") || fail "wrk: $out"
echo "$out"
echo "$out" | grep -Eq '^Requests/sec: +[0-9.]*[1-9]' || fail "wrk: no requests"
echo "$out" | grep -q 'Non-2xx' && fail "wrk: errors"
kill "$pid"
wait "$pid" || true
pid=
echo "peers smoke: ok"
