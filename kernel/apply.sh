#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Apply the UMCG series to an unpacked linux-source-6.12 tree:
#
#   kernel/apply.sh [--copy-only] <linux-tree>
#
# 1. copies the new files of kernel/src/ into the tree (kernel/sched/umcg.c,
#    include/linux/umcg.h), and the project's uapi header
#    include/linux/umcg.h as include/uapi/linux/umcg.h (one file, not a fork);
#    with --copy-only, only this (refresh a tree the patches are applied to);
# 2. applies kernel/patches/*.patch in order with patch -p1 (fuzz allowed, so
#    that a newer 6.12.y from the security archive still takes it).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
copy_only=0
if [ "${1:-}" = "--copy-only" ]; then
	copy_only=1
	shift
fi
tree=${1:?usage: $0 [--copy-only] <linux-tree>}

[ -f "$tree/Makefile" ] && [ -d "$tree/kernel/sched" ] || {
	echo "$0: $tree is not a kernel tree" >&2
	exit 2
}

# Copy only what differs, so that make rebuilds only what changed.
put() {
	cmp -s "$1" "$2" || { mkdir -p "$(dirname "$2")" && cp "$1" "$2"; }
}
(cd "$here/src" && find . -type f) | while read -r f; do
	put "$here/src/$f" "$tree/$f"
done
put "$repo/include/linux/umcg.h" "$tree/include/uapi/linux/umcg.h"
[ $copy_only = 1 ] && exit 0

for p in "$here"/patches/*.patch; do
	echo "applying $(basename "$p")"
	patch -d "$tree" -p1 --forward --fuzz=3 --no-backup-if-mismatch -s <"$p"
done
