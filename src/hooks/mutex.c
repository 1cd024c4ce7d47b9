/* SPDX-License-Identifier: MIT */
/*
 * pthread_mutex_lock, pthread_mutex_timedlock: a worker first tries the
 * lock (one CAS, the cost of the uncontended lock itself).  Any answer but
 * EBUSY is the lock's answer too (0, EOWNERDEAD, EAGAIN of a full recursive
 * count, EINVAL); EBUSY -- held, including by the caller itself, where the
 * real lock then says EDEADLK or waits forever -- means the real lock is
 * taken as a declared block, so the server can run the holder.
 *
 * The trylock is reached through RTLD_NEXT like the hooked names: a
 * sanitizer that intercepts both would otherwise see the lock taken twice.
 * pthread_mutex_lock's lookup may meet itself (an older libc's dlsym()
 * took a mutex): for that one-time case the fallbacks call
 * pthread_mutex_trylock by its link-time name and yield until it succeeds.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include "hook.h"

static int lock_fallback(pthread_mutex_t *m)
{
	int r;

	while ((r = pthread_mutex_trylock(m)) == EBUSY)
		sched_yield();
	return r;
}

static int trylock_fallback(pthread_mutex_t *m)
{
	return pthread_mutex_trylock(m);
}

UMCG_REAL_VER(pthread_mutex_lock, NULL, (void *)lock_fallback);
UMCG_REAL_VER(pthread_mutex_trylock, NULL, (void *)trylock_fallback);
UMCG_REAL(pthread_mutex_timedlock);

int pthread_mutex_lock(pthread_mutex_t *m)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!umcg_hook_active())
		return REAL(pthread_mutex_lock)(m);
	r = REAL(pthread_mutex_trylock)(m);
	if (r != EBUSY)
		return r;
	return UMCG_BLOCKING(REAL(pthread_mutex_lock)(m));
}

int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abs)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!umcg_hook_active())
		return REAL(pthread_mutex_timedlock)(m, abs);
	r = REAL(pthread_mutex_trylock)(m);
	if (r != EBUSY)
		return r;
	return UMCG_BLOCKING(REAL(pthread_mutex_timedlock)(m, abs));
}
