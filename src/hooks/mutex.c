/* SPDX-License-Identifier: MIT */
/*
 * pthread_mutex_lock, pthread_mutex_timedlock: a worker first tries the
 * lock (one CAS, the cost of the uncontended lock itself).  Any answer but
 * EBUSY is the lock's answer too (0, EOWNERDEAD, EAGAIN of a full recursive
 * count, EINVAL); EBUSY -- held, including by the caller itself, where the
 * real lock then says EDEADLK or waits forever -- means the real lock is
 * taken as a declared block, so the server can run the holder.
 *
 * A toolkit worker that is about to wait, on either backend (on the kernel
 * backend the kernel sees the block, but only we see the mutex), first
 * says which mutex it waits for: the toolkit lends its priority to the
 * owner when the owner is a worker of the same scheduler
 * (tk_pi_pthread_wait_begin(), toolkit/pi.c), and ends the lend when the
 * wait is over.
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

/* A worker of the emul backend (declares its blocks), of a toolkit
 * scheduler on any backend (records what it waits for), or any thread
 * while a scheduler lends priorities (a plain thread may wait for a
 * worker: it lends too). */
static bool lock_watched(void)
{
	return umcg_hook_active() || tk_self ||
	       atomic_load_explicit(&tk_pi_scheds, memory_order_relaxed);
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!lock_watched())
		return REAL(pthread_mutex_lock)(m);
	r = REAL(pthread_mutex_trylock)(m);
	if (r != EBUSY)
		return r;
	tk_pi_pthread_wait_begin(m);
	if (umcg_hook_active())
		r = UMCG_BLOCKING(REAL(pthread_mutex_lock)(m));
	else
		r = REAL(pthread_mutex_lock)(m);
	tk_pi_pthread_wait_end(m);
	return r;
}

int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abs)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!lock_watched())
		return REAL(pthread_mutex_timedlock)(m, abs);
	r = REAL(pthread_mutex_trylock)(m);
	if (r != EBUSY)
		return r;
	tk_pi_pthread_wait_begin(m);
	if (umcg_hook_active())
		r = UMCG_BLOCKING(REAL(pthread_mutex_timedlock)(m, abs));
	else
		r = REAL(pthread_mutex_timedlock)(m, abs);
	tk_pi_pthread_wait_end(m);
	return r;
}
