/* SPDX-License-Identifier: MIT */
/*
 * epoll_wait, epoll_pwait: a worker waits once with a zero timeout (same
 * signal mask); no event: the real call with the caller's timeout, as a
 * declared block.  A zero timeout from the caller goes straight through.
 *
 * An event loop that finds work on most turns thus never declares a block;
 * one that sleeps pays the probe (one extra epoll_wait) on each turn.
 */
#include <signal.h>
#include <sys/epoll.h>

#include "hook.h"

UMCG_REAL(epoll_wait);
UMCG_REAL(epoll_pwait);

int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!umcg_hook_active() || timeout == 0)
		return REAL(epoll_wait)(epfd, ev, max, timeout);
	r = REAL(epoll_wait)(epfd, ev, max, 0);
	if (r != 0)
		return r;
	return UMCG_BLOCKING(REAL(epoll_wait)(epfd, ev, max, timeout));
}

int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
		const sigset_t *mask)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!umcg_hook_active() || timeout == 0)
		return REAL(epoll_pwait)(epfd, ev, max, timeout, mask);
	r = REAL(epoll_pwait)(epfd, ev, max, 0, mask);
	if (r != 0)
		return r;
	return UMCG_BLOCKING(REAL(epoll_pwait)(epfd, ev, max, timeout, mask));
}
