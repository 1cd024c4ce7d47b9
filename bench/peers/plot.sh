#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The plots of `make peers` (bench/peers/run.sh), with gnuplot:
#   plot.sh <data dir> <png dir>
# reads <data dir>/inproc.lat, http.lat ("<config> [load=<f>] <lc|batch>
# <us>" lines) and results.txt (the RESULT lines), writes
#   inproc-cdf.png     latency-critical latency CDF per in-process config
#   http-cdf.png       the same for HTTP at 80 % of the best peak
#   http-p99.png       latency-critical p99 against offered load, per server
set -eu
d=$1
png=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/umcg-plot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# One "<us> <fraction>" file per config: the empirical CDF of its lc samples.
cdf() {	# <lat file> <filter: awk condition on the config name> <prefix>
	[ -s "$1" ] || return 0
	for c in $(awk "$2"' { print $1 }' "$1" | sort -u); do
		awk -v c="$c" '$1 == c && $(NF-1) == "lc" { print $NF }' "$1" | sort -n |
			awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) print v[i], i / NR }' \
			>"$tmp/$3.$c.dat"
	done
}

plot_cdf() {	# <prefix> <title> <png>
	set -- "$1" "$2" "$3" "$(ls "$tmp/$1".*.dat 2>/dev/null || true)"
	[ -n "$4" ] || return 0
	{
		echo "set terminal pngcairo size 720,440 font ',10'"
		echo "set output '$3'"
		echo "set title '$2'"
		echo "set logscale x; set xlabel 'latency-critical latency (us, log)'"
		echo "set ylabel 'fraction of requests'; set yrange [0:1]; set key bottom right"
		printf "plot "
		sep=""
		for f in $4; do
			n=${f##*/$1.}
			printf "%s'%s' using 1:2 with lines lw 2 title '%s'" "$sep" "$f" "${n%.dat}"
			sep=", "
		done
		echo
	} | gnuplot
}

cdf "$d/inproc.lat" '1' inproc
plot_cdf inproc "In-process workload (examples/demo.c), default offered load" "$png/inproc-cdf.png"
[ -s "$d/http.lat" ] && awk '$2 == "load=0.80"' "$d/http.lat" >"$tmp/http80.lat"
cdf "$tmp/http80.lat" '1' http
plot_cdf http "HTTP at 80% of the best wrk peak (bench/peers/loadgen)" "$png/http-cdf.png"

# p99 against load: "RESULT http.<c> load=<f> ... lc_p99_us=<n> ..."
awk '$1 == "RESULT" && $3 ~ /^load=/ {
	sub("load=", "", $3)
	for (i = 4; i <= NF; i++) if ($i ~ /^lc_p99_us=/) { sub("lc_p99_us=", "", $i); p = $i }
	print $3, p > ("'"$tmp"'/p99." $2 ".dat")
}' "$d/results.txt"
files=$(ls "$tmp"/p99.*.dat 2>/dev/null || true)
if [ -n "$files" ]; then
	{
		echo "set terminal pngcairo size 720,440 font ',10'"
		echo "set output '$png/http-p99.png'"
		echo "set title 'HTTP: latency-critical p99 against offered load (open loop)'"
		echo "set xlabel 'offered load (fraction of the best wrk peak)'; set xrange [0.45:1]"
		echo "set logscale y; set ylabel 'p99 (us, log)'; set key top left"
		printf "plot "
		sep=""
		for f in $files; do
			n=${f##*/p99.}
			printf "%s'%s' using 1:2 with linespoints lw 2 pt 7 title '%s'" "$sep" "$f" "${n%.dat}"
			sep=", "
		done
		echo
	} | gnuplot
fi
ls "$png"/*.png | sed 's/^/# plot: /' >&2
