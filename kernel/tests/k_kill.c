// SPDX-License-Identifier: MIT
/*
 * SIGKILL of a UMCG process with a worker in each state, and of a server
 * with queued workers: the process must die promptly (no hung task) and no
 * page may stay pinned (checked by /init: foll_pin counters in /proc/vmstat).
 */
#include "kt.h"

enum what { RUNNING_SPIN, BLOCKED_SLEEP, PARKED_WAIT, QUEUED, KILL_SERVER, NWHAT };
static const char *names[] = { "running", "blocked", "parked", "queued", "server" };
static enum what what;
static _Atomic int started;

static void *victim(struct kt_worker *w)
{
	atomic_fetch_add(&started, 1);
	switch (what) {
	case RUNNING_SPIN:
		for (;;)
			;
	case BLOCKED_SLEEP:
		for (;;)
			pause();
	case PARKED_WAIT:
		w->task.next_tid = 0;
		kt_set_state(&w->task, UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT);
		umcg_wait(0, UINT64_MAX);
		for (;;)
			pause();
	case QUEUED:
	case KILL_SERVER:
		for (;;)
			kt_yield(&w->task);
	default:
		break;
	}
	return NULL;
}

static void child(void)
{
	struct kt_server *s = aligned_alloc(64, sizeof(*s));

	memset(s, 0, sizeof(*s));
	kt_start_workers(s, what == QUEUED || what == KILL_SERVER ? 8 : 2, victim, NULL);
	kt_server_register(s);
	s->nworkers = 1000;
	kt_server_loop(s);
	_exit(1);
}

int main(void)
{
	kt_init();
	for (what = 0; what < NWHAT; what++) {
		int status;
		uint64_t t0;
		pid_t pid, r;

		pid = fork();
		if (pid == 0)
			child();
		usleep(300 * 1000);	/* let it reach the state */
		kill(pid, SIGKILL);
		t0 = kt_now();
		while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
			if (kt_now() - t0 > 20ull * 1000000000)
				KT_FAIL("%s: SIGKILLed process did not die", names[what]);
			usleep(10000);
		}
		KT_CHECK(r == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		printf("k_kill: %s: died in %llu ms\n", names[what],
		       (unsigned long long)((kt_now() - t0) / 1000000));
	}
	return 0;
}
