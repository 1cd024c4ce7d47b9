/* SPDX-License-Identifier: MIT */
/*
 * close: never a block, but the end of an fd number's life.
 *
 * rw.c remembers which fds were seen with O_NONBLOCK clear.  When a number
 * is closed and reused for a non-blocking socket, a stale "blocking" bit
 * would make the first EAGAIN cost a declared block; forgetting the number
 * here keeps that to the fds libc closes internally, where no hook sees it.
 * Runs in every thread (the fd may be used by a worker later): one atomic
 * load when the bit is clear.
 */
#include <unistd.h>

#include "hook.h"

UMCG_REAL(close);

int close(int fd)
{
	umcg_hook_fd_forget(fd);
	return REAL(close)(fd);
}
