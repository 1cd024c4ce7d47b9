/* SPDX-License-Identifier: MIT */
/*
 * Description: preemption.  A server whose worker runs past its time slice
 * sets UMCG_TF_PREEMPT (cmpxchg from RUNNING) and kicks it: the worker,
 * spinning without system calls, becomes RUNNABLE (PREEMPT cleared), is
 * queued on its server, wakes it, and continues where it was once run
 * again.  A PREEMPT pending when the worker blocks is dropped (BLOCKED,
 * then RUNNABLE, then RUNNING, never preempted later by it).  Preemptions
 * racing with a worker's own yields lose nothing.  A worker that sets its
 * own TF_PREEMPT and kicks itself is preempted (RUNNABLE, queued).
 */
#include <stdlib.h>
#include <unistd.h>

#include "t_helpers.h"

static struct t_server s;

static int spin_until_released(struct t_worker *w)
{
	uint32_t st;

	while (!atomic_load(&w->data[0]))
		atomic_fetch_add(&w->data[1], 1);
	st = umcg_task_state(&w->task);
	if (st != UMCG_TASK_RUNNING) {
		fprintf(stderr, "worker: state %#x after preemption\n", st);
		return 1;
	}
	return 0;
}

static int test_preempt_by_hand(void)
{
	struct t_worker *w;
	uint32_t st = 0, wt;
	uint64_t t0;
	int r;
	char b[64];

	w = t_setup_queued(&s, spin_until_released, NULL);
	T_CHECK(w, "setup");
	wt = (uint32_t)w->tid;
	/* Run it for a slice of 5 ms: the wait times out, W still runs. */
	r = t_server_wait(&s, wt, t_after(s.clock, 5 * T_MS));
	T_CHECK(r == -ETIMEDOUT, "slice wait returned %d", r);
	T_CHECK(t_load32(&s.task.next_tid) == (wt | UMCG_TID_RUNNING),
		"next_tid %#x", t_load32(&s.task.next_tid));
	st = umcg_task_state(&w->task);
	T_CHECK(st == UMCG_TASK_RUNNING, "spinning worker in state %s",
		t_state_str(st, b));
	T_CHECK(umcg_task_cas_state(&w->task, UMCG_TASK_RUNNING,
				    UMCG_TASK_RUNNING | UMCG_TF_PREEMPT),
		"cannot set TF_PREEMPT");
	t0 = t_now(s.clock);
	T_CHECK_OK(umcg_kick(0, w->tid));
	T_CHECK(t_queued(&s, w),
		"preempted worker not queued");
	st = umcg_task_state(&w->task);
	T_CHECK(st == UMCG_TASK_RUNNABLE,
		"preempted worker: state %s, want RUNNABLE (PREEMPT cleared)",
		t_state_str(st, b));
	T_CHECK(t_load64(&w->task.runnable_ts) >= t0,
		"runnable_ts %llu before the kick %llu",
		(unsigned long long)t_load64(&w->task.runnable_ts),
		(unsigned long long)t0);
	T_CHECK(atomic_load(&w->data[0]) == 0 && !atomic_load(&w->done),
		"worker finished although preempted");
	/* Run it again: it goes on spinning; release it. */
	atomic_store(&w->data[0], 1);
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE),
		"worker did not finish");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

/* Spin until preempted @data[2] times (runnable_ts changes each time). */
#define PREEMPTIONS 5

static int spin_until_preempted(struct t_worker *w)
{
	uint64_t last = t_load64(&w->task.runnable_ts);
	int seen = 0;

	while (seen < PREEMPTIONS) {
		uint64_t ts = t_load64(&w->task.runnable_ts);
		uint32_t st = umcg_task_state(&w->task);

		if ((st & UMCG_TASK_MASK) != UMCG_TASK_RUNNING) {
			fprintf(stderr, "worker runs in state %#x\n", st);
			return 1;
		}
		if (ts != last) {
			seen++;
			last = ts;
		}
	}
	return 0;
}

static int test_preempt_loop(void)
{
	int pre, runnable;

	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	s.slice_ns = 2 * T_MS;
	T_CHECK(t_worker_spawn(&s, spin_until_preempted, NULL), "spawn");
	T_CHECK(t_worker_spawn(&s, spin_until_preempted, NULL), "spawn");
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	pre = t_log_count(&s.log, T_EV_PREEMPT, 0) +
	      t_log_count(&s.log, T_EV_PREEMPT, 1);
	runnable = t_log_count(&s.log, T_EV_RUNNABLE, 0) +
		   t_log_count(&s.log, T_EV_RUNNABLE, 1);
	T_CHECK(pre >= 2 * PREEMPTIONS, "only %d preemptions", pre);
	/* A worker may exit between TF_PREEMPT and its kick: 1 each. */
	T_CHECK(runnable <= pre && runnable >= pre - 2,
		"%d kicks with TF_PREEMPT, but the server saw %d preemptions",
		pre, runnable);
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

/* Set our own TF_PREEMPT, then block: the block drops it. */
static int pipe_fds[2];

static int preempt_then_block(struct t_worker *w)
{
	uint32_t st = umcg_task_state(&w->task);

	char c;

	if (!umcg_task_cas_state(&w->task, st, st | UMCG_TF_PREEMPT))
		return 1;
	if (read(pipe_fds[0], &c, 1) != 1)	/* blocks until the server writes */
		return 4;
	st = umcg_task_state(&w->task);
	if (st != UMCG_TASK_RUNNING) {
		fprintf(stderr, "worker: state %#x after the block\n", st);
		return 2;
	}
	atomic_store(&w->data[0], 1);
	t_spin(1000000);	/* a pending preemption would hit here */
	atomic_store(&w->data[0], 2);
	return t_yield() != 0 ? 3 : 0;
}

static int test_preempt_dropped_on_block(void)
{
	struct t_worker *w;
	uint32_t st = 0;
	char b[64];

	T_CHECK(pipe(pipe_fds) == 0, "pipe");
	w = t_setup_queued(&s, preempt_then_block, NULL);
	T_CHECK(w, "setup");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	T_CHECK(st == UMCG_TASK_BLOCKED, "state %s, want BLOCKED (PREEMPT dropped)",
		t_state_str(st, b));
	T_CHECK(write(pipe_fds[1], "x", 1) == 1, "write");
	T_CHECK(t_queued(&s, w),
		"woken worker not queued");
	st = umcg_task_state(&w->task);
	T_CHECK(st == UMCG_TASK_RUNNABLE, "woken: state %s", t_state_str(st, b));
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	T_CHECK(st == UMCG_TASK_RUNNABLE && atomic_load(&w->data[0]) == 2,
		"worker stopped at step %ld in state %s (a dropped PREEMPT fired?)",
		atomic_load(&w->data[0]), t_state_str(st, b));
	T_CHECK(t_queued(&s, w),
		"yielded worker not queued");
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE),
		"worker did not finish");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	return 0;
}

/* Many yields while a 50 us slice keeps preempting. */
#define YIELDS 2000

static int yield_a_lot(struct t_worker *w)
{
	for (int i = 0; i < YIELDS; i++) {
		int r;

		t_spin((unsigned long)(i % 13) * 20000);
		if (t_worker_check())
			return 1;
		r = t_yield();
		if (r != 0) {
			fprintf(stderr, "worker %d: yield %d: %d\n", w->idx, i, r);
			return 1;
		}
		atomic_fetch_add(&w->data[0], 1);
	}
	return 0;
}

static int test_preempt_races_yield(void)
{
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	s.slice_ns = 50000;
	for (int i = 0; i < 3; i++)
		T_CHECK(t_worker_spawn(&s, yield_a_lot, NULL), "spawn");
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	for (int i = 0; i < 3; i++)
		T_CHECK(atomic_load(&s.w[i]->data[0]) == YIELDS,
			"worker %d yielded %ld times", i,
			atomic_load(&s.w[i]->data[0]));
	printf("%ld preemptions among %d yields\n", s.preempts, 3 * YIELDS);
	t_server_fini(&s);
	return 0;
}

/* A worker that sets its own TF_PREEMPT and kicks itself is preempted. */
static int self_kick(struct t_worker *w)
{
	uint32_t st = umcg_task_state(&w->task);

	if (!umcg_task_cas_state(&w->task, st, st | UMCG_TF_PREEMPT))
		return 1;
	if (umcg_kick(0, atomic_load(&w->tid)) != 0)
		return 2;
	/* Preempted at the latest here: spin until the server ran us again. */
	while (!atomic_load(&w->data[0]))
		;
	st = umcg_task_state(&w->task);
	return st != UMCG_TASK_RUNNING ? 3 : 0;
}

static int test_self_kick(void)
{
	struct t_worker *w;
	uint32_t st = 0;
	char b[64];

	w = t_setup_queued(&s, self_kick, NULL);
	T_CHECK(w, "setup");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	T_CHECK(st == UMCG_TASK_RUNNABLE, "self-kicked worker: state %s, want "
		"RUNNABLE", t_state_str(st, b));
	T_CHECK(t_queued(&s, w),
		"self-kicked worker not queued");
	atomic_store(&w->data[0], 1);
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE),
		"worker did not finish");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 90);
	T_RUN(test_preempt_by_hand, nfail);
	T_RUN(test_preempt_loop, nfail);
	T_RUN(test_preempt_dropped_on_block, nfail);
	T_RUN(test_preempt_races_yield, nfail);
	T_RUN(test_self_kick, nfail);
	return t_finish(nfail);
}
