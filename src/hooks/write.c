/* SPDX-License-Identifier: MIT */
/*
 * write, pwrite, pwrite64, writev: a worker writes without blocking first
 * (RWF_NOWAIT, see rw.c) and declares a block only when there is no room
 * (a full pipe or socket buffer) or the file cannot say (EOPNOTSUPP, as for
 * buffered writes on ext4 and tmpfs).
 *
 * pwrite() with a negative offset goes straight to libc: pwritev2() would
 * take -1 as "the file position" instead of failing with EINVAL.
 */
#undef _FORTIFY_SOURCE	/* we define write() itself, not a checked inline */
#include <unistd.h>
#include <sys/uio.h>

#include "hook.h"

UMCG_REAL(write);
UMCG_REAL(pwrite);
UMCG_REAL(pwrite64);
UMCG_REAL(writev);

ssize_t write(int fd, const void *buf, size_t n)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || n == 0)
		return REAL(write)(fd, buf, n);
	struct iovec v = { (void *)buf, n };
	return umcg_hook_rw(fd, &v, 1, -1, UMCG_RW_WRITE);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || n == 0 || off < 0)
		return REAL(pwrite)(fd, buf, n, off);
	struct iovec v = { (void *)buf, n };
	return umcg_hook_rw(fd, &v, 1, off, UMCG_RW_WRITE);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || n == 0 || off < 0)
		return REAL(pwrite64)(fd, buf, n, off);
	struct iovec v = { (void *)buf, n };
	return umcg_hook_rw(fd, &v, 1, off, UMCG_RW_WRITE);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || cnt <= 0)
		return REAL(writev)(fd, iov, cnt);
	return umcg_hook_rw(fd, iov, cnt, -1, UMCG_RW_WRITE);
}
