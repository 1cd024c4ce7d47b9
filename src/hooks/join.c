/* SPDX-License-Identifier: MIT */
/*
 * pthread_join: a worker first tries pthread_tryjoin_np().  The thread has
 * exited (0) or the call is wrong (EINVAL, ESRCH, EDEADLK): that is the
 * answer.  EBUSY (still running): the real join, as a declared block.
 *
 * A join of the caller itself goes straight to libc: it fails at once with
 * EDEADLK, while tryjoin would say EBUSY.
 *
 * tryjoin is reached through RTLD_NEXT, not called directly: a sanitizer
 * that intercepts both would otherwise count the join twice.
 */
#include <errno.h>
#include <pthread.h>

#include "hook.h"

UMCG_REAL(pthread_join);
UMCG_REAL(pthread_tryjoin_np);

int pthread_join(pthread_t t, void **ret)
{
	UMCG_HOOK_GUARD();
	int r;

	/* Joining oneself fails at once (EDEADLK) */
	if (!umcg_hook_active() || pthread_equal(t, pthread_self()))
		return REAL(pthread_join)(t, ret);
	r = REAL(pthread_tryjoin_np)(t, ret);
	if (r != EBUSY)
		return r;
	return UMCG_BLOCKING(REAL(pthread_join)(t, ret));
}
