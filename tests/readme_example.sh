#!/bin/sh
# Description: the README's example is examples/hello.c, byte for byte, and it runs.
set -eu
cd "$(dirname "$0")/.."
tail -n +3 examples/hello.c > "${TMPDIR:-/tmp}/umcg-hello.$$"
awk '/^```c$/{f=1;next} /^```$/{if(f){exit}} f' README.md | cmp -s - "${TMPDIR:-/tmp}/umcg-hello.$$" || {
	rm -f "${TMPDIR:-/tmp}/umcg-hello.$$"
	echo "README example and examples/hello.c differ"; exit 1; }
rm -f "${TMPDIR:-/tmp}/umcg-hello.$$"
echo "README example matches examples/hello.c"
