/* SPDX-License-Identifier: MIT */
/*
 * read, pread, pread64, readv: a worker reads without blocking first
 * (RWF_NOWAIT, see rw.c) and declares a block only when the data is not
 * there yet.
 *
 * pread() with a negative offset goes straight to libc: preadv2() would
 * take -1 as "the file position" instead of failing with EINVAL.
 */
#undef _FORTIFY_SOURCE	/* we define read() itself, not a checked inline */
#include <unistd.h>
#include <sys/uio.h>

#include "hook.h"

UMCG_REAL(read);
UMCG_REAL(pread);
UMCG_REAL(pread64);
UMCG_REAL(readv);

ssize_t read(int fd, void *buf, size_t n)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || n == 0)
		return REAL(read)(fd, buf, n);
	struct iovec v = { buf, n };
	return umcg_hook_rw(fd, &v, 1, -1, UMCG_RW_READ);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || n == 0 || off < 0)
		return REAL(pread)(fd, buf, n, off);
	struct iovec v = { buf, n };
	return umcg_hook_rw(fd, &v, 1, off, UMCG_RW_READ);
}

ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || n == 0 || off < 0)
		return REAL(pread64)(fd, buf, n, off);
	struct iovec v = { buf, n };
	return umcg_hook_rw(fd, &v, 1, off, UMCG_RW_READ);
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || cnt <= 0)
		return REAL(readv)(fd, iov, cnt);
	return umcg_hook_rw(fd, iov, cnt, -1, UMCG_RW_READ);
}
