/* SPDX-License-Identifier: MIT */
/*
 * Description: block and wake notifications.  A worker that sleeps
 * (nanosleep) or reads an empty pipe becomes BLOCKED (blocked_ts written)
 * and its server is woken and runs another worker meanwhile; when the call
 * returns the worker becomes RUNNABLE (runnable_ts after blocked_ts), is
 * queued, wakes its server and continues only once run.  The server sees
 * the block and the wake in that order, and the other worker's work
 * (writing the pipe) in between.
 */
#include <unistd.h>

#include "t_helpers.h"

static struct t_server s;
static int pipe_fds[2];

/* Yield until @w has run at least once (so both are in the rotation). */
static int wait_for_run(struct t_worker *w)
{
	while (!atomic_load(&w->data[0]))
		if (t_yield() != 0)
			return 1;
	return 0;
}

static int sleeper(struct t_worker *w)
{
	uint64_t t0, t1, b, r;
	uint32_t st;

	if (wait_for_run(s.w[1]))
		return 1;
	t0 = t_now(s.clock);
	t_msleep(300);	/* long: the server must look while it sleeps */
	t1 = t_now(s.clock);
	st = umcg_task_state(&w->task);
	b = t_load64(&w->task.blocked_ts);
	r = t_load64(&w->task.runnable_ts);
	atomic_store(&w->data[1], 1);
	if (st != UMCG_TASK_RUNNING) {
		fprintf(stderr, "sleeper: state %#x after its sleep\n", st);
		return 1;
	}
	if (b < t0 || b > t1 || r < b || r > t1) {
		fprintf(stderr, "sleeper: blocked_ts %llu runnable_ts %llu not within "
			"[%llu, %llu] in that order\n", (unsigned long long)b,
			(unsigned long long)r, (unsigned long long)t0,
			(unsigned long long)t1);
		return 1;
	}
	return 0;
}

static int other(struct t_worker *w)
{
	atomic_store(&w->data[0], 1);
	while (!atomic_load(&s.w[0]->data[1])) {
		atomic_fetch_add(&w->data[2], 1);
		if (t_worker_check() || t_yield() != 0)
			return 1;
	}
	return 0;
}

static int test_sleep(void)
{
	int b, q, run;

	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	T_CHECK(t_worker_spawn(&s, sleeper, NULL), "spawn");
	T_CHECK(t_worker_spawn(&s, other, NULL), "spawn");
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	b = t_log_find(&s.log, 0, T_EV_BLOCKED, 0);
	q = b < 0 ? -1 : t_log_find(&s.log, b, T_EV_QUEUED, 0);
	run = b < 0 ? -1 : t_log_find(&s.log, b, T_EV_RUN, 1);
	if (b < 0 || q < 0 || run < 0 || run > q) {
		t_log_dump(&s.log, "test_sleep");
		T_FAIL("BLOCKED(w0) at %d, RUN(w1) at %d, QUEUED(w0) at %d: want "
		       "block < other runs < wake", b, run, q);
	}
	T_CHECK(t_log_count(&s.log, T_EV_BLOCKED, 0) == 1,
		"sleeper blocked %d times", t_log_count(&s.log, T_EV_BLOCKED, 0));
	T_CHECK(t_log_count(&s.log, T_EV_BLOCKED, 1) == 0,
		"the yielding worker was seen BLOCKED");
	t_server_fini(&s);
	return 0;
}

/* ---- read() on an empty pipe, written by the other worker ---- */

static int reader(struct t_worker *w)
{
	char c = 0;
	ssize_t n;

	atomic_store(&w->data[0], 1);
	if (wait_for_run(s.w[1]))
		return 1;
	n = read(pipe_fds[0], &c, 1);
	atomic_store(&w->data[1], 1);
	t_log_add(&s.log, T_EV_USER, w->idx, 2);	/* read returned */
	if (n != 1 || c != 'x') {
		fprintf(stderr, "reader: read %zd '%c'\n", n, c);
		return 1;
	}
	return t_worker_check();
}

static int writer(struct t_worker *w)
{
	struct t_worker *r = s.w[0];

	atomic_store(&w->data[0], 1);
	if (wait_for_run(r))
		return 1;
	/* Yield until the reader is blocked: then write. */
	while (t_state(&r->task) != UMCG_TASK_BLOCKED)
		if (t_yield() != 0)
			return 1;
	t_log_add(&s.log, T_EV_USER, w->idx, 1);	/* about to write */
	if (write(pipe_fds[1], "x", 1) != 1)
		return 1;
	while (!atomic_load(&r->data[1]))
		if (t_yield() != 0)
			return 1;
	return 0;
}

static int test_pipe(void)
{
	int b, wr, q, rd;

	T_CHECK(pipe(pipe_fds) == 0, "pipe");
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	T_CHECK(t_worker_spawn(&s, reader, NULL), "spawn");
	T_CHECK(t_worker_spawn(&s, writer, NULL), "spawn");
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	b = t_log_find(&s.log, 0, T_EV_BLOCKED, 0);
	wr = t_log_find(&s.log, 0, T_EV_USER, 1);
	q = wr < 0 ? -1 : t_log_find(&s.log, wr, T_EV_QUEUED, 0);
	rd = t_log_find(&s.log, 0, T_EV_USER, 0);
	if (b < 0 || wr < b || q < wr || rd < q) {
		t_log_dump(&s.log, "test_pipe");
		T_FAIL("BLOCKED(reader) %d, write %d, QUEUED(reader) %d, read "
		       "returned %d: want this order", b, wr, q, rd);
	}
	t_server_fini(&s);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_sleep, nfail);
	T_RUN(test_pipe, nfail);
	return t_finish(nfail);
}
