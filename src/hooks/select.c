/* SPDX-License-Identifier: MIT */
/*
 * select, pselect: a worker selects once with a zero timeout; nothing
 * ready: the real call with the caller's timeout, as a declared block.
 *
 * The probe rewrites the caller's fd sets (clears every bit when nothing
 * is ready), so the sets are copied first and put back before the real
 * call: only the first nfds bits, rounded up to a word.  With nfds above
 * FD_SETSIZE (a caller's own larger sets) there is no copy to make on the
 * stack, and the call is declared at once.  Select's update of the
 * caller's timeval is the real call's.
 */
#include <string.h>
#include <sys/select.h>

#include "hook.h"

UMCG_REAL(select);
UMCG_REAL(pselect);

struct fdsets {
	fd_set r, w, e;
	size_t len;
};

static void save(struct fdsets *s, int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	size_t word = sizeof(long) * 8;

	s->len = (((size_t)nfds + word - 1) / word) * sizeof(long);
	if (r)
		memcpy(&s->r, r, s->len);
	if (w)
		memcpy(&s->w, w, s->len);
	if (e)
		memcpy(&s->e, e, s->len);
}

static void restore(const struct fdsets *s, fd_set *r, fd_set *w, fd_set *e)
{
	if (r)
		memcpy(r, &s->r, s->len);
	if (w)
		memcpy(w, &s->w, s->len);
	if (e)
		memcpy(e, &s->e, s->len);
}

int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	UMCG_HOOK_GUARD();
	struct timeval zero = { 0, 0 };
	struct fdsets s;
	int n;

	if (!umcg_hook_active() || (tv && tv->tv_sec == 0 && tv->tv_usec == 0))
		return REAL(select)(nfds, r, w, e, tv);
	if (nfds < 0 || nfds > FD_SETSIZE)
		return UMCG_BLOCKING(REAL(select)(nfds, r, w, e, tv));
	save(&s, nfds, r, w, e);
	n = REAL(select)(nfds, r, w, e, &zero);
	if (n != 0)
		return n;
	restore(&s, r, w, e);
	return UMCG_BLOCKING(REAL(select)(nfds, r, w, e, tv));
}

int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e,
	    const struct timespec *ts, const sigset_t *mask)
{
	UMCG_HOOK_GUARD();
	static const struct timespec zero;
	struct fdsets s;
	int n;

	if (!umcg_hook_active() || (ts && ts->tv_sec == 0 && ts->tv_nsec == 0))
		return REAL(pselect)(nfds, r, w, e, ts, mask);
	if (nfds < 0 || nfds > FD_SETSIZE)
		return UMCG_BLOCKING(REAL(pselect)(nfds, r, w, e, ts, mask));
	save(&s, nfds, r, w, e);
	n = REAL(pselect)(nfds, r, w, e, &zero, mask);
	if (n != 0)
		return n;
	restore(&s, r, w, e);
	return UMCG_BLOCKING(REAL(pselect)(nfds, r, w, e, ts, mask));
}
