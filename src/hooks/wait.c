/* SPDX-License-Identifier: MIT */
/*
 * wait, waitpid, waitid: a worker first asks with WNOHANG.  A child to
 * reap, or an error (ECHILD): that is the answer.  Children that have not
 * changed state yet: the real call, as a declared block.  A caller's own
 * WNOHANG goes straight through.
 *
 * waitid() with WNOHANG reports "nothing yet" as 0 with si_pid 0, so
 * si_pid is cleared before the probe; a NULL info (Linux accepts it)
 * cannot tell, and is declared at once.
 */
#include <sys/wait.h>

#include "hook.h"

UMCG_REAL(wait);
UMCG_REAL(waitpid);
UMCG_REAL(waitid);

pid_t wait(int *status)
{
	UMCG_HOOK_GUARD();
	pid_t r;

	if (!umcg_hook_active())
		return REAL(wait)(status);
	r = REAL(waitpid)(-1, status, WNOHANG);
	if (r != 0)
		return r;
	return UMCG_BLOCKING(REAL(wait)(status));
}

pid_t waitpid(pid_t pid, int *status, int opts)
{
	UMCG_HOOK_GUARD();
	pid_t r;

	if (!umcg_hook_active() || (opts & WNOHANG))
		return REAL(waitpid)(pid, status, opts);
	r = REAL(waitpid)(pid, status, opts | WNOHANG);
	if (r != 0)
		return r;
	return UMCG_BLOCKING(REAL(waitpid)(pid, status, opts));
}

int waitid(idtype_t type, id_t id, siginfo_t *info, int opts)
{
	UMCG_HOOK_GUARD();
	int r;

	if (!umcg_hook_active() || (opts & WNOHANG))
		return REAL(waitid)(type, id, info, opts);
	if (!info)
		return UMCG_BLOCKING(REAL(waitid)(type, id, info, opts));
	info->si_pid = 0;
	r = REAL(waitid)(type, id, info, opts | WNOHANG);
	if (r != 0 || info->si_pid != 0)
		return r;
	return UMCG_BLOCKING(REAL(waitid)(type, id, info, opts));
}
