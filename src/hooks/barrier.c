/* SPDX-License-Identifier: MIT */
/*
 * pthread_barrier_wait: always declared as a block.  Every caller but the
 * last waits, and libc offers no way to ask whether one is the last; the
 * last one pays a futex round trip it did not need.
 */
#include <pthread.h>

#include "hook.h"

UMCG_REAL(pthread_barrier_wait);

int pthread_barrier_wait(pthread_barrier_t *b)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active())
		return REAL(pthread_barrier_wait)(b);
	return UMCG_BLOCKING(REAL(pthread_barrier_wait)(b));
}
