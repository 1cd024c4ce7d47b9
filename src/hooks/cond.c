/* SPDX-License-Identifier: MIT */
/*
 * pthread_cond_wait, pthread_cond_timedwait, pthread_cond_clockwait: a
 * condition wait waits by definition (only a signal that comes later can
 * end it), so a worker's wait is always declared as a block.
 *
 * libc keeps two pthread_cond_wait (and timedwait): GLIBC_2.2.5, the old
 * LinuxThreads-compatible one kept for binaries of 2002, and GLIBC_2.3.2,
 * the one every program since links.  Plain dlsym() may hand back either,
 * so the lookup asks for GLIBC_2.3.2 by name (dlvsym).  For the same
 * reason src/umcg.map exports these two under the version GLIBC_2.3.2:
 * callers that ask for that exact version (ThreadSanitizer's interceptors)
 * find ours; binaries of the 2.2.5 ABI bind to libc's old functions,
 * unhooked, as they must.
 *
 * Limits: the mutex is taken back inside libc, undeclared (it is free most
 * of the time).
 */
#include <pthread.h>

#include "hook.h"

#define COND_ABI "GLIBC_2.3.2"

UMCG_REAL_VER(pthread_cond_wait, COND_ABI, NULL);
UMCG_REAL_VER(pthread_cond_timedwait, COND_ABI, NULL);
UMCG_REAL(pthread_cond_clockwait);

int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active())
		return REAL(pthread_cond_wait)(c, m);
	return UMCG_BLOCKING(REAL(pthread_cond_wait)(c, m));
}

int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
			   const struct timespec *abs)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active())
		return REAL(pthread_cond_timedwait)(c, m, abs);
	return UMCG_BLOCKING(REAL(pthread_cond_timedwait)(c, m, abs));
}

int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m,
			   clockid_t clk, const struct timespec *abs)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active())
		return REAL(pthread_cond_clockwait)(c, m, clk, abs);
	return UMCG_BLOCKING(REAL(pthread_cond_clockwait)(c, m, clk, abs));
}
