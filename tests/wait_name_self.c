/* SPDX-License-Identifier: MIT */
/*
 * Description: a task that names itself in next_tid gets EINVAL from
 * umcg_wait(), server or worker, with or without UMCG_TID_RUNNING, with
 * any timeout.  The check comes with the lookup of next_tid (step 3 of
 * docs/semantics.md), before the state check, so it wins over EAGAIN.
 * After the failure the caller is RUNNING (user bits kept), next_tid is
 * left as it was (no UMCG_TID_RUNNING written back), a worker is on no
 * list, and the next wait behaves as if nothing had happened.
 */
#include <stdlib.h>

#include "t_helpers.h"

#define CW (UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT)
#define USER_BIT 0x10000u

/*
 * Wait with @state and @next_tid set on @t; must fail with EINVAL and
 * leave @t RUNNING (user bits kept), next_tid unchanged.
 */
static int expect_einval(struct umcg_task *t, uint32_t state,
			 uint32_t next_tid, uint64_t timeout)
{
	uint32_t user = umcg_task_state(t) & ~(UMCG_TASK_MASK | UMCG_TF_MASK);
	uint32_t st, nt;
	char b[64];
	int r, e;

	t_store32(&t->next_tid, next_tid);
	t_store32(&t->state, user | state);
	errno = 0;
	r = umcg_wait(0, timeout);
	e = errno;
	st = umcg_task_state(t);
	nt = t_load32(&t->next_tid);
	T_CHECK(r == -1 && e == EINVAL,
		"naming itself (next_tid %#x, timeout %#llx): %d errno %d (%s), want EINVAL",
		next_tid, (unsigned long long)timeout, r, e, strerror(e));
	T_CHECK(st == (UMCG_TASK_RUNNING | user), "state %s after the failure",
		t_state_str(st, b));
	T_CHECK(nt == next_tid, "next_tid %#x changed to %#x", next_tid, nt);
	t_store32(&t->next_tid, 0);
	return 0;
}

static int test_server(void)
{
	struct umcg_task *t = t_task_alloc();
	uint32_t me = (uint32_t)t_gettid();
	uint64_t soon = t_after(CLOCK_MONOTONIC, 5 * T_SEC);

	umcg_task_init_server(t);
	T_CHECK_OK(umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC));
	t_store32(&t->state, UMCG_TASK_RUNNING | USER_BIT);
	if (expect_einval(t, CW, me, 0) ||
	    expect_einval(t, CW, me, soon) ||
	    expect_einval(t, CW, me | UMCG_TID_RUNNING, 0) ||
	    expect_einval(t, UMCG_TASK_RUNNING, me, 0))	/* before EAGAIN */
		return 1;
	/* Nothing stuck: a plain wait times out as usual. */
	t_store32(&t->state, CW | USER_BIT);
	T_CHECK_ERR(umcg_wait(0, t_after(CLOCK_MONOTONIC, T_MS)), ETIMEDOUT);
	T_CHECK_OK(umcg_ctl(UMCG_CTL_UNREGISTER, t, 0));
	free(t);
	return 0;
}

static int self_naming_worker(struct t_worker *w)
{
	uint32_t me = (uint32_t)atomic_load(&w->tid);
	uint64_t soon = t_after(w->srv->clock, 5 * T_SEC);

	if (expect_einval(&w->task, CW, me, soon) ||		/* park */
	    expect_einval(&w->task, CW, me, T_FOREVER) ||
	    expect_einval(&w->task, CW, me, 0) ||		/* yield */
	    expect_einval(&w->task, CW, me | UMCG_TID_RUNNING, soon) ||
	    expect_einval(&w->task, UMCG_TASK_RUNNING, me, soon))
		return 1;
	/* Still running, and on no list: a yield now queues us once. */
	if (t_yield() != 0) {
		fprintf(stderr, "worker: yield after the failures failed\n");
		return 1;
	}
	return 0;
}

static int test_worker(void)
{
	struct t_server s;
	struct t_worker *w;
	uint32_t st = 0;
	char b[64];

	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	w = t_worker_spawn(&s, self_naming_worker, NULL);
	T_CHECK(t_server_wait_list(&s, t_after(s.clock, 20 * T_SEC)) == &w->task,
		"new worker not queued");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	T_CHECK((st & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE,
		"worker stopped in state %s, want RUNNABLE (its yield)",
		t_state_str(st, b));
	T_CHECK(t_server_wait_list(&s, t_after(s.clock, 20 * T_SEC)) == &w->task &&
		!umcg_runnable_next(&w->task),
		"the yield did not queue the worker exactly once");
	T_CHECK(t_server_run_one(&s, w, &st) == 0 && st == UMCG_TASK_NONE,
		"worker did not finish: state %s", t_state_str(st, b));
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_server, nfail);
	T_RUN(test_worker, nfail);
	return t_finish(nfail);
}
