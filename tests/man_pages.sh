#!/bin/sh
# Description: every man page renders without a groff warning, and every
# function the public headers declare has a page.
set -eu
cd "$(dirname "$0")/../man"
command -v groff >/dev/null 2>&1 || { echo "SKIP: no groff to render the man pages"; exit 77; }
bad=0
for p in man2/*.2 man3/*.3 man7/*.7; do
	out=$(groff -man -ww -z "$p" 2>&1) || { echo "$p: groff failed"; bad=1; }
	[ -z "$out" ] || { echo "$p: $out"; bad=1; }
done
for f in $(sed -n 's/^[a-z].*[ *]\(umcg_[a-z_]*\)(.*/\1/p' ../include/umcg.h ../include/umcg_sched.h | sort -u); do
	ls man*/"$f".[237] >/dev/null 2>&1 || { echo "no man page for $f"; bad=1; }
done
[ $bad -eq 0 ] && echo "man pages render cleanly and cover the API"
exit $bad
