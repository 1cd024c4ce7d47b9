/* SPDX-License-Identifier: MIT */
/*
 * Description: every error of umcg_wait(), in the order docs/semantics.md
 * checks them: flags (EINVAL), not registered (EINVAL), next_tid unknown
 * or of another process (ESRCH, before the state check), state not exactly
 * RUNNABLE|COND_WAIT (EAGAIN), next_tid with UMCG_TID_RUNNING not RUNNING,
 * next_tid a worker on another server's list, a worker or server that is
 * not RUNNABLE (EAGAIN), and ETIMEDOUT on each registration clock (never
 * before the deadline on that clock).  After every failure the caller's
 * state is RUNNING again, flags cleared, user bits kept, and next_tid is
 * exactly what it was (no UMCG_TID_RUNNING left by a wake that failed).
 * Step 4 fails before step 5 looks at next_tid: a worker named by a wait
 * in the wrong state is not started.  Bit 30 of next_tid is no part of the
 * tid: ignored, and kept in the write-back.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_helpers.h"

#define BOGUS_TID 0x3ffffff0

static struct umcg_task *server_task;

static int reg_server(clockid_t clock)
{
	server_task = t_task_alloc();
	umcg_task_init_server(server_task);
	T_CHECK_OK(umcg_ctl(UMCG_CTL_REGISTER, server_task, clock));
	return 0;
}

static int unreg_server(void)
{
	T_CHECK_OK(umcg_ctl(UMCG_CTL_UNREGISTER, server_task, 0));
	free(server_task);
	server_task = NULL;
	return 0;
}

/* Set state and next_tid, wait, expect @err and a RUNNING state after. */
static int wait_expect(uint32_t state, uint32_t next_tid, uint64_t timeout,
		       int err, int line)
{
	uint32_t user = state & 0xffff0000u, st;
	char b[64], b2[64];
	int r, e;

	t_store32(&server_task->next_tid, next_tid);
	t_store32(&server_task->state, state);
	errno = 0;
	r = umcg_wait(0, timeout);
	e = errno;
	st = umcg_task_state(server_task);
	if ((err == 0 && r != 0) || (err != 0 && (r != -1 || e != err)))
		T_FAIL("line %d: wait in state %s next_tid %#x: %d errno %d (%s), want errno %d (%s)",
		       line, t_state_str(state, b), next_tid, r, e, strerror(e),
		       err, strerror(err));
	if (st != (UMCG_TASK_RUNNING | user))
		T_FAIL("line %d: state %s after wait from %s, want RUNNING%s",
		       line, t_state_str(st, b), t_state_str(state, b2),
		       user ? " + user bits" : "");
	/*
	 * Exact: TID_RUNNING is written back only once the named task was
	 * woken, and a wake that failed takes it back (step 5).
	 */
	if (t_load32(&server_task->next_tid) != next_tid)
		T_FAIL("line %d: next_tid %#x changed to %#x", line, next_tid,
		       t_load32(&server_task->next_tid));
	return 0;
}

#define CW (UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT)
/* A timeout so that a wrongly started task gives a FAIL, not a hang. */
#define SOON t_after(CLOCK_MONOTONIC, 5 * T_SEC)
#define EXPECT(st, nt, to, err) \
	do { if (wait_expect(st, nt, to, err, __LINE__)) return 1; } while (0)

static int test_flags(void)
{
	T_CHECK_ERR(umcg_wait(1, 0), EINVAL);
	T_CHECK_ERR(umcg_wait(0x80000000u, 0), EINVAL);
	T_CHECK_ERR(umcg_wait(UMCG_TF_COND_WAIT, 1), EINVAL);
	if (reg_server(CLOCK_MONOTONIC))
		return 1;
	t_store32(&server_task->state, CW);
	T_CHECK_ERR(umcg_wait(1, 0), EINVAL);
	T_CHECK(umcg_task_state(server_task) == UMCG_TASK_RUNNING,
		"state %#x after EINVAL", umcg_task_state(server_task));
	/* Flags before ESRCH. */
	t_store32(&server_task->next_tid, BOGUS_TID);
	t_store32(&server_task->state, CW);
	T_CHECK_ERR(umcg_wait(2, 0), EINVAL);
	t_store32(&server_task->next_tid, 0);
	return unreg_server();
}

static int test_not_registered(void)
{
	T_CHECK_ERR(umcg_wait(0, 0), EINVAL);
	T_CHECK_ERR(umcg_wait(0, t_after(CLOCK_MONOTONIC, T_MS)), EINVAL);
	T_CHECK_ERR(umcg_wait(0, T_FOREVER), EINVAL);
	return 0;
}


static atomic_int idle_stop, idle_tid;

static void *idle_thread(void *arg)
{
	(void)arg;
	atomic_store(&idle_tid, t_gettid());
	while (!atomic_load(&idle_stop))
		t_msleep(1);
	return NULL;
}

static int test_esrch(void)
{
	int done_fd = -1;
	pid_t other = t_foreign_server(&done_fd);
	pthread_t th;

	T_CHECK(other > 0, "cannot start a server in a child process");
	if (reg_server(CLOCK_MONOTONIC))
		return 1;
	EXPECT(CW, BOGUS_TID, 0, ESRCH);
	EXPECT(CW, BOGUS_TID | UMCG_TID_RUNNING, 0, ESRCH);
	/* ESRCH comes before the state check. */
	EXPECT(UMCG_TASK_RUNNING, BOGUS_TID, 0, ESRCH);
	EXPECT(UMCG_TASK_RUNNABLE, BOGUS_TID, 0, ESRCH);
	/* A registered server of another process. */
	EXPECT(CW, (uint32_t)other, 0, ESRCH);
	EXPECT(CW, (uint32_t)other | UMCG_TID_RUNNING, 0, ESRCH);
	/* A live but unregistered thread of this process. */
	T_CHECK(pthread_create(&th, NULL, idle_thread, NULL) == 0, "thread");
	while (!atomic_load(&idle_tid))
		t_msleep(1);
	EXPECT(CW, (uint32_t)atomic_load(&idle_tid), SOON, ESRCH);
	atomic_store(&idle_stop, 1);
	pthread_join(th, NULL);
	T_CHECK(t_foreign_server_end(other, done_fd) == 0, "child server failed");
	t_store32(&server_task->next_tid, 0);
	return unreg_server();
}

static int test_eagain_state(void)
{
	if (reg_server(CLOCK_MONOTONIC))
		return 1;
	EXPECT(UMCG_TASK_RUNNING, 0, 0, EAGAIN);
	EXPECT(UMCG_TASK_RUNNABLE, 0, 0, EAGAIN);
	EXPECT(UMCG_TASK_RUNNING | UMCG_TF_COND_WAIT, 0, 0, EAGAIN);
	EXPECT(CW | UMCG_TF_PREEMPT, 0, 0, EAGAIN);
	EXPECT(UMCG_TASK_BLOCKED | UMCG_TF_COND_WAIT, 0, 0, EAGAIN);
	EXPECT(UMCG_TASK_RUNNABLE | 0x10000, 0, 0, EAGAIN);
	/* User bits are ignored: this one waits and times out. */
	EXPECT(CW | 0x30000, 0, t_after(CLOCK_MONOTONIC, T_MS), ETIMEDOUT);
	t_store32(&server_task->state, UMCG_TASK_RUNNING);
	/* Naming itself, even with TID_RUNNING: EINVAL (wait_name_self). */
	EXPECT(CW, (uint32_t)t_gettid() | UMCG_TID_RUNNING, 0, EINVAL);
	return unreg_server();
}

/* Each clock: ETIMEDOUT, and never before the deadline on that clock. */
static int test_etimedout_clocks(void)
{
	static const clockid_t clocks[] = { CLOCK_MONOTONIC, CLOCK_REALTIME,
					    CLOCK_BOOTTIME, CLOCK_TAI };

	for (unsigned i = 0; i < 4; i++) {
		uint64_t dl, now;

		if (reg_server(clocks[i]))
			return 1;
		EXPECT(CW, 0, 1, ETIMEDOUT);	/* long past */
		dl = t_after(clocks[i], 20 * T_MS);
		EXPECT(CW, 0, dl, ETIMEDOUT);
		now = t_now(clocks[i]);
		T_CHECK(now >= dl, "clock %d: ETIMEDOUT %llu ns before the deadline",
			clocks[i], (unsigned long long)(dl - now));
		if (unreg_server())
			return 1;
	}
	return 0;
}

/*
 * A second server S2 on a helper thread, with worker W: S2 runs W until W
 * yields (W is then on S2's list), and stays RUNNING until told to finish.
 */
static struct t_server s2;
static atomic_int s2_phase;	/* 1: W queued on S2; 2: finish; 3: done */
static struct t_worker *s2_w;
static atomic_int s2_fail, s2_w_result;

static int yield_once(struct t_worker *w)
{
	(void)w;
	return t_yield() != 0;
}

static void *s2_thread(void *arg)
{
	uint32_t st = 0;

	(void)arg;
	if (t_server_init(&s2, 2, CLOCK_MONOTONIC) != 0)
		goto fail;
	s2_w = t_worker_spawn(&s2, yield_once, NULL);
	if (t_server_wait_list(&s2, t_after(s2.clock, 20 * T_SEC)) != &s2_w->task)
		goto fail;
	if (t_server_run_one(&s2, s2_w, &st) ||
	    (st & UMCG_TASK_MASK) != UMCG_TASK_RUNNABLE)
		goto fail;
	atomic_store(&s2_phase, 1);
	while (atomic_load(&s2_phase) != 2)
		;	/* spin: S2 stays RUNNING */
	if (t_server_wait_list(&s2, t_after(s2.clock, 20 * T_SEC)) != &s2_w->task)
		goto fail;
	if (t_server_run_one(&s2, s2_w, &st) || st != UMCG_TASK_NONE)
		goto fail;
	atomic_store(&s2_w_result, atomic_load(&s2_w->result));
	t_server_fini(&s2);
	atomic_store(&s2_phase, 3);
	return NULL;
fail:
	atomic_store(&s2_fail, 1);
	atomic_store(&s2_phase, 3);
	return NULL;
}

static int test_eagain_next_tid(void)
{
	pthread_t th;
	uint32_t wt, s2t;

	if (reg_server(CLOCK_MONOTONIC))
		return 1;
	T_CHECK(pthread_create(&th, NULL, s2_thread, NULL) == 0, "thread");
	while (atomic_load(&s2_phase) == 0)
		t_msleep(1);
	T_CHECK(atomic_load(&s2_phase) == 1, "second server setup failed");
	wt = (uint32_t)atomic_load(&s2_w->tid);
	s2t = (uint32_t)s2.tid;
	/* W is RUNNABLE on S2's list: only S2 may take it. */
	EXPECT(CW, wt, SOON, EAGAIN);
	/* W is not RUNNING. */
	EXPECT(CW, wt | UMCG_TID_RUNNING, SOON, EAGAIN);
	/* S2 is RUNNING: it cannot be woken ... */
	EXPECT(CW, s2t, SOON, EAGAIN);
	/* ... but "still runs" holds: we wait, and time out. */
	EXPECT(CW, s2t | UMCG_TID_RUNNING, t_after(CLOCK_MONOTONIC, 2 * T_MS),
	       ETIMEDOUT);
	T_CHECK(t_state(&s2_w->task) == UMCG_TASK_RUNNABLE,
		"W's state changed to %#x by failed waits",
		umcg_task_state(&s2_w->task));
	atomic_store(&s2_phase, 2);
	pthread_join(th, NULL);
	T_CHECK(!atomic_load(&s2_fail), "second server failed");
	T_CHECK(atomic_load(&s2_w_result) == 0, "W failed");
	t_store32(&server_task->next_tid, 0);
	return unreg_server();
}

/* A worker of ours that is BLOCKED (in read()) is not RUNNABLE: EAGAIN. */
static int pipe_fds[2];

static int reading_worker(struct t_worker *w)
{
	char c;

	(void)w;
	return read(pipe_fds[0], &c, 1) != 1;
}

static int test_eagain_blocked_worker(void)
{
	struct t_server s;
	struct t_worker *w;
	uint32_t st = 0;
	char b[64];

	T_CHECK(pipe(pipe_fds) == 0, "pipe");
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "server register");
	server_task = &s.task;
	w = t_worker_spawn(&s, reading_worker, NULL);
	T_CHECK(t_queued(&s, w),
		"worker not queued");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	T_CHECK((st & UMCG_TASK_MASK) == UMCG_TASK_BLOCKED,
		"worker in read(): state %s, want BLOCKED", t_state_str(st, b));
	EXPECT(CW, (uint32_t)w->tid, SOON, EAGAIN);
	EXPECT(CW, (uint32_t)w->tid | UMCG_TID_RUNNING, SOON, EAGAIN);
	T_CHECK(write(pipe_fds[1], "x", 1) == 1, "write");
	T_CHECK(t_queued(&s, w),
		"woken worker not queued");
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE),
		"worker did not finish");
	T_CHECK(t_workers_failed(&s) == 0, "worker's read failed");
	t_server_fini(&s);
	server_task = NULL;
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	return 0;
}

static int exit_worker(struct t_worker *w)
{
	(void)w;
	return 0;
}

static int test_step4_before_step5(void)
{
	struct t_server s;
	struct t_worker *w = t_setup_queued(&s, exit_worker, NULL);
	uint32_t wt, bit30 = 0x40000000u;
	char b[64];
	int r;

	T_CHECK(w, "setup");
	server_task = &s.task;
	wt = (uint32_t)atomic_load(&w->tid);
	/* Our own RUNNABLE worker, off the list: runnable, but not from here. */
	EXPECT(UMCG_TASK_RUNNING, wt, SOON, EAGAIN);
	EXPECT(UMCG_TASK_RUNNABLE, wt, SOON, EAGAIN);
	EXPECT(UMCG_TASK_RUNNING | UMCG_TF_COND_WAIT | 0x20000, wt, SOON, EAGAIN);
	T_CHECK(umcg_task_state(&w->task) == UMCG_TASK_RUNNABLE,
		"worker named by waits that failed at step 4: state %s",
		t_state_str(umcg_task_state(&w->task), b));
	r = t_server_wait(&s, wt | bit30, SOON);
	T_CHECK(r == 0, "naming %#x (bit 30 set): %d (%s)", wt | bit30, r,
		strerror(-r));
	T_CHECK(t_load32(&s.task.next_tid) == (wt | bit30 | UMCG_TID_RUNNING),
		"next_tid %#x, want %#x", t_load32(&s.task.next_tid),
		wt | bit30 | UMCG_TID_RUNNING);
	T_CHECK(t_state(&w->task) == UMCG_TASK_NONE,
		"worker woke us in state %s, want NONE (it exited)",
		t_state_str(umcg_task_state(&w->task), b));
	t_store32(&s.task.next_tid, 0);
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	server_task = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_flags, nfail);
	T_RUN(test_not_registered, nfail);
	T_RUN(test_esrch, nfail);
	T_RUN(test_eagain_state, nfail);
	T_RUN(test_etimedout_clocks, nfail);
	T_RUN(test_eagain_next_tid, nfail);
	T_RUN(test_eagain_blocked_worker, nfail);
	T_RUN(test_step4_before_step5, nfail);
	return t_finish(nfail);
}
