/* SPDX-License-Identifier: MIT */
/*
 * Description: successful registration and unregistration.  A server
 * registers RUNNING at once.  A new worker becomes RUNNABLE (runnable_ts
 * on the registration clock, blocked_ts left alone), is pushed on its
 * server's list, wakes the server and returns only once run; the server's
 * next_tid gets UMCG_TID_RUNNING.  While registered, the worker cannot
 * register again, nor unregister with the wrong task or role.  Unregister
 * moves a worker to NONE and wakes its server; the worker may register
 * again.  User bits of the state word survive every transition.
 */
#include <stdlib.h>
#include <unistd.h>

#include "t_helpers.h"

static const clockid_t clocks[] = { CLOCK_REALTIME, CLOCK_MONOTONIC,
				    CLOCK_BOOTTIME, CLOCK_TAI };

/* Worker: state and fields as seen from inside; failing re-registrations. */
static int checking_worker(struct t_worker *w)
{
	struct umcg_task *other = t_task_alloc();
	uint32_t st = umcg_task_state(&w->task);
	int bad = 0;

	if (st != UMCG_TASK_RUNNING) {
		fprintf(stderr, "worker: state %#x when it runs\n", st);
		bad = 1;
	}
	if (w->task.server_tid != (uint32_t)w->srv->tid) {
		fprintf(stderr, "worker: server_tid changed to %u\n",
			w->task.server_tid);
		bad = 1;
	}
	umcg_task_init_worker(other, w->srv->tid);
	errno = 0;
	if (umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, other,
		     CLOCK_MONOTONIC) != -1 || errno != EINVAL) {
		fprintf(stderr, "worker: 2nd worker register: errno %d\n", errno);
		bad = 1;
	}
	umcg_task_init_server(other);
	errno = 0;
	if (umcg_ctl(UMCG_CTL_REGISTER, other, CLOCK_MONOTONIC) != -1 ||
	    errno != EINVAL) {
		fprintf(stderr, "worker: server register: errno %d\n", errno);
		bad = 1;
	}
	errno = 0;
	if (umcg_ctl(UMCG_CTL_UNREGISTER, &w->task, 0) != -1 || errno != EINVAL) {
		fprintf(stderr, "worker: unregister without WORKER: errno %d\n",
			errno);
		bad = 1;
	}
	errno = 0;
	if (umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, other, 0) != -1 ||
	    errno != EINVAL) {
		fprintf(stderr, "worker: unregister other task: errno %d\n",
			errno);
		bad = 1;
	}
	st = umcg_task_state(&w->task);
	if (st != UMCG_TASK_RUNNING) {
		fprintf(stderr, "worker: state %#x after failed calls\n", st);
		bad = 1;
	}
	free(other);
	atomic_store(&w->data[0], 1);
	return bad;
}

static int one_clock(clockid_t clock)
{
	struct t_server s;
	struct t_worker *w;
	struct umcg_task *head;
	uint64_t t0, t1, ts;
	uint32_t st = 0, nt;
	char b[64];

	T_CHECK(t_server_init(&s, 0, clock) == 0, "server register, clock %d",
		clock);
	T_CHECK(s.task.state == UMCG_TASK_RUNNING, "server state %#x",
		s.task.state);
	w = t_worker_new(&s, checking_worker, NULL);
	w->task.blocked_ts = 777;
	t0 = t_now(clock);
	T_CHECK(t_worker_start(w) == 0, "pthread_create");
	head = t_server_wait_list(&s, t_after(clock, 20 * T_SEC));
	t1 = t_now(clock);
	T_CHECK(head == &w->task, "list head %p, want the new worker %p",
		(void *)head, (void *)&w->task);
	T_CHECK(umcg_runnable_next(head) == NULL, "list has more than one entry");
	st = umcg_task_state(&w->task);
	T_CHECK(st == UMCG_TASK_RUNNABLE, "new worker queued in state %s",
		t_state_str(st, b));
	ts = t_load64(&w->task.runnable_ts);
	T_CHECK(ts >= t0 && ts <= t1,
		"clock %d: runnable_ts %llu not within [%llu, %llu]", clock,
		(unsigned long long)ts, (unsigned long long)t0,
		(unsigned long long)t1);
	T_CHECK(t_load64(&w->task.blocked_ts) == 777,
		"blocked_ts changed by registration: %llu",
		(unsigned long long)t_load64(&w->task.blocked_ts));
	T_CHECK(atomic_load(&w->data[0]) == 0, "worker ran before it was named");

	/* Run it until it unregisters: the server must be woken. */
	t_store32(&s.task.next_tid, (uint32_t)w->tid);
	T_CHECK(t_set_cond_wait(&s.task) == 0, "server not RUNNING");
	T_CHECK_OK(umcg_wait(0, t_after(clock, 20 * T_SEC)));
	nt = t_load32(&s.task.next_tid);
	T_CHECK(nt == ((uint32_t)w->tid | UMCG_TID_RUNNING),
		"server next_tid %#x, want %#x", nt,
		(uint32_t)w->tid | UMCG_TID_RUNNING);
	/*
	 * Woken by the worker's block or exit.  With hooks only, nothing it
	 * does can block; where detection is precise its way out may (a lock
	 * in the sanitizer's allocator, a page fault): then, BLOCKED or
	 * already RUNNABLE again, run it again once it is queued.
	 */
	for (int runs = 0; runs < 100; runs++) {
		st = umcg_task_state(&w->task);
		if (st == UMCG_TASK_RUNNING) {
			T_CHECK(t_set_cond_wait(&s.task) == 0, "server not RUNNING");
			if (umcg_wait(0, t_after(clock, 20 * T_SEC)) != 0)
				T_CHECK(errno == EAGAIN, "server wait: %s",
					strerror(errno));
			continue;
		}
		if (((st & UMCG_TASK_MASK) != UMCG_TASK_BLOCKED &&
		     (st & UMCG_TASK_MASK) != UMCG_TASK_RUNNABLE) ||
		    umcg_detection() == UMCG_DETECT_HOOKS)
			break;
		T_CHECK(t_server_wait_list(&s, t_after(clock, 20 * T_SEC)) ==
			&w->task, "blocked worker not queued again");
		t_store32(&s.task.next_tid, (uint32_t)w->tid);
		T_CHECK(t_set_cond_wait(&s.task) == 0, "server not RUNNING");
		if (umcg_wait(0, t_after(clock, 20 * T_SEC)) != 0)
			T_CHECK(errno == EAGAIN, "server wait: %s", strerror(errno));
	}
	T_CHECK(st == UMCG_TASK_NONE, "worker state %s after it returned",
		t_state_str(st, b));
	T_CHECK(atomic_load(&w->data[0]) == 1, "worker did not run");
	T_CHECK(s.task.state == UMCG_TASK_RUNNING, "server state %#x",
		s.task.state);
	T_CHECK(t_workers_failed(&s) == 0, "worker-side checks failed");
	T_CHECK_OK(umcg_ctl(UMCG_CTL_UNREGISTER, &s.task, 0));
	T_CHECK(s.task.state == UMCG_TASK_NONE, "server state %#x after unregister",
		s.task.state);
	t_server_fini(&s);
	return 0;
}

static int test_register_each_clock(void)
{
	for (unsigned i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++)
		if (one_clock(clocks[i]))
			return 1;
	return 0;
}

/* Unregister, register again (queued anew), return. */
static int reregistering_worker(struct t_worker *w)
{
	uint32_t st;

	if (umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, &w->task, 0)) {
		fprintf(stderr, "worker: unregister: %s\n", strerror(errno));
		return 1;
	}
	st = umcg_task_state(&w->task);
	if (st != UMCG_TASK_NONE) {
		fprintf(stderr, "worker: state %#x after unregister\n", st);
		return 1;
	}
	/* Unmanaged now: wait until the server has seen our NONE. */
	while (!atomic_load(&w->data[1]))
		;
	umcg_task_init_worker(&w->task, w->srv->tid);
	if (umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, &w->task,
		     w->srv->clock)) {
		fprintf(stderr, "worker: register again: %s\n", strerror(errno));
		return 1;
	}
	atomic_store(&w->data[0], 2);
	return 0;
}

static int test_reregister(void)
{
	struct t_server s;
	struct t_worker *w;
	uint32_t st = 0;

	w = t_setup_queued(&s, reregistering_worker, NULL);
	T_CHECK(w, "setup");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run 1");
	T_CHECK(st == UMCG_TASK_NONE, "after unregister: state %#x", st);
	atomic_store(&w->data[1], 1);
	T_CHECK(t_queued(&s, w),
		"re-registered worker not queued");
	T_CHECK(atomic_load(&w->data[0]) == 0, "registration returned before run");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run 2");
	T_CHECK(st == UMCG_TASK_NONE, "after 2nd unregister: state %#x", st);
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

/* User bits 16-31 set while RUNNING survive yield, block and unregister. */
static int pipe_fds[2];

static int userbits_worker(struct t_worker *w)
{
	uint32_t st = umcg_task_state(&w->task);
	char c;

	if (!umcg_task_cas_state(&w->task, st, st | 0x7a0000u))
		return 1;
	if (t_yield() != 0)
		return 2;
	if (umcg_task_state(&w->task) != (UMCG_TASK_RUNNING | 0x7a0000u))
		return 3;
	if (read(pipe_fds[0], &c, 1) != 1)	/* blocks: BLOCKED keeps the bits */
		return 5;
	if (umcg_task_state(&w->task) != (UMCG_TASK_RUNNING | 0x7a0000u))
		return 4;
	return 0;
}

static int test_user_bits(void)
{
	struct t_server s;
	struct t_worker *w;
	uint32_t st = 0;

	T_CHECK(pipe(pipe_fds) == 0, "pipe");
	w = t_setup_queued(&s, userbits_worker, NULL);
	T_CHECK(w, "setup");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	T_CHECK(st == (UMCG_TASK_RUNNABLE | 0x7a0000u), "yielded: state %#x", st);
	T_CHECK(t_queued(&s, w),
		"yielded worker not queued");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	T_CHECK(st == (UMCG_TASK_BLOCKED | 0x7a0000u), "blocked: state %#x", st);
	T_CHECK(write(pipe_fds[1], "u", 1) == 1, "write");
	T_CHECK(t_queued(&s, w),
		"woken worker not queued");
	st = umcg_task_state(&w->task);
	T_CHECK(st == (UMCG_TASK_RUNNABLE | 0x7a0000u), "woken: state %#x", st);
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	T_CHECK(st == 0x7a0000u, "exited: state %#x, want NONE|0x7a0000", st);
	T_CHECK(atomic_load(&w->result) == 0, "worker step %d failed",
		atomic_load(&w->result));
	t_server_fini(&s);
	return 0;
}

/* A worker may register with user bits: they are kept from the start. */
static int regbits_worker(struct t_worker *w)
{
	return umcg_task_state(&w->task) != (UMCG_TASK_RUNNING | 0x350000u);
}

static int test_register_with_user_bits(void)
{
	struct t_server s;
	struct t_worker *w;
	uint32_t st;

	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	w = t_worker_new(&s, regbits_worker, NULL);
	T_CHECK(w, "worker");
	t_store32(&w->task.state, UMCG_TASK_BLOCKED | 0x350000u);
	T_CHECK(t_worker_start(w) == 0, "worker thread");
	T_CHECK(t_queued(&s, w), "worker not queued");
	st = umcg_task_state(&w->task);
	T_CHECK(st == (UMCG_TASK_RUNNABLE | 0x350000u),
		"new worker queued in state %#x, want RUNNABLE|0x350000", st);
	T_CHECK(t_run_expect(&s, w, 0x350000u), "worker did not finish");
	T_CHECK(atomic_load(&w->result) == 0,
		"worker ran without its user bits");
	T_CHECK(atomic_load(&w->reg_errno) == 0, "registration: %s",
		strerror(atomic_load(&w->reg_errno)));
	t_server_fini(&s);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_register_each_clock, nfail);
	T_RUN(test_reregister, nfail);
	T_RUN(test_user_bits, nfail);
	T_RUN(test_register_with_user_bits, nfail);
	return t_finish(nfail);
}
