/* SPDX-License-Identifier: MIT */
/*
 * sem_wait, sem_timedwait, sem_clockwait: a worker first tries
 * sem_trywait(); EAGAIN (the count is 0) means the real wait, as a declared
 * block.  Success, or another error (EINVAL), is the answer.
 *
 * sem_trywait is reached through RTLD_NEXT, not called directly: a
 * sanitizer that intercepts both would otherwise see two acquisitions.
 */
#include <errno.h>
#include <semaphore.h>

#include "hook.h"

UMCG_REAL(sem_wait);
UMCG_REAL(sem_timedwait);
UMCG_REAL(sem_clockwait);
UMCG_REAL(sem_trywait);

/* 0 when the try took the semaphore or failed for good, else 1. */
static int must_wait(sem_t *s, int *ret)
{
	*ret = REAL(sem_trywait)(s);
	return *ret == -1 && errno == EAGAIN;
}

int sem_wait(sem_t *s)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!umcg_hook_active())
		return REAL(sem_wait)(s);
	if (!must_wait(s, &r))
		return r;
	return UMCG_BLOCKING(REAL(sem_wait)(s));
}

int sem_timedwait(sem_t *s, const struct timespec *abs)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!umcg_hook_active())
		return REAL(sem_timedwait)(s, abs);
	if (!must_wait(s, &r))
		return r;
	return UMCG_BLOCKING(REAL(sem_timedwait)(s, abs));
}

int sem_clockwait(sem_t *s, clockid_t clk, const struct timespec *abs)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!umcg_hook_active())
		return REAL(sem_clockwait)(s, clk, abs);
	if (!must_wait(s, &r))
		return r;
	return UMCG_BLOCKING(REAL(sem_clockwait)(s, clk, abs));
}
