/* SPDX-License-Identifier: MIT */
/*
 * Description: a thread that exits while registered is unregistered.  A
 * worker that returns or calls pthread_exit() without UMCG_CTL_UNREGISTER
 * wakes its server, which reads NONE from the worker's task (memory that
 * outlives the thread; user bits kept); the tid is then unknown (kick:
 * ESRCH).  The same with TF_PREEMPT set, for a server thread, and for 20
 * workers under the server loop.
 */
#include <stdlib.h>

#include "t_helpers.h"

static struct t_server s;

static int plain_return(struct t_worker *w)
{
	uint32_t st = umcg_task_state(&w->task);

	/* Leave user bits and (data[0]) a pending TF_PREEMPT behind. */
	return !umcg_task_cas_state(&w->task, st, st | 0x340000u |
				    (atomic_load(&w->data[0]) ? UMCG_TF_PREEMPT : 0));
}

static int via_pthread_exit(struct t_worker *w)
{
	atomic_store(&w->data[1], 1);
	atomic_store(&w->result, 0);
	atomic_store(&w->done, 1);
	pthread_exit(NULL);
}

static int one_exit(t_worker_fn fn, int preempt, uint32_t want)
{
	struct t_worker *w;
	uint32_t st = 0;
	pid_t tid;

	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	w = t_worker_new(&s, fn, NULL);
	w->no_unregister = 1;
	atomic_store(&w->data[0], preempt);
	T_CHECK(t_worker_start(w) == 0, "start");
	T_CHECK(t_queued(&s, w),
		"not queued");
	tid = w->tid;
	T_CHECK(t_server_run_one(&s, w, &st) == 0,
		"server not woken by the worker's exit");
	/*
	 * Where detection is precise, the way out may block for real (the
	 * unwinder of pthread_exit() loads libgcc_s), and the server may look
	 * while it is BLOCKED or already RUNNABLE again: run it again.
	 */
	for (int i = 0; i < 100 && ((st & UMCG_TASK_MASK) == UMCG_TASK_BLOCKED ||
				    (st & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE);
	     i++) {
		T_CHECK(umcg_detection() != UMCG_DETECT_HOOKS,
			"exiting worker BLOCKED with hooks-only detection");
		T_CHECK(t_queued(&s, w), "blocked exiting worker not queued again");
		T_CHECK(t_server_run_one(&s, w, &st) == 0, "run again");
	}
	T_CHECK(st == want, "exited worker: state %#x, want %#x", st, want);
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");	/* joins */
	T_CHECK_ERR(umcg_kick(0, tid), ESRCH);
	T_CHECK(t_load64(&s.task.runnable_workers_ptr) == 0,
		"exited worker on the list");
	t_server_fini(&s);
	return 0;
}

static int test_return_without_unregister(void)
{
	return one_exit(plain_return, 0, 0x340000u);
}

static int test_exit_with_preempt_pending(void)
{
	return one_exit(plain_return, 1, 0x340000u);
}

static int test_pthread_exit(void)
{
	return one_exit(via_pthread_exit, 0, UMCG_TASK_NONE);
}

static atomic_int srv_tid;

static void *server_exits(void *arg)
{
	struct umcg_task *t = arg;

	umcg_task_init_server(t);
	atomic_store(&srv_tid, t_gettid());
	if (umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC) != 0)
		atomic_store(&srv_tid, -1);
	return NULL;
}

static int test_server_exits(void)
{
	struct umcg_task *t = t_task_alloc();
	pthread_t th;

	T_CHECK(pthread_create(&th, NULL, server_exits, t) == 0, "thread");
	pthread_join(th, NULL);
	T_CHECK(atomic_load(&srv_tid) > 0, "server register failed");
	T_CHECK(umcg_task_state(t) == UMCG_TASK_NONE,
		"exited server: state %#x, want NONE", umcg_task_state(t));
	T_CHECK_ERR(umcg_kick(0, atomic_load(&srv_tid)), ESRCH);
	free(t);
	return 0;
}

static int mixed(struct t_worker *w)
{
	for (int i = 0; i < w->idx % 4; i++)
		if (t_yield() != 0)
			return 1;
	if (w->idx % 3 == 0)
		t_msleep(1);
	return 0;
}

static int test_many_exits(void)
{
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	for (int i = 0; i < 20; i++)
		T_CHECK(t_worker_spawn_opt(&s, mixed, NULL, i % 2), "spawn");
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	T_CHECK(s.nexited == 20, "%d exits seen", s.nexited);
	for (int i = 0; i < 20; i++)
		T_CHECK(t_log_count(&s.log, T_EV_EXIT, i) == 1,
			"worker %d: %d exits seen", i,
			t_log_count(&s.log, T_EV_EXIT, i));
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_return_without_unregister, nfail);
	T_RUN(test_exit_with_preempt_pending, nfail);
	T_RUN(test_pthread_exit, nfail);
	T_RUN(test_server_exits, nfail);
	T_RUN(test_many_exits, nfail);
	return t_finish(nfail);
}
