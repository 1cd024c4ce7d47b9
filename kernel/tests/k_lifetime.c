// SPDX-License-Identifier: MIT
/*
 * Lifetime: a worker that exits without unregistering wakes its server and
 * reads NONE; fork() from a worker gives an unregistered child; execve()
 * from a worker drops the registration; unregister and exit of many workers
 * at once (racing with the server).
 */
#include "kt.h"

static void *exit_unregistered(struct kt_worker *w)
{
	(void)w;
	return (void *)1;	/* kt_worker_main: do not unregister */
}

static void *forker(struct kt_worker *w)
{
	struct umcg_task t __attribute__((aligned(64)));
	int status;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		/* The child is no UMCG task. */
		if (umcg_wait(0, 0) != -1 || errno != EINVAL)
			_exit(10);
		if (umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, &w->task, 0) != -1 ||
		    errno != EINVAL)
			_exit(11);
		if (umcg_kick(0, kt_gettid()) != -1 || errno != ESRCH)
			_exit(12);
		/* It may register as a server of its own. */
		memset(&t, 0, sizeof(t));
		t.state = UMCG_TASK_RUNNING;
		t.server_tid = (uint32_t)kt_gettid();
		if (umcg_ctl(UMCG_CTL_REGISTER, &t, CLOCK_MONOTONIC))
			_exit(13);
		_exit(0);
	}
	KT_CHECK(pid > 0);
	/* waitpid blocks: the server must get the CPU meanwhile. */
	KT_CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		KT_FAIL("forked child failed: %#x", status);
	KT_CHECK((KT_STATE(&w->task) & UMCG_TASK_MASK) == UMCG_TASK_RUNNING);
	return NULL;
}

static void *execer(struct kt_worker *w)
{
	(void)w;
	execl("/proc/self/exe", "k_lifetime", "--exec-child", (char *)NULL);
	KT_FAIL("execl: %s", strerror(errno));
}

/* A process whose worker calls execve(). */
static void exec_parent(void)
{
	struct kt_server *s = aligned_alloc(64, sizeof(*s));

	memset(s, 0, sizeof(*s));
	kt_start_workers(s, 1, execer, NULL);
	kt_server_register(s);
	kt_server_loop(s);	/* ended by the exec */
	_exit(20);
}

static void *churn(struct kt_worker *w)
{
	struct timespec ts = { 0, 100 * 1000 };

	nanosleep(&ts, NULL);
	kt_yield(&w->task);
	return w->id % 2 ? (void *)1 : NULL;	/* half exit, half unregister */
}

int main(int argc, char **argv)
{
	struct kt_server *s = aligned_alloc(64, sizeof(*s));
	struct kt_worker *w;
	int status;
	pid_t pid;

	kt_init();
	if (argc > 1 && !strcmp(argv[1], "--exec-child")) {
		/* The new image is not registered. */
		if (umcg_wait(0, 0) != -1 || errno != EINVAL)
			return 30;
		return 0;
	}
	pid = fork();
	if (pid == 0)
		exec_parent();
	KT_CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		KT_FAIL("execve from a worker: status %#x", status);

	memset(s, 0, sizeof(*s));
	w = kt_start_workers(s, 3, exit_unregistered, NULL);
	kt_server_register(s);
	kt_server_loop(s);	/* returns once all three read NONE */
	kt_join_workers(w, 3);
	for (int i = 0; i < 3; i++)
		KT_CHECK((KT_STATE(&w[i].task) & UMCG_TASK_MASK) == UMCG_TASK_NONE);

	s->nworkers = 0;
	atomic_store(&s->done, 0);
	w = kt_start_workers(s, 2, forker, NULL);
	kt_server_loop(s);
	kt_join_workers(w, 2);

	s->nworkers = 0;
	atomic_store(&s->done, 0);
	w = kt_start_workers(s, 40, churn, NULL);
	kt_server_loop(s);
	kt_join_workers(w, 40);
	KT_CHECK(umcg_ctl(UMCG_CTL_UNREGISTER, &s->task, 0) == 0);
	printf("k_lifetime: ok\n");
	return 0;
}
