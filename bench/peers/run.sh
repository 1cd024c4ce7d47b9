#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make peers: every configuration on the same two workloads, in one run
# (docs/peers.md).  Usage: bench/peers/run.sh [builddir]
#
#  1. In-process (examples/demo.c's workload at its default offered load):
#     the demo's umcg, pool and nthreads (3 rounds), then Go and
#     Boost.Fiber.  One line each:
#       RESULT <config> throughput= util= lc_p50_us= lc_p99_us= batch_p50_us= batch_p99_us=
#  2. HTTP: examples/http/httpd.c on the toolkit (http.umcg) and with a
#     kernel thread per connection (http.threads), and Go's net/http
#     (http.go).  wrk, closed loop, 64 connections, 4 /lc to 1 /batch:
#       PEAK <config> rps=<n>
#     then bench/peers/loadgen, open loop, at 50 %, 80 % and 95 % of the
#     best peak, the same Poisson mix (80 % /lc):
#       RESULT <config> load=<f> throughput= util= lc_p50_us= ...
#  3. Plots (gnuplot, where installed) under <builddir>/peers/: latency
#     CDFs per configuration, p99 against offered load.
#
# Takes about 2.5 minutes with the default PEERS_SECONDS=5 (seconds per
# configuration and load; 3x that for the demo's three).  Loopback only.
# A missing peer (no Go, no Boost.Fiber, no wrk) is named and left out.
set -u
b=${1:-build}
secs=${PEERS_SECONDS:-5}
out=$b/peers/out
here=$(dirname "$0")
mkdir -p "$out"
rm -f "$out"/*.lat "$out"/results.txt
status=0
t_start=$(date +%s)

note() { echo "# $*" >&2; }

result() {
	# Keep every RESULT/PEAK line for the plots, print it as it comes.
	tee -a "$out/results.txt"
}

note "peers: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start," \
	"${secs}s per configuration"

# ---- 1. In-process ---------------------------------------------------------
"$b/examples/demo" --duration $((3 * secs)) --quiet --latency-out "$out/inproc.lat" |
	grep '^RESULT' | result || status=1
if [ -x "$b/peers/go-inproc" ]; then
	"$b/peers/go-inproc" -duration "$secs" -lat-out "$out/inproc.lat" |
		grep '^RESULT' | result || status=1
else
	note "no $b/peers/go-inproc (make peers-bin; Debian: golang-go)"
fi
if [ -x "$b/peers/fibers" ]; then
	"$b/peers/fibers" --duration "$secs" --lat-out "$out/inproc.lat" |
		grep '^RESULT' | result || status=1
else
	note "no $b/peers/fibers (make peers-bin; Debian: libboost-fiber-dev)"
fi

# ---- 2. HTTP ----------------------------------------------------------------
configs="umcg threads"
[ -x "$b/peers/go-httpd" ] && configs="$configs go"
server_pid=
port=

start_server() {
	pf="$out/port.$1"
	rm -f "$pf"
	case $1 in
	umcg) "$b/examples/httpd" --port-file "$pf" >"$out/server.$1.log" 2>&1 & ;;
	threads) "$b/examples/httpd" --threads --port-file "$pf" >"$out/server.$1.log" 2>&1 & ;;
	go) "$b/peers/go-httpd" -port-file "$pf" >"$out/server.$1.log" 2>&1 & ;;
	esac
	server_pid=$!
	i=0
	while [ ! -s "$pf" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	port=$(cat "$pf" 2>/dev/null)
	if [ -z "$port" ]; then
		note "http.$1 did not start:"
		cat "$out/server.$1.log" >&2
		return 1
	fi
}

stop_server() {
	kill "$server_pid" 2>/dev/null
	wait "$server_pid" 2>/dev/null
}

best=0
if command -v wrk >/dev/null 2>&1; then
	for c in $configs; do
		start_server "$c" || { status=1; continue; }
		rps=$(wrk -t1 -c64 -d"${secs}s" -s "$here/mix.lua" "http://127.0.0.1:$port/" |
			awk '/^Requests\/sec:/ { printf "%.0f", $2 }')
		stop_server
		echo "PEAK http.$c rps=${rps:-0}" | result
		[ "${rps:-0}" -gt "$best" ] && best=$rps
	done
else
	note "no wrk (Debian: wrk): no PEAK lines; the open-loop rates assume 800 req/s"
	status=1
fi
[ "$best" -gt 0 ] || best=800

for c in $configs; do
	start_server "$c" || { status=1; continue; }
	for load in 0.50 0.80 0.95; do
		rate=$(awk -v b="$best" -v l="$load" 'BEGIN { printf "%.1f", b * l }')
		"$b/peers/loadgen" --port "$port" --rate "$rate" --duration "$secs" \
			--name "http.$c load=$load" --server-pid "$server_pid" \
			--lat-out "$out/http.lat" >"$out/loadgen.$c.$load.txt" || status=1
		grep '^RESULT' "$out/loadgen.$c.$load.txt" | result
		grep '^loadgen:' "$out/loadgen.$c.$load.txt" | sed 's/^/# /' >&2
	done
	stop_server
done

# ---- 3. Plots -----------------------------------------------------------------
if command -v gnuplot >/dev/null 2>&1; then
	"$here/plot.sh" "$out" "$b/peers" || status=1
else
	note "no gnuplot (Debian: gnuplot-nox): no plots"
fi
note "peers: done in $(($(date +%s) - t_start))s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
