/* SPDX-License-Identifier: MIT */
/*
 * poll, ppoll: a worker polls once with a zero timeout (same fds, same
 * signal mask).  Something ready, or an error: that is the answer and no
 * block is declared.  Nothing ready: the real call, with the caller's
 * timeout, as a declared block.  A zero timeout from the caller goes
 * straight through.
 *
 * The probe does not sleep, so the caller's timeout is not shortened: it
 * runs from the start of the declared call (a microsecond later).  A
 * zero-timeout poll is also cheaper in the kernel than one that may sleep,
 * which makes a ready poll faster through the hook than without it.
 */
#include <poll.h>
#include <signal.h>

#include "hook.h"

UMCG_REAL(poll);
UMCG_REAL(ppoll);

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!umcg_hook_active() || timeout == 0)
		return REAL(poll)(fds, n, timeout);
	r = REAL(poll)(fds, n, 0);
	if (r != 0)
		return r;
	return UMCG_BLOCKING(REAL(poll)(fds, n, timeout));
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
	  const sigset_t *mask)
{
	UMCG_HOOK_GUARD();
	static const struct timespec zero;
	int r;

	if (!umcg_hook_active() || (ts && ts->tv_sec == 0 && ts->tv_nsec == 0))
		return REAL(ppoll)(fds, n, ts, mask);
	r = REAL(ppoll)(fds, n, &zero, mask);
	if (r != 0)
		return r;
	return UMCG_BLOCKING(REAL(ppoll)(fds, n, ts, mask));
}
