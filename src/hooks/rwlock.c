/* SPDX-License-Identifier: MIT */
/*
 * pthread_rwlock_rdlock, _wrlock, _timedrdlock, _timedwrlock: a worker
 * first tries the lock (tryrdlock / trywrlock); EBUSY means the real lock
 * is taken as a declared block.  Any other answer (0, EAGAIN for too many
 * readers, EINVAL) is the lock's answer too.  A caller that holds the lock
 * for writing and asks again gets EBUSY from the try and then EDEADLK from
 * the real call, as without us.
 *
 * The try functions are reached through RTLD_NEXT, not called directly: a
 * sanitizer that intercepts both would otherwise see the lock taken twice.
 */
#include <errno.h>
#include <pthread.h>

#include "hook.h"

UMCG_REAL(pthread_rwlock_rdlock);
UMCG_REAL(pthread_rwlock_wrlock);
UMCG_REAL(pthread_rwlock_timedrdlock);
UMCG_REAL(pthread_rwlock_timedwrlock);
UMCG_REAL(pthread_rwlock_tryrdlock);
UMCG_REAL(pthread_rwlock_trywrlock);

int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!umcg_hook_active())
		return REAL(pthread_rwlock_rdlock)(l);
	r = REAL(pthread_rwlock_tryrdlock)(l);
	if (r != EBUSY)
		return r;
	return UMCG_BLOCKING(REAL(pthread_rwlock_rdlock)(l));
}

int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!umcg_hook_active())
		return REAL(pthread_rwlock_wrlock)(l);
	r = REAL(pthread_rwlock_trywrlock)(l);
	if (r != EBUSY)
		return r;
	return UMCG_BLOCKING(REAL(pthread_rwlock_wrlock)(l));
}

int pthread_rwlock_timedrdlock(pthread_rwlock_t *l, const struct timespec *abs)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!umcg_hook_active())
		return REAL(pthread_rwlock_timedrdlock)(l, abs);
	r = REAL(pthread_rwlock_tryrdlock)(l);
	if (r != EBUSY)
		return r;
	return UMCG_BLOCKING(REAL(pthread_rwlock_timedrdlock)(l, abs));
}

int pthread_rwlock_timedwrlock(pthread_rwlock_t *l, const struct timespec *abs)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!umcg_hook_active())
		return REAL(pthread_rwlock_timedwrlock)(l, abs);
	r = REAL(pthread_rwlock_trywrlock)(l);
	if (r != EBUSY)
		return r;
	return UMCG_BLOCKING(REAL(pthread_rwlock_timedwrlock)(l, abs));
}
