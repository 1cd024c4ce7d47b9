#!/bin/sh
# Description: every repository path and every `make` target named in the
# docs, the READMEs, the man pages and the sources' comments exists.
#
# Nothing may point outside the repository (see "outside" below).
# A path is a word that starts with a top-level folder of the repository
# (src/, docs/, tests/, ...).  It may be written from the repository's
# root or from the naming file's folder; a program may be named without
# its ".c" or ".sh"; a word with a "*" must match a file.  Not checked:
# build outputs (kernel/build/), paths of the Linux tree (include/uapi/,
# and include/ or kernel/ paths named by the files of kernel/, which
# describe the tree the series applies to), and CHANGELOG.md (history).
# In code (C, shell, Makefile) only comments count.  A make target is
# checked where it is quoted (`make check`) or a command line of a
# document starts with it.
set -eu
cd "$(dirname "$0")/.."
command -v git >/dev/null 2>&1 && [ -d .git ] || [ -f .git ] ||
	{ echo "SKIP: not a git checkout, no list of the repository's files"; exit 77; }

tops='src|docs|tests|bench|examples|toolkit|include|man|kernel|\.ci'
bad=0

exists() {	# $1: the path as written, $2: the folder of the naming file
	case $1 in
	kernel/build*|include/uapi/*) return 0 ;;
	esac
	case $2/ in
	kernel/*) case $1 in include/*|kernel/*) return 0 ;; esac ;;
	esac
	for base in . "$2"; do
		# the glob is the point
		for m in $base/$1 $base/$1.c $base/$1.sh; do
			[ -e "$m" ] && return 0
		done
	done
	return 1
}

# The text to look at: a document whole, code only in its comments.
text_of() {
	case $1 in
	*.md|man/*|README*) cat "$1" ;;
	*.c|*.h|*.map) sed -n -E 's,^.*(/\*|//),,p; s,^[[:space:]]+\*( |$),,p' "$1" ;;
	*) sed -n -E 's,^[[:space:]]*#+,,p' "$1" ;;
	esac
}

files=$(git ls-files 'README*' 'docs/*' 'man/*' 'kernel/README*' 'kernel/*.sh' \
	'kernel/tests/*' 'Makefile' '.ci/*' '*.c' '*.h' '*.sh' '*.map' |
	grep -v '^kernel/src/' | sort -u)

for f in $files; do
	dir=$(dirname "$f")
	refs=$(text_of "$f" |
	       grep -oE "(^|[^A-Za-z0-9_./$-])(\.\./)*($tops)/[A-Za-z0-9_./*+-]*" |
	       sed -E 's,^[^.a-z],,; s,[.,:)]+$,,' | sort -u) || true
	for r in $refs; do
		exists "$r" "$dir" || { echo "$f: no $r"; bad=1; }
	done
	outside=$(text_of "$f" |
		  grep -oE '(^|[^A-Za-z0-9_.-])(\.\./)*(shared/|/work/)[A-Za-z0-9_./-]*' |
		  sed -E 's,^[^./a-z],,' | sort -u) || true
	for o in $outside; do
		echo "$f: $o is outside the repository"
		bad=1
	done
	targets=$(text_of "$f" |
		  grep -oE '(`|^[[:space:]]*(\$ )?)make( [A-Z_]+=[^ `]*)* [a-z][a-z0-9-]*' |
		  sed -E 's,.* ,,' | sort -u) || true
	for t in $targets; do
		grep -qE "^$t:|^\.PHONY:.* $t( |$)" Makefile ||
			{ echo "$f: make $t: no such target"; bad=1; }
	done
done
[ $bad -eq 0 ] && echo "every path and make target named in docs and comments exists"
exit $bad
