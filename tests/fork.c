/* SPDX-License-Identifier: MIT */
/*
 * Description: registration does not cross fork() or execve().  The child
 * of a registered server, or of a registered worker, is not registered
 * (umcg_wait: EINVAL, unregister of its copy: EINVAL, its copy of the task
 * memory left as it was) and its blocking calls work as plain calls; it
 * may register itself and run a server and a worker of its own.  The
 * parent worker's waitpid() blocks like any call.  A registered thread
 * that calls execve() starts the new image unregistered.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_helpers.h"

#ifdef T_TSAN
/*
 * The child of a multi-threaded parent starts threads (its own server and
 * worker).  TSan refuses that by default; allowed, the case runs under
 * TSan too instead of being left out.  TSAN_OPTIONS still override.
 */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "die_after_fork=0";
}
#endif

static struct t_server s;
static const char *self_exe;

/* In a child: nothing is registered, and the copy is untouched. */
static int child_checks(void *arg)
{
	struct umcg_task *copy = arg;
	uint32_t st = umcg_task_state(copy);

	if (umcg_wait(0, 0) != -1 || errno != EINVAL) {
		fprintf(stderr, "child: umcg_wait: errno %d, want EINVAL\n", errno);
		return 1;
	}
	if (umcg_ctl(UMCG_CTL_UNREGISTER, copy, 0) != -1 || errno != EINVAL) {
		fprintf(stderr, "child: unregister its copy: errno %d\n", errno);
		return 2;
	}
	if (umcg_task_state(copy) != st) {
		fprintf(stderr, "child: its copy changed %#x -> %#x\n", st,
			umcg_task_state(copy));
		return 3;
	}
	if (umcg_kick(0, t_gettid()) != -1 || errno != ESRCH) {
		fprintf(stderr, "child: kick itself: errno %d, want ESRCH\n", errno);
		return 4;
	}
	t_msleep(1);		/* a plain sleep: not a worker */
	return 0;
}

static int child_registers(void *arg)
{
	struct umcg_task *copy = arg;
	int r = child_checks(arg);

	if (r)
		return r;
	umcg_task_init_server(copy);	/* its own tid now */
	if (umcg_ctl(UMCG_CTL_REGISTER, copy, CLOCK_MONOTONIC) != 0) {
		fprintf(stderr, "child: register: %s\n", strerror(errno));
		return 5;
	}
	if (umcg_ctl(UMCG_CTL_UNREGISTER, copy, 0) != 0) {
		fprintf(stderr, "child: unregister: %s\n", strerror(errno));
		return 6;
	}
	return 0;
}

static int test_child_of_server(void)
{
	int r;

	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	T_CHECK(umcg_task_state(&s.task) == UMCG_TASK_RUNNING, "state");
	r = t_fork_run(child_registers, &s.task);
	T_CHECK(r == 0, "child failed with %d", r);
	/* The parent is still a server. */
	T_CHECK_OK(umcg_kick(0, s.tid));
	t_server_fini(&s);
	return 0;
}

/* ---- a whole server + worker in the child ---- */

static int child_worker(struct t_worker *w)
{
	(void)w;
	if (t_yield() != 0)
		return 1;
	t_msleep(2);
	return t_yield() != 0;
}

static int child_scenario(void *arg)
{
	struct t_server *cs = aligned_alloc(64, sizeof(*cs));

	(void)arg;
	if (!cs || t_server_init(cs, 1, CLOCK_MONOTONIC) != 0)
		return 10;
	if (!t_worker_spawn(cs, child_worker, NULL) ||
	    !t_worker_spawn(cs, child_worker, NULL))
		return 11;
	if (t_server_run(cs) != 0)
		return 12;
	if (t_workers_failed(cs) != 0)
		return 13;
	t_server_fini(cs);
	free(cs);
	return 0;
}

static int test_child_runs_its_own(void)
{
	int r;

	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	r = t_fork_run(child_scenario, NULL);
	T_CHECK(r == 0, "child scenario failed with %d", r);
	t_server_fini(&s);
	return 0;
}

/* ---- fork from a worker ---- */

static int forking_worker(struct t_worker *w)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0)
		_exit(child_checks(&w->task));
	if (pid < 0)
		return 1;
	if (waitpid(pid, &status, 0) != pid) {
		fprintf(stderr, "worker: waitpid: %s\n", strerror(errno));
		return 1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "worker: child status %#x\n", status);
		return 1;
	}
	return t_worker_check();
}

static int test_child_of_worker(void)
{
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	T_CHECK(t_worker_spawn(&s, forking_worker, NULL), "spawn");
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

/* ---- execve() drops the registration ---- */

static int exec_registered(void *arg)
{
	struct umcg_task *t = t_task_alloc();
	char *argv[] = { (char *)self_exe, "--exec-child", NULL };

	(void)arg;
	umcg_task_init_server(t);
	if (umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC) != 0)
		return 20;
	execv("/proc/self/exe", argv);
	return 21;
}

static int exec_child_main(void)
{
	if (umcg_wait(0, 0) != -1 || errno != EINVAL) {
		fprintf(stderr, "exec child: umcg_wait: errno %d, want EINVAL\n",
			errno);
		return 1;
	}
	if (umcg_kick(0, t_gettid()) != -1 || errno != ESRCH) {
		fprintf(stderr, "exec child: kick itself: errno %d\n", errno);
		return 1;
	}
	return 0;
}

static int test_exec_drops_registration(void)
{
	int r = t_fork_run(exec_registered, NULL);

	T_CHECK(r == 0, "exec'ed child failed with %d", r);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	if (argc > 1 && strcmp(argv[1], "--exec-child") == 0)
		return exec_child_main();
	self_exe = argv[0];
	t_init(argv[0], 60);
	T_RUN(test_child_of_server, nfail);
	T_RUN(test_child_runs_its_own, nfail);
	T_RUN(test_child_of_worker, nfail);
	T_RUN(test_exec_drops_registration, nfail);
	return t_finish(nfail);
}
