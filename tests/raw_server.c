/* SPDX-License-Identifier: MIT */
/*
 * Description: the scenario of examples/raw_server.c (the scheduler demo
 * of the original series), as assertions.  Worker A computes until B and C are done, either yielding
 * every step or never yielding (then the server preempts it after each
 * 10 ms slice: TF_PREEMPT + umcg_kick).  B blocks in sleep(1), C in
 * sleep(2).  The server sees each block and each wake in order (B's wake
 * before C's), runs A while they sleep, and sees A preempted (second
 * variant); at most one worker runs at every observation.
 */
#include <unistd.h>

#include "t_helpers.h"

static struct t_server s;
static atomic_int a_yields;

static int worker_a(struct t_worker *w)
{
	while (!atomic_load(&s.w[1]->data[1]) || !atomic_load(&s.w[2]->data[1])) {
		t_spin(200000);
		atomic_fetch_add(&w->data[0], 1);
		if (t_worker_check())
			return 1;
		if (atomic_load(&a_yields) && t_yield() != 0)
			return 1;
	}
	return 0;
}

static int sleeper(struct t_worker *w)
{
	unsigned int secs = (unsigned int)w->idx;	/* B: 1 s, C: 2 s */

	if (sleep(secs) != 0)
		return 1;
	atomic_store(&w->data[1], 1);
	return t_worker_check();
}

/* Block and wake of @who: BLOCKED, then QUEUED; returns the wake index. */
static int block_then_wake(int who, const char *name)
{
	int b = t_log_find(&s.log, 0, T_EV_BLOCKED, who);
	int q = b < 0 ? -1 : t_log_find(&s.log, b, T_EV_QUEUED, who);
	int r;

	if (b < 0 || q < 0) {
		fprintf(stderr, "%s: BLOCKED at %d, woken (QUEUED) at %d\n", name,
			b, q);
		return -1;
	}
	if (t_log_count(&s.log, T_EV_BLOCKED, who) != 1) {
		fprintf(stderr, "%s blocked %d times, want 1\n", name,
			t_log_count(&s.log, T_EV_BLOCKED, who));
		return -1;
	}
	/* A ran while it slept. */
	r = t_log_find(&s.log, b, T_EV_RUN, 0);
	if (r < 0 || r > q) {
		fprintf(stderr, "A did not run while %s slept\n", name);
		return -1;
	}
	return q;
}

static int run_scenario(int yields)
{
	int wb, wc;

	atomic_store(&a_yields, yields);
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	if (!yields)
		s.slice_ns = 10 * T_MS;
	T_CHECK(t_worker_spawn(&s, worker_a, NULL), "spawn A");
	T_CHECK(t_worker_spawn(&s, sleeper, NULL), "spawn B");
	T_CHECK(t_worker_spawn(&s, sleeper, NULL), "spawn C");
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	wb = block_then_wake(1, "B");
	wc = block_then_wake(2, "C");
	if (wb < 0 || wc < 0 || wb > wc) {
		t_log_dump(&s.log, "raw_server");
		T_FAIL("B woken at event %d, C at %d: want both, B first", wb, wc);
	}
	/*
	 * A blocks in no call of its own.  Where detection is precise (BPF,
	 * the kernel backend) a page fault that waits, e.g. for the mmap lock
	 * while the process makes B's and C's stacks, is a real block and is
	 * reported; each such block must then be followed by A's wake.
	 */
	if (umcg_detection() == UMCG_DETECT_HOOKS)
		T_CHECK(t_log_count(&s.log, T_EV_BLOCKED, 0) == 0,
			"A was seen BLOCKED");
	for (int b = t_log_find(&s.log, 0, T_EV_BLOCKED, 0); b >= 0;
	     b = t_log_find(&s.log, b + 1, T_EV_BLOCKED, 0))
		T_CHECK(t_log_find(&s.log, b, T_EV_QUEUED, 0) > b,
			"A blocked at event %d and was never woken", b);
	T_CHECK(t_log_count(&s.log, T_EV_EXIT, 0) == 1 &&
		t_log_count(&s.log, T_EV_EXIT, 1) == 1 &&
		t_log_count(&s.log, T_EV_EXIT, 2) == 1, "exits not seen once each");
	if (!yields) {
		int pre = t_log_count(&s.log, T_EV_PREEMPT, 0);
		int stop = t_log_count(&s.log, T_EV_RUNNABLE, 0);

		T_CHECK(pre > 0 && stop > 0 && stop <= pre,
			"A: %d kicks, %d preemptions seen", pre, stop);
		printf("A was preempted %d times, ran %ld steps\n", stop,
		       atomic_load(&s.w[0]->data[0]));
	} else {
		printf("A yielded %ld times\n", atomic_load(&s.w[0]->data[0]));
	}
	T_CHECK(s.observations > 0 && atomic_load(&s.violations) == 0,
		"invariant");
	t_server_fini(&s);
	return 0;
}

static int test_a_yields(void)
{
	return run_scenario(1);
}

static int test_a_is_preempted(void)
{
	return run_scenario(0);
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 90);
	T_RUN(test_a_yields, nfail);
	T_RUN(test_a_is_preempted, nfail);
	return t_finish(nfail);
}
