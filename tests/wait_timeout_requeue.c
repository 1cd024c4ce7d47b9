/* SPDX-License-Identifier: MIT */
/*
 * Description: a worker whose timed wait ran out is queued on its server,
 * and once its server took it off the list the server may run it at once:
 * naming it never fails with EAGAIN.
 *
 * The scenario: one server, one worker.  The worker loops: state
 * RUNNABLE|COND_WAIT, next_tid = 0, umcg_kick() its server (trap 4 of
 * docs/semantics.md: a parking worker does not wake its server), then
 * umcg_wait(0, now + 200 us), which must fail with ETIMEDOUT.  The server
 * waits for its list, takes it, finds the worker on it and names it in
 * next_tid.  Nothing but that worker's own timeout queues it, and nothing
 * wakes the server between its RUNNABLE|COND_WAIT and its wait, so every
 * naming wait must succeed; each EAGAIN is counted and the case fails on
 * any.  Run with both threads pinned to one CPU (the worker's timeout
 * wakes it on the server's CPU) and unpinned.
 *
 * test_named_still_listed: until its server takes it off the list, a
 * timed-out worker counts as on it, and naming it fails with EAGAIN (next_tid
 * left without UMCG_TID_RUNNING, the worker left RUNNABLE and listed): run
 * at once, it would be run a second time when the server takes its list.
 *
 * The suite runs TIMEOUTS_DEFAULT timeouts per case; "wait_timeout_requeue
 * <n>" runs n (the figure of the original report was 2,000).  How late the
 * worker ran after its deadline is printed, never asserted.
 */
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "t_helpers.h"

#define TIMEOUTS_DEFAULT	300
#define PARK_NS			200000ULL

static long timeouts = TIMEOUTS_DEFAULT;
static struct t_server s;

/* data[] of the worker */
enum { D_TIMEDOUT, D_OTHER, D_LATE_MAX, D_LATE_SUM, D_LATE_OVER_1MS };

static int requeue_worker(struct t_worker *w)
{
	pid_t server = w->srv->tid;

	for (long i = 0; i < timeouts; i++) {
		uint64_t deadline, late;
		int r;

		t_store32(&w->task.next_tid, 0);
		if (t_set_cond_wait(&w->task)) {
			fprintf(stderr, "worker: not RUNNING at timeout %ld\n", i);
			return 1;
		}
		if (umcg_kick(0, server) != 0) {
			fprintf(stderr, "worker: kick: %s\n", strerror(errno));
			return 1;
		}
		deadline = t_after(w->srv->clock, PARK_NS);
		r = umcg_wait(0, deadline) ? errno : 0;
		late = t_now(w->srv->clock) - deadline;
		if (r == ETIMEDOUT)
			atomic_fetch_add(&w->data[D_TIMEDOUT], 1);
		else
			atomic_fetch_add(&w->data[D_OTHER], 1);
		if ((long)late > atomic_load(&w->data[D_LATE_MAX]))
			atomic_store(&w->data[D_LATE_MAX], (long)late);
		atomic_fetch_add(&w->data[D_LATE_SUM], (long)late);
		if (late > T_MS)
			atomic_fetch_add(&w->data[D_LATE_OVER_1MS], 1);
		if (t_state(&w->task) != UMCG_TASK_RUNNING) {
			fprintf(stderr, "worker: not RUNNING after timeout %ld\n", i);
			return 1;
		}
	}
	return 0;
}

/* Pin the caller to one CPU it may use; threads it creates inherit that. */
static int pin_to_one_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &set)) {
			CPU_ZERO(&set);
			CPU_SET(c, &set);
			return sched_setaffinity(0, sizeof(set), &set);
		}
	}
	return -1;
}

/*
 * Name @w until the wait succeeds; *@eagain counts the failures.  On 0 the
 * worker has run and stopped again (parked, or exited: *@st).
 */
static int name_worker(struct t_worker *w, long *eagain, long *hit,
		       long *in_a_row, uint32_t *st)
{
	uint32_t tid = (uint32_t)atomic_load(&w->tid);
	long row = 0;

	for (;;) {
		int r = t_server_wait(&s, tid, t_after(s.clock, 20 * T_SEC));
		uint32_t nt = t_load32(&s.task.next_tid);

		if (r == -EAGAIN) {
			T_CHECK(!(nt & UMCG_TID_RUNNING),
				"EAGAIN, but next_tid %#x says the worker ran", nt);
			(*eagain)++;
			if (!row)
				(*hit)++;
			if (++row > *in_a_row)
				*in_a_row = row;
			continue;
		}
		T_CHECK(r == 0, "naming wait: %d (%s)", r, strerror(-r));
		T_CHECK(nt == (tid | UMCG_TID_RUNNING),
			"next_tid %#x after a naming wait, want %#x", nt,
			tid | UMCG_TID_RUNNING);
		break;
	}
	/* Woken by the worker's kick (or its exit): it is no longer RUNNING. */
	*st = umcg_task_state(&w->task) & UMCG_TASK_MASK;
	while (*st == UMCG_TASK_RUNNING) {
		int r = t_server_wait(&s, tid | UMCG_TID_RUNNING,
				      t_after(s.clock, 20 * T_SEC));

		T_CHECK(r == 0 || r == -EAGAIN, "waiting for the worker: %d", r);
		*st = umcg_task_state(&w->task) & UMCG_TASK_MASK;
	}
	t_store32(&s.task.next_tid, 0);
	return 0;
}

static int run_scenario(int pinned)
{
	long eagain = 0, hit = 0, in_a_row = 0, runs = 0;
	struct t_worker *w;
	uint32_t st = 0;
	char b[64];

	if (pinned)
		T_CHECK(pin_to_one_cpu() == 0, "sched_setaffinity: %s",
			strerror(errno));
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	w = t_worker_spawn(&s, requeue_worker, NULL);
	do {
		struct umcg_task *head = t_server_wait_list(&s,
					t_after(s.clock, 20 * T_SEC));

		T_CHECK(head == &w->task && !umcg_runnable_next(head),
			"after %ld runs: list %p, want the worker %p alone",
			runs, (void *)head, (void *)&w->task);
		st = umcg_task_state(head);
		T_CHECK((st & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE,
			"queued worker in state %s", t_state_str(st, b));
		if (name_worker(w, &eagain, &hit, &in_a_row, &st))
			return 1;
		runs++;
		T_CHECK(st == UMCG_TASK_RUNNABLE || st == UMCG_TASK_NONE,
			"worker stopped in state %s", t_state_str(st, b));
	} while (st != UMCG_TASK_NONE);

	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	long tmo = atomic_load(&w->data[D_TIMEDOUT]);
	long late_max = atomic_load(&w->data[D_LATE_MAX]);
	long late_avg = tmo ? atomic_load(&w->data[D_LATE_SUM]) / tmo : 0;

	printf("%s: %ld timeouts, %ld runs met EAGAIN, %ld EAGAIN in all (at "
	       "most %ld in a row); worker late by %ld us on average, %ld us "
	       "at most, > 1 ms %ld times\n",
	       pinned ? "pinned" : "unpinned", tmo, hit, eagain, in_a_row,
	       late_avg / 1000, late_max / 1000,
	       atomic_load(&w->data[D_LATE_OVER_1MS]));
	T_CHECK(atomic_load(&w->data[D_OTHER]) == 0,
		"%ld timed waits ended otherwise than ETIMEDOUT",
		atomic_load(&w->data[D_OTHER]));
	T_CHECK(tmo == timeouts, "%ld timeouts, want %ld", tmo, timeouts);
	T_CHECK(runs == timeouts + 1, "server ran the worker %ld times, want %ld",
		runs, timeouts + 1);
	T_CHECK(eagain == 0,
		"naming a worker its server took off the list failed with "
		"EAGAIN %ld times, in %ld of %ld runs (at most %ld in a row)",
		eagain, hit, runs, in_a_row);
	t_server_fini(&s);
	return 0;
}

static int test_pinned(void)
{
	return run_scenario(1);
}

static int test_unpinned(void)
{
	return run_scenario(0);
}

/* ---- a timed-out worker still on the list may not be named ------------ */

static int once_worker(struct t_worker *w)
{
	int r;

	t_store32(&w->task.next_tid, 0);
	if (t_set_cond_wait(&w->task) || umcg_kick(0, w->srv->tid) != 0)
		return 1;
	r = umcg_wait(0, t_after(w->srv->clock, 2 * T_MS)) ? errno : 0;
	if (r != ETIMEDOUT) {
		fprintf(stderr, "worker: timed wait: %d (%s), want ETIMEDOUT\n",
			r, strerror(r));
		return 1;
	}
	return 0;
}

static int test_named_still_listed(void)
{
	struct t_server srv;
	struct t_worker *w;
	uint32_t st = 0, tid;
	char b[64];
	int r;

	w = t_setup_queued(&srv, once_worker, NULL);
	T_CHECK(w, "setup");
	tid = (uint32_t)atomic_load(&w->tid);
	T_CHECK(t_server_run_one(&srv, w, &st) == 0, "run");
	/* its kick may come before its wait: RUNNABLE|COND_WAIT then */
	T_CHECK((st & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE,
		"worker stopped in state %s, want RUNNABLE (parking)",
		t_state_str(st, b));
	/* Its timeout queues it; we look without taking the list. */
	T_CHECK(t_listed(&srv, w), "timed-out worker not listed");
	r = t_server_wait(&srv, tid, t_after(srv.clock, 5 * T_SEC));
	T_CHECK(r == -EAGAIN, "naming a listed worker: %d (%s), want EAGAIN",
		r, strerror(-r));
	T_CHECK(t_load32(&srv.task.next_tid) == tid,
		"next_tid %#x after the failed wait, want %#x",
		t_load32(&srv.task.next_tid), tid);
	T_CHECK(umcg_task_state(&w->task) == UMCG_TASK_RUNNABLE,
		"listed worker in state %s, want RUNNABLE",
		t_state_str(umcg_task_state(&w->task), b));
	T_CHECK(t_load64(&srv.task.runnable_workers_ptr) == (uintptr_t)&w->task,
		"the worker left the list");
	t_store32(&srv.task.next_tid, 0);
	T_CHECK(t_queued(&srv, w), "worker not queued");
	T_CHECK(t_run_expect(&srv, w, UMCG_TASK_NONE), "worker did not finish");
	T_CHECK(t_workers_failed(&srv) == 0, "worker failed");
	t_server_fini(&srv);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	if (argc > 1) {
		timeouts = strtol(argv[1], NULL, 10);
		if (timeouts <= 0) {
			fprintf(stderr, "usage: %s [timeouts]\n", argv[0]);
			return T_EXIT_FAIL;
		}
	}
	t_init(argv[0], 90);
	T_RUN(test_pinned, nfail);
	T_RUN(test_unpinned, nfail);
	T_RUN(test_named_still_listed, nfail);
	return t_finish(nfail);
}
