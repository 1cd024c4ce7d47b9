/* SPDX-License-Identifier: MIT */
/*
 * Description: direct worker -> worker switches.  A worker names a parked
 * worker in next_tid (after pointing its server's next_tid at it): the
 * target is claimed and made RUNNING, UMCG_TID_RUNNING is written back, and
 * the caller parks (UINT64_MAX) or is queued (timeout 0).  Naming a worker
 * that is queued (not parked) or BLOCKED fails with EAGAIN and leaves the
 * caller RUNNING.  Scenarios: ping-pong between two workers (with and
 * without a system call per switch), and a chain of 8 workers switching
 * into each other in strict order.
 */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "t_helpers.h"

static struct t_server s;
static atomic_int token;
static atomic_int syscall_each;
static atomic_long switches_ok;

#define PP_ROUNDS 2000

static struct t_worker *other_of(struct t_worker *w)
{
	return s.w[1 - w->idx];
}

/* After being switched to: the view of every party must be right. */
static int check_resumed(struct t_worker *w, struct t_worker *from)
{
	uint32_t me = (uint32_t)atomic_load(&w->tid);
	uint32_t st = umcg_task_state(&w->task);
	uint32_t ost = umcg_task_state(&from->task);

	if (st != UMCG_TASK_RUNNING || (ost & UMCG_TASK_MASK) == UMCG_TASK_RUNNING) {
		fprintf(stderr, "worker %d resumed in %#x, other in %#x\n",
			w->idx, st, ost);
		return 1;
	}
	if (t_load32(&s.task.next_tid) != (me | UMCG_TID_RUNNING)) {
		fprintf(stderr, "worker %d runs, server next_tid %#x\n", w->idx,
			t_load32(&s.task.next_tid));
		return 1;
	}
	return 0;
}

static int pingpong(struct t_worker *w)
{
	struct t_worker *o = other_of(w);
	int parity = w->idx;

	/*
	 * B starts parked.  A waits until B has run (and so is off the
	 * server's queue) before it names it: a switch to a worker still on
	 * the queue fails, and t_switch_to() restoring the server's next_tid
	 * after the failure could overwrite the server's own pick of that
	 * worker, which was then never run (TSan runs, ~1 in 6).
	 */
	if (parity == 1) {
		atomic_store(&w->data[0], 1);
		if (t_park(T_FOREVER) != 0)
			return 1;
	} else {
		while (!atomic_load(&o->data[0]))
			if (t_yield() != 0)
				return 1;
	}
	for (;;) {
		int t = atomic_load(&token), r;

		if (t >= PP_ROUNDS)
			return 0;
		if (t % 2 != parity) {
			fprintf(stderr, "worker %d runs out of turn (%d)\n",
				w->idx, t);
			return 1;
		}
		if (atomic_load(&syscall_each))
			syscall(SYS_getppid);
		atomic_store(&token, t + 1);
		r = t_switch_to(o, t + 1 >= PP_ROUNDS ? 0 : T_FOREVER);
		if ((r == -EAGAIN || r == -ESRCH) && t == 0) {
			/* B not parked (or registered) yet: undo, run it first. */
			atomic_store(&token, 0);
			if (t_yield() != 0)
				return 1;
			continue;
		}
		if (r != 0) {
			fprintf(stderr, "worker %d: switch %d: %d\n", w->idx, t, r);
			return 1;
		}
		if (t_load32(&w->task.next_tid) !=
		    ((uint32_t)atomic_load(&o->tid) | UMCG_TID_RUNNING)) {
			fprintf(stderr, "worker %d: next_tid %#x not written back\n",
				w->idx, t_load32(&w->task.next_tid));
			return 1;
		}
		if (atomic_load(&token) < PP_ROUNDS && check_resumed(w, o))
			return 1;
	}
}

static int run_pingpong(int with_syscall)
{
	uint64_t t0, t1;

	atomic_store(&token, 0);
	atomic_store(&syscall_each, with_syscall);
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	s.follow_switches = 1;
	T_CHECK(t_worker_spawn(&s, pingpong, NULL), "spawn A");
	T_CHECK(t_worker_spawn(&s, pingpong, NULL), "spawn B");
	t0 = t_now(CLOCK_MONOTONIC);
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	t1 = t_now(CLOCK_MONOTONIC);
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	T_CHECK(atomic_load(&token) == PP_ROUNDS, "token %d", atomic_load(&token));
	printf("direct switch ping-pong%s: %llu ns per switch\n",
	       with_syscall ? " + getppid()" : "",
	       (unsigned long long)((t1 - t0) / PP_ROUNDS));
	t_server_fini(&s);
	return 0;
}

static int test_pingpong_direct(void)
{
	return run_pingpong(0);
}

static int test_pingpong_direct_syscall(void)
{
	return run_pingpong(1);
}

/* ---- a chain of workers switching into each other ---- */

#define CHAIN 8
#define LAPS 100
#define LIMIT (CHAIN * LAPS)

static atomic_int visits[LIMIT];

static int chain_link(struct t_worker *w)
{
	struct t_worker *next = s.w[(w->idx + 1) % CHAIN];

	atomic_store(&w->data[0], 1);	/* has run: off the server's queue */
	for (;;) {
		int t = atomic_load(&token), r;

		if (t >= LIMIT)
			return 0;
		/*
		 * Name @next only once it has run: a switch to a worker still
		 * on the queue fails, and undoing the server's next_tid after
		 * that races with the server's own pick of it (see
		 * pingpong()).  Until then let the server run it.
		 */
		if (t % CHAIN == w->idx && !atomic_load(&next->data[0])) {
			if (t_yield() != 0)
				return 1;
			continue;
		}
		if (t % CHAIN != w->idx) {
			r = t_park(t_after(s.clock, 500 * T_MS));
			if (r != 0 && r != -ETIMEDOUT)
				return 1;
			continue;
		}
		if (t_worker_check())
			return 1;
		atomic_store(&visits[t], w->idx + 1);
		atomic_store(&token, t + 1);
		if (t + 1 >= LIMIT)
			return 0;
		r = t_switch_to(next, t_after(s.clock, 500 * T_MS));
		if (r == 0 || r == -ETIMEDOUT)
			atomic_fetch_add(&switches_ok, 1);
		else if (r != -EAGAIN && r != -ESRCH)
			return 1;
	}
}

static int test_chain(void)
{
	atomic_store(&token, 0);
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	s.follow_switches = 1;
	for (int i = 0; i < CHAIN; i++)
		T_CHECK(t_worker_spawn(&s, chain_link, NULL), "spawn");
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	for (int i = 0; i < LIMIT; i++)
		T_CHECK(atomic_load(&visits[i]) == i % CHAIN + 1,
			"step %d ran worker %d, want %d", i,
			atomic_load(&visits[i]) - 1, i % CHAIN);
	T_CHECK(atomic_load(&switches_ok) > 0, "no direct switch succeeded");
	printf("chain: %ld of %d hand-offs were direct switches\n",
	       atomic_load(&switches_ok), LIMIT - 1);
	t_server_fini(&s);
	return 0;
}

/* ---- naming a worker that is not parked ---- */

static int pipe_fds[2];

static int namer(struct t_worker *w)
{
	struct t_worker *q = s.w[1], *b = s.w[2];	/* new() made a w[0] */
	uint32_t me = (uint32_t)atomic_load(&w->tid) | UMCG_TID_RUNNING;
	int r;

	/* q is queued on the server (it yielded), b is BLOCKED in read(). */
	r = t_switch_to(q, T_FOREVER);
	if (r != -EAGAIN || t_state(&w->task) != UMCG_TASK_RUNNING ||
	    t_load32(&s.task.next_tid) != me) {
		fprintf(stderr, "switch to a queued worker: %d, state %#x\n", r,
			umcg_task_state(&w->task));
		return 1;
	}
	r = t_switch_to(b, T_FOREVER);
	if (r != -EAGAIN || t_state(&w->task) != UMCG_TASK_RUNNING) {
		fprintf(stderr, "switch to a BLOCKED worker: %d, state %#x\n", r,
			umcg_task_state(&w->task));
		return 1;
	}
	if (write(pipe_fds[1], "x", 1) != 1)
		return 1;
	return 0;
}

static int yielder(struct t_worker *w)
{
	(void)w;
	return t_yield() != 0;
}

static int blocker(struct t_worker *w)
{
	char c;

	(void)w;
	return read(pipe_fds[0], &c, 1) != 1;
}

/* Take lists until @n workers were seen (the rest stays ours). */
static int collect(int n)
{
	int seen = 0;

	while (seen < n) {
		struct umcg_task *t = t_server_wait_list(&s, t_after(s.clock,
								      20 * T_SEC));

		T_CHECK(t, "only %d of %d workers queued", seen, n);
		for (; t; t = umcg_runnable_next(t))
			seen++;
	}
	T_CHECK(seen == n, "%d workers queued, want %d", seen, n);
	return 0;
}

static int test_switch_to_not_parked(void)
{
	struct t_worker *a, *q, *b;
	uint32_t st = 0;
	bool b_queued = false;

	T_CHECK(pipe(pipe_fds) == 0, "pipe");
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	a = t_worker_new(&s, namer, NULL);
	q = t_worker_spawn(&s, yielder, NULL);
	b = t_worker_spawn(&s, blocker, NULL);
	T_CHECK(a && q && b, "spawn");
	if (collect(2))
		return 1;
	T_CHECK(t_run_expect(&s, q, UMCG_TASK_RUNNABLE),
		"q did not yield");
	T_CHECK(t_run_expect(&s, b, UMCG_TASK_BLOCKED),
		"b did not block");
	/* q sits on the list now; a registers behind it. */
	T_CHECK(t_worker_start(a) == 0, "start a");
	if (collect(2))
		return 1;
	T_CHECK(t_server_run_one(&s, a, &st) == 0, "run a");
	/*
	 * On the kernel backend a may also block anywhere after its switches
	 * (its write() on the pipe's lock, its exit path): then it comes back
	 * through the list, like b.  Run it until it is done.
	 */
	while (st == UMCG_TASK_BLOCKED) {
		struct umcg_task *t = t_server_wait_list(&s, t_after(s.clock,
								      20 * T_SEC));
		bool a_back = false;

		T_CHECK(t, "a blocked and was never queued again");
		for (; t; t = umcg_runnable_next(t)) {
			if (t == &b->task)
				b_queued = true;
			else if (t == &a->task)
				a_back = true;
		}
		if (a_back)
			T_CHECK(t_server_run_one(&s, a, &st) == 0, "run a again");
	}
	T_CHECK(st == UMCG_TASK_NONE, "a did not finish: %#x", st);
	T_CHECK(b_queued || t_server_wait_list(&s, t_after(s.clock, 20 * T_SEC)) ==
		&b->task, "b not queued after its read() returned");
	T_CHECK(t_run_expect(&s, q, UMCG_TASK_NONE),
		"q did not finish");
	T_CHECK(t_run_expect(&s, b, UMCG_TASK_NONE),
		"b did not finish");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 90);
	T_RUN(test_pingpong_direct, nfail);
	T_RUN(test_pingpong_direct_syscall, nfail);
	T_RUN(test_chain, nfail);
	T_RUN(test_switch_to_not_parked, nfail);
	return t_finish(nfail);
}
