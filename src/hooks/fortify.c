/* SPDX-License-Identifier: MIT */
/*
 * The _FORTIFY_SOURCE entry points: __read_chk, __pread_chk,
 * __pread64_chk, __recv_chk, __recvfrom_chk, __poll_chk, __ppoll_chk.
 *
 * A program built with -D_FORTIFY_SOURCE (every Debian package is) calls
 * these instead of read(), recv() or poll() wherever the compiler knows the
 * buffer's size, so an unmodified binary under LD_PRELOAD would go round
 * the hooks.  Each one does glibc's size check by handing a bad call to the
 * real function (which reports the overflow and aborts), and otherwise runs
 * the hooked call.
 */
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hook.h"

UMCG_REAL(__read_chk);
UMCG_REAL(__pread_chk);
UMCG_REAL(__pread64_chk);
UMCG_REAL(__recv_chk);
UMCG_REAL(__recvfrom_chk);
UMCG_REAL(__poll_chk);
UMCG_REAL(__ppoll_chk);

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || n > buflen)
		return REAL(__read_chk)(fd, buf, n, buflen);
	return read(fd, buf, n);
}

ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || n > buflen)
		return REAL(__pread_chk)(fd, buf, n, off, buflen);
	return pread(fd, buf, n, off);
}

ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || n > buflen)
		return REAL(__pread64_chk)(fd, buf, n, off, buflen);
	return pread(fd, buf, n, off);
}

ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || n > buflen)
		return REAL(__recv_chk)(fd, buf, n, buflen, flags);
	return recv(fd, buf, n, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *alen)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || n > buflen)
		return REAL(__recvfrom_chk)(fd, buf, n, buflen, flags, addr,
					    alen);
	return recvfrom(fd, buf, n, flags, addr, alen);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || fdslen / sizeof(*fds) < n)
		return REAL(__poll_chk)(fds, n, timeout, fdslen);
	return poll(fds, n, timeout);
}

int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		const sigset_t *mask, size_t fdslen)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || fdslen / sizeof(*fds) < n)
		return REAL(__ppoll_chk)(fds, n, ts, mask, fdslen);
	return ppoll(fds, n, ts, mask);
}
