/* SPDX-License-Identifier: MIT */
/*
 * accept, accept4: declared as a block unless the listening socket is
 * O_NONBLOCK.
 *
 * There is no per-call "don't wait" for accept (SOCK_NONBLOCK in accept4
 * is about the new socket), and a poll() probe would race with other
 * threads accepting on the same socket: the loser would then wait in
 * accept() undeclared, holding its server's CPU.  So one fcntl() decides:
 * an O_NONBLOCK listener (an event loop's) never waits and is called
 * directly; a blocking one is declared.
 */
#include <sys/socket.h>

#include "hook.h"

UMCG_REAL(accept);
UMCG_REAL(accept4);

int accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || umcg_hook_fd_nonblocking(fd, false))
		return REAL(accept)(fd, addr, alen);
	return umcg_hook_fd_declared(fd, UMCG_BLOCKING(REAL(accept)(fd,
					addr, alen)));
}

int accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || umcg_hook_fd_nonblocking(fd, false))
		return REAL(accept4)(fd, addr, alen, flags);
	return umcg_hook_fd_declared(fd, UMCG_BLOCKING(REAL(accept4)(fd,
					addr, alen, flags)));
}
