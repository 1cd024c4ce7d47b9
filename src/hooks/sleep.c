/* SPDX-License-Identifier: MIT */
/*
 * nanosleep, clock_nanosleep, usleep, sleep: a sleep blocks by definition,
 * so a worker's sleep is declared at once -- except a zero duration, an
 * absolute deadline that has passed (one vDSO clock read tells), or an
 * invalid request: those return at once and go straight through.
 *
 * libc's sleep() and usleep() call its internal nanosleep, which we do not
 * see; that is why they are hooked themselves.
 */
#include <time.h>
#include <unistd.h>

#include "hook.h"

UMCG_REAL(nanosleep);
UMCG_REAL(clock_nanosleep);
UMCG_REAL(usleep);
UMCG_REAL(sleep);

/* Does sleeping for @ts return at once (zero, negative or invalid)? */
static bool instant(const struct timespec *ts)
{
	return !ts || ts->tv_sec < 0 || ts->tv_nsec < 0 ||
	       ts->tv_nsec >= 1000000000L ||
	       (ts->tv_sec == 0 && ts->tv_nsec == 0);
}

static bool passed(clockid_t clk, const struct timespec *ts)
{
	struct timespec now;

	if (clock_gettime(clk, &now) != 0)
		return true;	/* a bad clock: the real call fails at once */
	return now.tv_sec > ts->tv_sec ||
	       (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || instant(req))
		return REAL(nanosleep)(req, rem);
	return UMCG_BLOCKING(REAL(nanosleep)(req, rem));
}

int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
		    struct timespec *rem)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || instant(req) ||
	    ((flags & TIMER_ABSTIME) && passed(clk, req)))
		return REAL(clock_nanosleep)(clk, flags, req, rem);
	return UMCG_BLOCKING(REAL(clock_nanosleep)(clk, flags, req, rem));
}

int usleep(useconds_t us)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || us == 0)
		return REAL(usleep)(us);
	return UMCG_BLOCKING(REAL(usleep)(us));
}

unsigned int sleep(unsigned int s)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active() || s == 0)
		return REAL(sleep)(s);
	return UMCG_BLOCKING(REAL(sleep)(s));
}
