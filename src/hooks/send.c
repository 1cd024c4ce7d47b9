/* SPDX-License-Identifier: MIT */
/*
 * send, sendto, sendmsg: a worker first sends with MSG_DONTWAIT.  All sent:
 * done, no block.  EAGAIN (no room) on a socket that is not O_NONBLOCK: the
 * call is made again as a declared block.  A short send on such a socket
 * (a stream socket with room for part): a blocking send would have sent
 * everything, so the rest is sent as a declared block -- without the
 * ancillary data and address, which went with the first part.
 *
 * Datagram sockets send all or nothing, so they never take the short path.
 */
#include <errno.h>
#include <sys/socket.h>

#include "hook.h"

UMCG_REAL(send);
UMCG_REAL(sendto);
UMCG_REAL(sendmsg);

/* After a MSG_DONTWAIT attempt gave @r: is that the caller's answer? */
static bool answered(int fd, ssize_t r)
{
	return r >= 0 || errno != EAGAIN || umcg_hook_fd_nonblocking(fd, false);
}

/*
 * @done of the bytes in @iov went already; send the rest, blocking, as one
 * declared block.  Returns the total (the bytes sent, if an error stops us).
 */
static ssize_t send_rest(int fd, const struct iovec *iov, size_t cnt,
			 int flags, size_t done)
{
	size_t total = done;

	if (umcg_hook_fd_nonblocking(fd, false))
		return (ssize_t)total;
	umcg_sys_enter();
	for (;;) {
		while (cnt > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt == 0)
			break;
		struct iovec head = { (char *)iov->iov_base + done,
				      iov->iov_len - done };
		struct msghdr m = {
			.msg_iov = done ? &head : (struct iovec *)iov,
			.msg_iovlen = done ? 1 : cnt,
		};
		ssize_t r = REAL(sendmsg)(fd, &m, flags);
		if (r <= 0)
			break;
		total += (size_t)r;
		done += (size_t)r;
	}
	umcg_sys_exit();
	return (ssize_t)total;
}

static size_t iov_total(const struct iovec *iov, size_t cnt)
{
	size_t n = 0;

	for (size_t i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	UMCG_HOOK_GUARD();
	ssize_t r;

	if (!umcg_hook_active() || (flags & MSG_DONTWAIT))
		return REAL(send)(fd, buf, n, flags);
	r = REAL(send)(fd, buf, n, flags | MSG_DONTWAIT);
	if (!answered(fd, r))
		return UMCG_BLOCKING(REAL(send)(fd, buf, n, flags));
	if (r > 0 && (size_t)r < n) {
		struct iovec v = { (void *)buf, n };
		return send_rest(fd, &v, 1, flags, (size_t)r);
	}
	return r;
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags,
	       const struct sockaddr *addr, socklen_t alen)
{
	UMCG_HOOK_GUARD();
	ssize_t r;

	if (!umcg_hook_active() || (flags & MSG_DONTWAIT))
		return REAL(sendto)(fd, buf, n, flags, addr, alen);
	r = REAL(sendto)(fd, buf, n, flags | MSG_DONTWAIT, addr, alen);
	if (!answered(fd, r))
		return UMCG_BLOCKING(REAL(sendto)(fd, buf, n, flags, addr,
						  alen));
	if (r > 0 && (size_t)r < n) {
		struct iovec v = { (void *)buf, n };
		return send_rest(fd, &v, 1, flags, (size_t)r);
	}
	return r;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	UMCG_HOOK_GUARD();
	ssize_t r;

	if (!umcg_hook_active() || (flags & MSG_DONTWAIT))
		return REAL(sendmsg)(fd, msg, flags);
	r = REAL(sendmsg)(fd, msg, flags | MSG_DONTWAIT);
	if (!answered(fd, r))
		return UMCG_BLOCKING(REAL(sendmsg)(fd, msg, flags));
	if (r > 0 && (size_t)r < iov_total(msg->msg_iov, msg->msg_iovlen))
		return send_rest(fd, msg->msg_iov, msg->msg_iovlen, flags,
				 (size_t)r);
	return r;
}
