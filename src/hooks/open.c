/* SPDX-License-Identifier: MIT */
/*
 * open, open64, openat, openat64: declared as a block only when the path
 * names a FIFO or a character device.
 *
 * An open cannot be tried without blocking and then redone: O_NONBLOCK
 * changes what it does (a FIFO opened for writing with no reader fails with
 * ENXIO instead of waiting) and O_CREAT|O_EXCL cannot be repeated.  What
 * waits in open is, in practice: a FIFO (until the other end is opened), a
 * terminal or other device (carrier, hardware).  One fstatat() on the path
 * tells; regular files, directories and new files are opened directly.
 * O_NONBLOCK and O_PATH opens never wait and go straight through.
 *
 * The mode argument is read only when the flags say it is there (O_CREAT,
 * O_TMPFILE), as libc does.
 *
 * Limits: a path walk that reads a cold disk, or an open on NFS or FUSE,
 * runs undeclared (the server's CPU waits with it); the fstatat() adds one
 * path walk to each open in a worker.  Between the fstatat() and the open
 * the path may change: that only makes the choice wrong, not the result.
 */
#undef _FORTIFY_SOURCE	/* we define open() itself, not a checked inline */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "hook.h"

#ifndef __OPEN_NEEDS_MODE
#define __OPEN_NEEDS_MODE(fl) \
	(((fl) & O_CREAT) != 0 || ((fl) & O_TMPFILE) == O_TMPFILE)
#endif

UMCG_REAL(open);
UMCG_REAL(open64);
UMCG_REAL(openat);
UMCG_REAL(openat64);

/* Might opening @path (relative to @dirfd) with @flags wait? */
static bool may_wait(int dirfd, const char *path, int flags)
{
	struct stat st;
	int saved = errno;
	bool wait;

	if (flags & (O_NONBLOCK | O_PATH))
		return false;
	wait = fstatat(dirfd, path, &st, 0) == 0 &&
	       (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode));
	errno = saved;
	return wait;
}

#define MODE_ARG(flags, mode) do {					\
	if (__OPEN_NEEDS_MODE(flags)) {					\
		va_list ap;						\
		va_start(ap, flags);					\
		mode = va_arg(ap, mode_t);				\
		va_end(ap);						\
	}								\
} while (0)

int open(const char *path, int flags, ...)
{
	UMCG_HOOK_GUARD();
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	if (!umcg_hook_active() || !may_wait(AT_FDCWD, path, flags))
		return REAL(open)(path, flags, mode);
	return UMCG_BLOCKING(REAL(open)(path, flags, mode));
}

int open64(const char *path, int flags, ...)
{
	UMCG_HOOK_GUARD();
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	if (!umcg_hook_active() || !may_wait(AT_FDCWD, path, flags))
		return REAL(open64)(path, flags, mode);
	return UMCG_BLOCKING(REAL(open64)(path, flags, mode));
}

int openat(int dirfd, const char *path, int flags, ...)
{
	UMCG_HOOK_GUARD();
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	if (!umcg_hook_active() || !may_wait(dirfd, path, flags))
		return REAL(openat)(dirfd, path, flags, mode);
	return UMCG_BLOCKING(REAL(openat)(dirfd, path, flags, mode));
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	UMCG_HOOK_GUARD();
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	if (!umcg_hook_active() || !may_wait(dirfd, path, flags))
		return REAL(openat64)(dirfd, path, flags, mode);
	return UMCG_BLOCKING(REAL(openat64)(dirfd, path, flags, mode));
}
