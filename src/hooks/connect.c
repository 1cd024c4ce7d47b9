/* SPDX-License-Identifier: MIT */
/*
 * connect: declared as a block unless the socket is O_NONBLOCK.
 *
 * A blocking TCP connect waits a round trip (or a timeout) for the
 * handshake, and there is no way to start it without blocking and then
 * come back to the same call.  So one fcntl() decides: an O_NONBLOCK socket
 * returns at once (EINPROGRESS) and is called directly; any other connect
 * is declared, including the AF_UNIX ones that would not have waited -- a
 * futex round trip there is the price of never holding the server's CPU
 * through a handshake.
 */
#include <sys/socket.h>

#include "hook.h"

UMCG_REAL(connect);

int connect(int fd, const struct sockaddr *addr, socklen_t alen)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || umcg_hook_fd_nonblocking(fd, false))
		return REAL(connect)(fd, addr, alen);
	return umcg_hook_fd_declared(fd, UMCG_BLOCKING(REAL(connect)(fd,
					addr, alen)));
}
