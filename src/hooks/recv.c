/* SPDX-License-Identifier: MIT */
/*
 * recv, recvfrom, recvmsg: a worker first asks with MSG_DONTWAIT, and
 * declares a block only on EAGAIN from a socket that is not O_NONBLOCK
 * itself (there EAGAIN is the answer).  A short receive is what a blocking
 * call returns too, except with MSG_WAITALL: recv/recvfrom then receive the
 * rest as a declared block; recvmsg with MSG_WAITALL (the control data
 * cannot be split) is declared at once.
 *
 * A socket with SO_RCVTIMEO still times out as before: the declared call is
 * the real one, with the caller's flags.
 */
#include <errno.h>
#include <sys/socket.h>

#include "hook.h"

UMCG_REAL(recv);
UMCG_REAL(recvfrom);
UMCG_REAL(recvmsg);

/* After a MSG_DONTWAIT attempt gave @r: is that the caller's answer? */
static bool answered(int fd, ssize_t r)
{
	return r >= 0 || errno != EAGAIN || umcg_hook_fd_nonblocking(fd, false);
}

/* MSG_WAITALL got @r < @n bytes: the rest, blocking; the total is returned. */
static ssize_t rest(int fd, char *buf, size_t n, int flags, ssize_t r)
{
	ssize_t more;

	if (r <= 0 || (size_t)r >= n || !(flags & MSG_WAITALL) ||
	    (flags & MSG_PEEK) || umcg_hook_fd_nonblocking(fd, false))
		return r;
	more = UMCG_BLOCKING(REAL(recv)(fd, buf + r, n - (size_t)r, flags));
	return more > 0 ? r + more : r;
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	UMCG_HOOK_GUARD();
	ssize_t r;

	if (!umcg_hook_active() || (flags & MSG_DONTWAIT))
		return REAL(recv)(fd, buf, n, flags);
	r = REAL(recv)(fd, buf, n, flags | MSG_DONTWAIT);
	if (answered(fd, r))
		return rest(fd, buf, n, flags, r);
	return umcg_hook_fd_declared(fd, UMCG_BLOCKING(REAL(recv)(fd, buf, n,
								   flags)));
}

ssize_t recvfrom(int fd, void *buf, size_t n, int flags,
		 struct sockaddr *addr, socklen_t *alen)
{
	UMCG_HOOK_GUARD();
	ssize_t r;

	if (!umcg_hook_active() || (flags & MSG_DONTWAIT))
		return REAL(recvfrom)(fd, buf, n, flags, addr, alen);
	r = REAL(recvfrom)(fd, buf, n, flags | MSG_DONTWAIT, addr, alen);
	if (answered(fd, r))
		return rest(fd, buf, n, flags, r);
	return umcg_hook_fd_declared(fd, UMCG_BLOCKING(REAL(recvfrom)(fd, buf,
						n, flags, addr, alen)));
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	UMCG_HOOK_GUARD();
	ssize_t r;

	if (!umcg_hook_active() || (flags & MSG_DONTWAIT))
		return REAL(recvmsg)(fd, msg, flags);
	if (flags & MSG_WAITALL)
		return UMCG_BLOCKING(REAL(recvmsg)(fd, msg, flags));
	r = REAL(recvmsg)(fd, msg, flags | MSG_DONTWAIT);
	if (answered(fd, r))
		return r;
	return umcg_hook_fd_declared(fd, UMCG_BLOCKING(REAL(recvmsg)(fd, msg,
								      flags)));
}
