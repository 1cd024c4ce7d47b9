/* SPDX-License-Identifier: MIT */
/*
 * Description: umcg_kick() errors in order (flags: EINVAL, before the tid
 * check; tid not a registered task of this process: ESRCH), and kicks
 * without UMCG_TF_PREEMPT, which change nothing: a RUNNING worker keeps
 * running and is not queued, a BLOCKED worker stays blocked, a parked
 * worker stays parked and unqueued, a queued worker stays RUNNABLE on its
 * server's list.  (Kicking a server: wait_server.c;
 * preemption: preempt.c.)
 */
#include <stdlib.h>
#include <unistd.h>

#include "t_helpers.h"

#define BOGUS_TID 0x3ffffff0

static struct t_server s;

static int test_flags(void)
{
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	T_CHECK_ERR(umcg_kick(1, s.tid), EINVAL);
	T_CHECK_ERR(umcg_kick(UMCG_TF_PREEMPT, s.tid), EINVAL);
	T_CHECK_ERR(umcg_kick(0x80000000u, s.tid), EINVAL);
	/* Flags before the tid. */
	T_CHECK_ERR(umcg_kick(1, BOGUS_TID), EINVAL);
	T_CHECK_ERR(umcg_kick(1, 0), EINVAL);
	T_CHECK(umcg_task_state(&s.task) == UMCG_TASK_RUNNING, "state %#x",
		umcg_task_state(&s.task));
	T_CHECK_OK(umcg_kick(0, s.tid));
	t_server_fini(&s);
	return 0;
}

static int test_esrch(void)
{
	int done_fd = -1;
	pid_t other = t_foreign_server(&done_fd);

	T_CHECK(other > 0, "no server in a child process");
	T_CHECK_ERR(umcg_kick(0, BOGUS_TID), ESRCH);
	T_CHECK_ERR(umcg_kick(0, 0), ESRCH);
	T_CHECK_ERR(umcg_kick(0, -1), ESRCH);
	T_CHECK_ERR(umcg_kick(0, t_gettid()), ESRCH);	/* not registered */
	T_CHECK_ERR(umcg_kick(0, getpid()), ESRCH);
	T_CHECK_ERR(umcg_kick(0, other), ESRCH);	/* another process */
	T_CHECK(t_foreign_server_end(other, done_fd) == 0, "child server failed");
	/* After unregistering, our own tid is unknown again. */
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	T_CHECK_OK(umcg_kick(0, s.tid));
	T_CHECK_OK(umcg_ctl(UMCG_CTL_UNREGISTER, &s.task, 0));
	T_CHECK_ERR(umcg_kick(0, s.tid), ESRCH);
	t_server_fini(&s);
	return 0;
}

/* ---- kicks without TF_PREEMPT ---- */

static atomic_int go, kicked;

static void *kicker(void *arg)
{
	struct t_worker *w = arg;

	while (t_state(&w->task) != UMCG_TASK_RUNNING)
		;
	atomic_store(&kicked, umcg_kick(0, atomic_load(&w->tid)) ? -errno : 1);
	atomic_store(&go, 1);
	return NULL;
}

static int spin_then_yield(struct t_worker *w)
{
	uint32_t st;

	while (!atomic_load(&go))
		;
	t_spin(200000);		/* room for an asynchronous kick */
	st = umcg_task_state(&w->task);
	if (st != UMCG_TASK_RUNNING) {
		fprintf(stderr, "worker: state %#x after a plain kick\n", st);
		return 1;
	}
	atomic_store(&w->data[0], 1);
	return t_yield() != 0;
}

static int test_running_worker_unchanged(void)
{
	struct t_worker *w;
	pthread_t th;
	uint32_t st = 0;

	atomic_store(&go, 0);
	w = t_setup_queued(&s, spin_then_yield, NULL);
	T_CHECK(w, "setup");
	T_CHECK(pthread_create(&th, NULL, kicker, w) == 0, "thread");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	pthread_join(th, NULL);
	T_CHECK(atomic_load(&kicked) == 1, "umcg_kick: %d", atomic_load(&kicked));
	T_CHECK(st == UMCG_TASK_RUNNABLE, "state %#x", st);
	T_CHECK(atomic_load(&w->data[0]) == 1,
		"the worker stopped running before its own yield (a plain kick preempted it)");
	T_CHECK(t_queued(&s, w),
		"yielded worker not queued");
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE),
		"worker did not finish");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

static int pipe_fds[2];

static int reader(struct t_worker *w)
{
	char c;

	(void)w;
	return read(pipe_fds[0], &c, 1) != 1;
}

static int test_blocked_worker_unchanged(void)
{
	struct t_worker *w;
	uint32_t st = 0;
	char b[64];

	T_CHECK(pipe(pipe_fds) == 0, "pipe");
	w = t_setup_queued(&s, reader, NULL);
	T_CHECK(w, "setup");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	T_CHECK((st & UMCG_TASK_MASK) == UMCG_TASK_BLOCKED, "state %s",
		t_state_str(st, b));
	T_CHECK_OK(umcg_kick(0, w->tid));
	t_msleep(20);
	st = umcg_task_state(&w->task);
	T_CHECK(st == UMCG_TASK_BLOCKED, "kicked BLOCKED worker: state %s",
		t_state_str(st, b));
	T_CHECK(t_load64(&s.task.runnable_workers_ptr) == 0,
		"kicked BLOCKED worker was queued");
	T_CHECK(write(pipe_fds[1], "x", 1) == 1, "write");
	T_CHECK(t_queued(&s, w),
		"woken worker not queued");
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE),
		"worker did not finish");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	return 0;
}

static int parker(struct t_worker *w)
{
	int r = t_park(T_FOREVER);

	atomic_store(&w->data[0], r);
	return r != 0;
}

static int test_parked_worker_unchanged(void)
{
	struct t_worker *w;
	uint32_t st = 0;
	char b[64];

	w = t_setup_queued(&s, parker, NULL);
	T_CHECK(w, "setup");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	T_CHECK(st == UMCG_TASK_RUNNABLE, "state %s", t_state_str(st, b));
	T_CHECK_OK(umcg_kick(0, w->tid));
	T_CHECK(t_server_stays_idle(&s, 100 * T_MS),
		"a kicked parked worker was queued");
	st = umcg_task_state(&w->task);
	T_CHECK(st == UMCG_TASK_RUNNABLE, "kicked parked worker: state %s",
		t_state_str(st, b));
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE),
		"worker did not finish");
	T_CHECK(atomic_load(&w->data[0]) == 0, "park returned %ld",
		atomic_load(&w->data[0]));
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

static int quick(struct t_worker *w)
{
	(void)w;
	return 0;
}

static int test_queued_worker_unchanged(void)
{
	struct t_worker *w;
	uint32_t st;
	char b[64];

	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	w = t_worker_spawn(&s, quick, NULL);
	T_CHECK(w && t_listed(&s, w), "new worker not queued");
	T_CHECK_OK(umcg_kick(0, w->tid));
	t_msleep(20);
	st = umcg_task_state(&w->task);
	T_CHECK(st == UMCG_TASK_RUNNABLE, "kicked queued worker: state %s",
		t_state_str(st, b));
	T_CHECK(t_load64(&s.task.runnable_workers_ptr) == (uintptr_t)&w->task &&
		!umcg_runnable_next(&w->task),
		"kicked queued worker left the list or was pushed again");
	T_CHECK(t_queued(&s, w), "queued worker not on the list alone");
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE), "worker did not finish");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_flags, nfail);
	T_RUN(test_esrch, nfail);
	T_RUN(test_running_worker_unchanged, nfail);
	T_RUN(test_blocked_worker_unchanged, nfail);
	T_RUN(test_parked_worker_unchanged, nfail);
	T_RUN(test_queued_worker_unchanged, nfail);
	return t_finish(nfail);
}
