/* SPDX-License-Identifier: MIT */
/*
 * Description: umcg_wait() on a server.  A server sleeping in umcg_wait()
 * is woken by umcg_kick() (returns 0), with UINT64_MAX (never times out)
 * as with a deadline; a kick that lands between
 * RUNNABLE|COND_WAIT and the wait makes the state RUNNING and the wait
 * fail with EAGAIN.  Two servers ping-pong through next_tid (wake/wait):
 * each wait wakes the other, writes UMCG_TID_RUNNING back, and they
 * strictly alternate.  next_tid with UMCG_TID_RUNNING only checks that the
 * worker still runs.  A server runs a worker until it exits and sees each
 * of its yields and its exit.
 */
#include <stdlib.h>

#include "t_helpers.h"

static struct t_server s1;
static atomic_int helper_go, helper_done;

/*
 * Kick s1 once it is inside umcg_wait() (RUNNABLE, COND_WAIT cleared); with
 * @arg, 50 ms later, after checking that it still waits (-2 if not).
 */
static void *kick_when_waiting(void *arg)
{
	while (umcg_task_state(&s1.task) != UMCG_TASK_RUNNABLE)
		;
	if (arg) {
		t_msleep(50);
		if (umcg_task_state(&s1.task) != UMCG_TASK_RUNNABLE) {
			atomic_store(&helper_done, -2);
			return NULL;
		}
	}
	if (umcg_kick(0, s1.tid) != 0)
		atomic_store(&helper_done, -errno);
	else
		atomic_store(&helper_done, 1);
	return NULL;
}

static int kick_wakes(bool forever)
{
	pthread_t th;
	uint32_t st;

	T_CHECK(t_server_init(&s1, 1, CLOCK_MONOTONIC) == 0, "register");
	atomic_store(&helper_done, 0);
	T_CHECK(pthread_create(&th, NULL, kick_when_waiting,
			       forever ? &s1 : NULL) == 0, "thread");
	T_CHECK(t_set_cond_wait(&s1.task) == 0, "state");
	T_CHECK_OK(umcg_wait(0, forever ? T_FOREVER :
				t_after(s1.clock, 20 * T_SEC)));
	pthread_join(th, NULL);
	T_CHECK(atomic_load(&helper_done) == 1, "umcg_kick failed: %d",
		atomic_load(&helper_done));
	st = umcg_task_state(&s1.task);
	T_CHECK(st == UMCG_TASK_RUNNING, "state %#x after wake", st);
	t_server_fini(&s1);
	return 0;
}

static int test_kick_wakes_waiting_server(void)
{
	return kick_wakes(false);
}

static int test_kick_wakes_forever_wait(void)
{
	return kick_wakes(true);
}

static void *kick_now(void *arg)
{
	(void)arg;
	atomic_store(&helper_done, umcg_kick(0, s1.tid) ? -errno : 1);
	return NULL;
}

static int test_kick_before_wait(void)
{
	pthread_t th;
	uint32_t st;

	T_CHECK(t_server_init(&s1, 1, CLOCK_MONOTONIC) == 0, "register");
	t_store32(&s1.task.state, UMCG_TASK_RUNNING | 0x20000);
	T_CHECK(t_set_cond_wait(&s1.task) == 0, "state");
	T_CHECK(pthread_create(&th, NULL, kick_now, NULL) == 0, "thread");
	pthread_join(th, NULL);
	T_CHECK(atomic_load(&helper_done) == 1, "umcg_kick failed: %d",
		atomic_load(&helper_done));
	st = umcg_task_state(&s1.task);
	T_CHECK(st == (UMCG_TASK_RUNNING | 0x20000),
		"kick of a RUNNABLE|COND_WAIT server: state %#x, want RUNNING|0x20000",
		st);
	T_CHECK_ERR(umcg_wait(0, t_after(s1.clock, 20 * T_SEC)), EAGAIN);
	/* A kick of a RUNNING server changes nothing. */
	T_CHECK(pthread_create(&th, NULL, kick_now, NULL) == 0, "thread");
	pthread_join(th, NULL);
	T_CHECK(atomic_load(&helper_done) == 1, "umcg_kick failed");
	st = umcg_task_state(&s1.task);
	T_CHECK(st == (UMCG_TASK_RUNNING | 0x20000), "state %#x", st);
	t_server_fini(&s1);
	return 0;
}

/* ---- two servers ping-pong through next_tid ---- */

#define ROUNDS 2000

static struct t_server s2;
static atomic_int token;
static atomic_int pp_fail;
static atomic_int s2_ready;

/* One side: act when token % 2 == @parity, then wake @other and wait. */
static int pingpong_side(struct t_server *me, struct t_server *other,
			 int parity)
{
	for (;;) {
		int c = atomic_load(&token);
		uint32_t ost = umcg_task_state(&other->task);
		int r;

		if (c >= ROUNDS)
			return 0;
		if (c % 2 != parity) {
			fprintf(stderr, "server %d woke with token %d\n", me->id, c);
			return 1;
		}
		if (c > 1 && ost != UMCG_TASK_RUNNABLE) {
			fprintf(stderr, "server %d runs, the other is %#x\n",
				me->id, ost);
			return 1;
		}
		atomic_store(&token, c + 1);
		do {
			r = t_server_wait(me, (uint32_t)other->tid,
					  c + 1 >= ROUNDS ?
					  t_after(me->clock, 10 * T_MS) :
					  t_after(me->clock, 20 * T_SEC));
		} while (r == -EAGAIN && !(t_load32(&me->task.next_tid) &
					   UMCG_TID_RUNNING));
		if (t_load32(&me->task.next_tid) !=
		    ((uint32_t)other->tid | UMCG_TID_RUNNING)) {
			fprintf(stderr, "server %d: next_tid %#x not written back\n",
				me->id, t_load32(&me->task.next_tid));
			return 1;
		}
		if (r == -ETIMEDOUT && c + 1 >= ROUNDS)
			return 0;
		if (r != 0) {
			fprintf(stderr, "server %d: wait %d\n", me->id, r);
			return 1;
		}
	}
}

static void *s2_thread(void *arg)
{
	(void)arg;
	if (t_server_init(&s2, 2, CLOCK_MONOTONIC) != 0) {
		atomic_store(&pp_fail, 1);
		atomic_store(&s2_ready, -1);
		return NULL;
	}
	/* Sleep until s1 names us the first time. */
	if (t_set_cond_wait(&s2.task) != 0)
		atomic_store(&pp_fail, 1);
	atomic_store(&s2_ready, 1);
	if (umcg_wait(0, t_after(s2.clock, 20 * T_SEC)) != 0)
		atomic_store(&pp_fail, 1);
	else if (pingpong_side(&s2, &s1, 1))
		atomic_store(&pp_fail, 1);
	t_server_fini(&s2);
	return NULL;
}

static int test_server_pingpong(void)
{
	pthread_t th;
	uint64_t t0, t1;

	T_CHECK(t_server_init(&s1, 1, CLOCK_MONOTONIC) == 0, "register");
	T_CHECK(pthread_create(&th, NULL, s2_thread, NULL) == 0, "thread");
	while (atomic_load(&s2_ready) == 0)
		;
	T_CHECK(atomic_load(&s2_ready) == 1, "s2 failed to register");
	while (umcg_task_state(&s2.task) != UMCG_TASK_RUNNABLE)
		;	/* s2 entered its wait */
	t0 = t_now(CLOCK_MONOTONIC);
	T_CHECK(pingpong_side(&s1, &s2, 0) == 0, "s1 side failed");
	t1 = t_now(CLOCK_MONOTONIC);
	pthread_join(th, NULL);
	T_CHECK(!atomic_load(&pp_fail), "s2 side failed");
	T_CHECK(atomic_load(&token) == ROUNDS, "token %d, want %d",
		atomic_load(&token), ROUNDS);
	printf("server<->server via next_tid: %llu ns per switch\n",
	       (unsigned long long)((t1 - t0) / ROUNDS));
	t_server_fini(&s1);
	return 0;
}

/* ---- next_tid with UMCG_TID_RUNNING: the server only checks it runs ---- */

static int spin_until_go(struct t_worker *w)
{
	(void)w;
	while (!atomic_load(&helper_go))
		;
	return t_yield() != 0;
}

static atomic_int phase;

/* Kick s1 in its first wait; release W during its second wait. */
static void *kick_then_release(void *arg)
{
	(void)arg;
	while (umcg_task_state(&s1.task) != UMCG_TASK_RUNNABLE)
		;
	atomic_store(&helper_done, umcg_kick(0, s1.tid) ? -errno : 1);
	while (atomic_load(&phase) != 2)
		;
	while (umcg_task_state(&s1.task) != UMCG_TASK_RUNNABLE)
		;
	atomic_store(&helper_go, 1);
	return NULL;
}

static int test_tid_running_only_checks(void)
{
	struct t_worker *w;
	pthread_t th;
	uint32_t st, wt;
	int r;

	atomic_store(&helper_go, 0);
	atomic_store(&helper_done, 0);
	atomic_store(&phase, 1);
	T_CHECK(t_server_init(&s1, 1, CLOCK_MONOTONIC) == 0, "register");
	w = t_worker_spawn(&s1, spin_until_go, NULL);
	T_CHECK(t_queued(&s1, w),
		"worker not queued");
	wt = (uint32_t)w->tid;
	T_CHECK(pthread_create(&th, NULL, kick_then_release, NULL) == 0, "thread");
	/* Run W; the helper's kick wakes us while W still spins. */
	T_CHECK_OK(t_server_wait(&s1, wt, t_after(s1.clock, 20 * T_SEC)));
	T_CHECK(t_load32(&s1.task.next_tid) == (wt | UMCG_TID_RUNNING),
		"next_tid %#x", t_load32(&s1.task.next_tid));
	st = umcg_task_state(&w->task);
	T_CHECK(st == UMCG_TASK_RUNNING, "worker state %#x while it spins", st);
	/* Wait naming W | RUNNING: it only checks W runs; W yields later. */
	atomic_store(&phase, 2);
	do {
		r = t_server_wait(&s1, wt | UMCG_TID_RUNNING,
				  t_after(s1.clock, 20 * T_SEC));
		T_CHECK(r == 0 || r == -EAGAIN, "wait: %d", r);
		st = umcg_task_state(&w->task);
	} while (st == UMCG_TASK_RUNNING);
	pthread_join(th, NULL);
	T_CHECK(atomic_load(&helper_done) == 1, "kick failed");
	T_CHECK(st == UMCG_TASK_RUNNABLE, "worker state %#x after yield", st);
	T_CHECK(t_queued(&s1, w),
		"yielded worker not queued");
	T_CHECK(t_run_expect(&s1, w, UMCG_TASK_NONE),
		"worker did not exit");
	T_CHECK(t_workers_failed(&s1) == 0, "worker failed");
	t_server_fini(&s1);
	return 0;
}

/* ---- a server runs a worker until it exits ---- */

#define YIELDS 50

static int yielding_worker(struct t_worker *w)
{
	for (int i = 0; i < YIELDS; i++) {
		atomic_fetch_add(&w->data[0], 1);
		if (t_yield() != 0)
			return 1;
	}
	return 0;
}

static int test_run_until_exit(void)
{
	struct t_worker *w;
	int n;

	T_CHECK(t_server_init(&s1, 1, CLOCK_MONOTONIC) == 0, "register");
	w = t_worker_spawn(&s1, yielding_worker, NULL);
	T_CHECK(w, "spawn");
	T_CHECK(t_server_run(&s1) == 0, "server loop failed");
	n = t_log_len(&s1.log);
	T_CHECK(t_log_count(&s1.log, T_EV_RUNNABLE, 0) == YIELDS,
		"server saw %d yields, want %d", t_log_count(&s1.log, T_EV_RUNNABLE, 0),
		YIELDS);
	T_CHECK(t_log_count(&s1.log, T_EV_RUN, 0) == YIELDS + 1,
		"server ran it %d times, want %d", t_log_count(&s1.log, T_EV_RUN, 0),
		YIELDS + 1);
	T_CHECK(n > 0 && s1.log.ev[n - 1].kind == T_EV_EXIT,
		"last event is not the exit");
	T_CHECK(t_log_count(&s1.log, T_EV_EXIT, 0) == 1, "exit seen %d times",
		t_log_count(&s1.log, T_EV_EXIT, 0));
	T_CHECK(atomic_load(&w->data[0]) == YIELDS, "worker counted %ld",
		atomic_load(&w->data[0]));
	t_server_fini(&s1);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 90);
	T_RUN(test_kick_wakes_waiting_server, nfail);
	T_RUN(test_kick_wakes_forever_wait, nfail);
	T_RUN(test_kick_before_wait, nfail);
	T_RUN(test_server_pingpong, nfail);
	T_RUN(test_tid_running_only_checks, nfail);
	T_RUN(test_run_until_exit, nfail);
	return t_finish(nfail);
}
