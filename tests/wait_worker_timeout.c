/* SPDX-License-Identifier: MIT */
/*
 * Description: a worker's umcg_wait() with a timeout (a timed sleep).  The
 * parked worker is on no list.  Named in next_tid before the timeout, its
 * wait returns 0 and the old timeout never queues it later.  When the
 * timeout passes first, it is queued on its server, and once run its wait
 * fails with ETIMEDOUT (state RUNNING).  A deadline in the past queues it
 * at once; UINT64_MAX never does.  The timeout is on the registration
 * clock: REALTIME, BOOTTIME and TAI as MONOTONIC, never early on it.  The
 * claim race: a server naming the
 * worker right at its deadline either wins (the worker's wait returns 0,
 * never queued) or loses (EAGAIN for the server; the worker is queued and
 * returns ETIMEDOUT) - exactly one, every time.
 */
#include <stdlib.h>

#include "t_helpers.h"

static struct t_server s;

/* data[0]: deadline (ns from now, or absolute when data[2]); result in [1]. */
static int parking_worker(struct t_worker *w)
{
	uint64_t d = (uint64_t)atomic_load(&w->data[0]);
	uint64_t dl = atomic_load(&w->data[2]) ? d : t_after(w->srv->clock, d);
	int r;

	atomic_store(&w->data[4], (long)dl);
	r = t_park(dl);
	uint32_t st = umcg_task_state(&w->task);

	atomic_store(&w->data[5], (long)t_now(w->srv->clock));
	atomic_store(&w->data[1], r);
	if (st != UMCG_TASK_RUNNING) {
		fprintf(stderr, "worker: state %#x after its wait\n", st);
		return 1;
	}
	if (atomic_load(&w->data[3])) {	/* park again, forever */
		r = t_park(T_FOREVER);
		if (r != 0) {
			fprintf(stderr, "worker: 2nd park: %d\n", r);
			return 1;
		}
	}
	return 0;
}

static struct t_worker *start(uint64_t d, int absolute, int again)
{
	struct t_worker *w = t_worker_new(&s, parking_worker, NULL);

	atomic_store(&w->data[0], (long)d);
	atomic_store(&w->data[2], absolute);
	atomic_store(&w->data[3], again);
	if (t_worker_start(w) != 0)
		return NULL;
	return w;
}

/* Run the new worker until it parks; the list must then be empty. */
static int run_to_park(struct t_worker *w)
{
	uint32_t st = 0;
	char b[64];

	T_CHECK(t_queued(&s, w),
		"new worker not queued");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	T_CHECK(st == UMCG_TASK_RUNNABLE, "parked worker in state %s",
		t_state_str(st, b));
	return 0;
}

static int test_named_before_timeout(void)
{
	struct t_worker *w;
	uint32_t st = 0;

	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	w = start(1500 * T_MS, 0, 1);	/* far: no timing dependence */
	if (run_to_park(w))
		return 1;
	T_CHECK(t_load64(&s.task.runnable_workers_ptr) == 0,
		"a worker in a timed sleep was queued at once");
	T_CHECK(t_now(s.clock) < (uint64_t)atomic_load(&w->data[4]),
		"inconclusive: 1.5 s passed between park and name");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run by name");
	T_CHECK(st == UMCG_TASK_RUNNABLE, "state %#x after 2nd park", st);
	T_CHECK(atomic_load(&w->data[1]) == 0, "named worker's wait returned %ld",
		atomic_load(&w->data[1]));
	/* Past the old deadline: it must not have queued the worker. */
	T_CHECK(t_server_wait_list(&s, (uint64_t)atomic_load(&w->data[4]) +
				   200 * T_MS) == NULL,
		"the stale timeout queued the worker after it was run by name");
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE),
		"worker did not finish");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

static int expire_on(clockid_t clock, uint64_t d, int absolute)
{
	struct t_worker *w;
	uint32_t st = 0;
	char b[64];

	T_CHECK(t_server_init(&s, 0, clock) == 0, "register on clock %d",
		(int)clock);
	w = start(d, absolute, 0);
	if (run_to_park(w))
		return 1;
	T_CHECK(t_queued(&s, w),
		"timed-out worker not queued");
	st = umcg_task_state(&w->task);
	T_CHECK(st == UMCG_TASK_RUNNABLE, "queued in state %s", t_state_str(st, b));
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE),
		"worker did not finish");
	T_CHECK(atomic_load(&w->data[1]) == -ETIMEDOUT,
		"timed-out worker's wait returned %ld, want -ETIMEDOUT",
		atomic_load(&w->data[1]));
	T_CHECK(atomic_load(&w->data[5]) >= atomic_load(&w->data[4]),
		"clock %d: ETIMEDOUT %ld ns before the deadline", (int)clock,
		atomic_load(&w->data[4]) - atomic_load(&w->data[5]));
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

static int expire(uint64_t d, int absolute)
{
	return expire_on(CLOCK_MONOTONIC, d, absolute);
}

static int test_timeout_expires(void)
{
	return expire(20 * T_MS, 0);
}

static int test_timeout_each_clock(void)
{
	static const clockid_t clocks[] = {
		CLOCK_REALTIME, CLOCK_BOOTTIME, CLOCK_TAI,
	};

	for (unsigned i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++)
		if (expire_on(clocks[i], 20 * T_MS, 0))
			return 1;
	return 0;
}

static int test_deadline_in_past(void)
{
	return expire(1, 1);
}

static int test_forever(void)
{
	struct t_worker *w;

	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	w = start(T_FOREVER, 1, 0);
	if (run_to_park(w))
		return 1;
	T_CHECK(t_server_stays_idle(&s, 300 * T_MS),
		"a worker waiting with UINT64_MAX was queued");
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE),
		"worker did not finish");
	T_CHECK(atomic_load(&w->data[1]) == 0, "wait returned %ld",
		atomic_load(&w->data[1]));
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

/* ---- the parked-claim race ---- */

#define RACES 300

static int racing_worker(struct t_worker *w)
{
	long zero = 0, tmo = 0;

	for (int i = 0; i < RACES; i++) {
		int r = t_park(t_after(w->srv->clock, (uint64_t)(i % 10) * 4000));

		if (r == 0) {
			zero++;
		} else if (r == -ETIMEDOUT) {
			tmo++;
		} else {
			fprintf(stderr, "worker: park %d: %d\n", i, r);
			return 1;
		}
		if (t_state(&w->task) != UMCG_TASK_RUNNING) {
			fprintf(stderr, "worker: not RUNNING after park %d\n", i);
			return 1;
		}
	}
	atomic_store(&w->data[0], zero);
	atomic_store(&w->data[1], tmo);
	return 0;
}

/* Wait until @w, which runs, stops; its state word then. */
static int wait_stop(struct t_worker *w, uint32_t *st)
{
	uint32_t wt = (uint32_t)atomic_load(&w->tid) | UMCG_TID_RUNNING;

	for (;;) {
		int r;

		*st = umcg_task_state(&w->task);
		if ((*st & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)
			break;
		r = t_server_wait(&s, wt, t_after(s.clock, 20 * T_SEC));
		T_CHECK(r == 0 || r == -EAGAIN, "wait for the worker: %d", r);
	}
	t_store32(&s.task.next_tid, 0);
	return 0;
}

static int test_claim_race(void)
{
	struct t_worker *w;
	long claims = 0, lost = 0;
	uint32_t st = 0;

	w = t_setup_queued(&s, racing_worker, NULL);
	T_CHECK(w, "setup");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "first run");
	while ((st & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE) {
		struct umcg_task *head = umcg_runnable_take_all(&s.task);
		uint32_t nt;
		int r;

		/* The protocol: take the list before naming a worker. */
		if (head) {
			T_CHECK(head == &w->task && !umcg_runnable_next(head),
				"after %ld claims / %ld lost: list %p -> %p (worker %p): "
				"queued twice? (a claim that won while its timeout "
				"also queued it)", claims, lost, (void *)head,
				(void *)umcg_runnable_next(head), (void *)&w->task);
			lost++;
			T_CHECK(t_server_run_one(&s, w, &st) == 0, "run queued");
			continue;
		}
		/* Vary when we name it, around its deadline. */
		for (uint64_t until = t_after(s.clock, (uint64_t)(claims + lost) % 9 * 10000);
		     t_now(s.clock) < until;)
			;
		r = t_server_wait(&s, (uint32_t)w->tid,
				  t_after(s.clock, 20 * T_SEC));
		nt = t_load32(&s.task.next_tid);

		T_CHECK(r == 0 || r == -EAGAIN, "claim: wait returned %d", r);
		if (nt & UMCG_TID_RUNNING) {
			claims++;
			if (wait_stop(w, &st))
				return 1;
			continue;
		}
		/* The timeout won: the worker is (about to be) queued. */
		lost++;
		T_CHECK(t_queued(&s, w), "claim lost, but the worker was not queued");
		T_CHECK(t_server_run_one(&s, w, &st) == 0, "run queued");
	}
	T_CHECK(st == UMCG_TASK_NONE, "worker ended in state %#x", st);
	T_CHECK(t_load64(&s.task.runnable_workers_ptr) == 0,
		"worker queued after its exit");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	T_CHECK(claims + lost == RACES,
		"claims %ld + lost %ld != %d parks: a worker was queued by its "
		"timeout although a claim had won", claims, lost, RACES);
	T_CHECK(atomic_load(&w->data[0]) == claims,
		"worker's wait returned 0 %ld times, server claimed %ld times",
		atomic_load(&w->data[0]), claims);
	T_CHECK(atomic_load(&w->data[1]) == lost,
		"worker timed out %ld times, server lost %ld claims",
		atomic_load(&w->data[1]), lost);
	printf("claim race: %ld claims won, %ld lost to the timeout\n", claims,
	       lost);
	t_server_fini(&s);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 90);
	T_RUN(test_named_before_timeout, nfail);
	T_RUN(test_timeout_expires, nfail);
	T_RUN(test_timeout_each_clock, nfail);
	T_RUN(test_deadline_in_past, nfail);
	T_RUN(test_forever, nfail);
	T_RUN(test_claim_race, nfail);
	return t_finish(nfail);
}
