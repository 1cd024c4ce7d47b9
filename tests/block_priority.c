/* SPDX-License-Identifier: MIT */
/*
 * Description: umcg_set_block_priority().  Out-of-range priorities are
 * refused with -EINVAL and leave the setting alone.  With a priority set,
 * on the emul backend a worker that blocks in a hooked call runs
 * SCHED_FIFO at that priority while it is blocked (another worker of the
 * same server looks at it then), and gets its own policy back, custom
 * EEVDF slice included, once it runs again; a bracket the worker makes
 * itself does the same.  With 0 nothing changes.  The kernel backend
 * ignores the setting: there the blocked worker keeps its policy.
 */
#include <sched.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "t_helpers.h"

/* struct sched_attr of sched_setattr(2), version 0. */
struct attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

#define PRIO	3
#define SLICE	700000ULL	/* a custom slice the worker must get back */

static struct t_server s;

static int get_attr(pid_t tid, struct attr *a)
{
	return (int)syscall(SYS_sched_getattr, tid, a, sizeof(*a), 0);
}

/* The boost we expect on this backend for a blocked worker, or none. */
static bool expect_boost(void)
{
	return umcg_backend() == UMCG_BACKEND_EMUL && umcg_block_priority() > 0;
}

static int test_errors(void)
{
	int max = sched_get_priority_max(SCHED_FIFO);

	T_CHECK(umcg_set_block_priority(0) == 0, "0");
	T_CHECK(umcg_set_block_priority(-1) == -EINVAL, "-1 accepted");
	T_CHECK(umcg_set_block_priority(max + 1) == -EINVAL, "%d accepted",
		max + 1);
	T_CHECK(umcg_block_priority() == 0, "a refused value changed it: %d",
		umcg_block_priority());
	T_CHECK(umcg_set_block_priority(max) == 0, "%d refused", max);
	T_CHECK(umcg_block_priority() == max, "got %d", umcg_block_priority());
	T_CHECK(umcg_set_block_priority(0) == 0, "back to 0");
	return 0;
}

/* Worker 0: a custom slice, then a hooked sleep while worker 1 looks. */
static int sleeper(struct t_worker *w)
{
	struct attr a = { .size = sizeof(a), .policy = SCHED_OTHER,
			  .runtime = SLICE };
	struct attr now = { 0 };
	bool slice_ok;

	if (syscall(SYS_sched_setattr, 0, &a, 0) != 0) {
		fprintf(stderr, "sleeper: sched_setattr: %s\n", strerror(errno));
		return 1;
	}
	/* Slices are Linux 6.12+; an older kernel reports 0 back. */
	slice_ok = get_attr(0, &now) == 0 && now.runtime == SLICE;
	atomic_store(&w->data[0], 1);
	t_msleep(200);		/* hooked: declared, worker 1 runs */
	if (get_attr(0, &now) != 0) {
		fprintf(stderr, "sleeper: sched_getattr: %s\n", strerror(errno));
		return 1;
	}
	if (now.policy != SCHED_OTHER || (slice_ok && now.runtime != SLICE)) {
		fprintf(stderr, "sleeper: policy %u slice %llu after the block, "
			"want %u %llu\n", now.policy,
			(unsigned long long)now.runtime, SCHED_OTHER,
			(unsigned long long)SLICE);
		return 1;
	}
	/* A bracket of our own: boosted inside, restored after. */
	umcg_sys_enter();
	get_attr(0, &now);
	umcg_sys_exit();
	if (expect_boost() ? now.policy != SCHED_FIFO || now.priority != PRIO :
			     now.policy != SCHED_OTHER) {
		fprintf(stderr, "sleeper: policy %u prio %u inside a bracket\n",
			now.policy, now.priority);
		return 1;
	}
	get_attr(0, &now);
	if (now.policy != SCHED_OTHER) {
		fprintf(stderr, "sleeper: policy %u after the bracket\n",
			now.policy);
		return 1;
	}
	atomic_store(&w->data[1], 1);
	return 0;
}

/* Worker 1: while worker 0 is BLOCKED, read its policy. */
static int looker(struct t_worker *w)
{
	struct t_worker *sl = s.w[0];
	struct attr a = { 0 };

	/* (a sleeper that failed early is done: do not wait for it) */
	while ((!atomic_load(&sl->data[0]) ||
		t_state(&sl->task) != UMCG_TASK_BLOCKED) && !atomic_load(&sl->done))
		if (t_yield() != 0)
			return 1;
	if (get_attr(atomic_load(&sl->tid), &a) != 0) {
		fprintf(stderr, "looker: sched_getattr: %s\n", strerror(errno));
		return 1;
	}
	atomic_store(&w->data[2], a.policy);
	atomic_store(&w->data[3], a.priority);
	while (!atomic_load(&sl->data[1]) && !atomic_load(&sl->done))
		if (t_yield() != 0)
			return 1;
	return 0;
}

static int run_pair(int prio)
{
	struct t_worker *lk;

	T_CHECK(umcg_set_block_priority(prio) == 0, "set %d", prio);
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	T_CHECK(t_worker_spawn(&s, sleeper, NULL), "spawn");
	T_CHECK((lk = t_worker_spawn(&s, looker, NULL)), "spawn");
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	if (expect_boost())
		T_CHECK(lk->data[2] == SCHED_FIFO && lk->data[3] == PRIO,
			"blocked worker ran policy %ld prio %ld, want FIFO %d",
			lk->data[2], lk->data[3], PRIO);
	else
		T_CHECK(lk->data[2] == SCHED_OTHER,
			"blocked worker ran policy %ld, want OTHER", lk->data[2]);
	t_server_fini(&s);
	T_CHECK(umcg_set_block_priority(0) == 0, "reset");
	return 0;
}

static int test_boost(void)
{
	return run_pair(PRIO);
}

static int test_off(void)
{
	return run_pair(0);
}

/* May this process use SCHED_FIFO at all?  Tried on the calling thread. */
static bool fifo_allowed(void)
{
	struct attr saved = { 0 };
	struct sched_param p = { .sched_priority = 1 };
	bool ok;

	if (get_attr(0, &saved) != 0)
		return false;
	ok = sched_setscheduler(0, SCHED_FIFO, &p) == 0;
	if (ok)
		syscall(SYS_sched_setattr, 0, &saved, 0);
	return ok;
}

int main(void)
{
	int nfail = 0;

	t_init("block_priority", 60);
	T_RUN(test_errors, nfail);
	if (fifo_allowed())
		T_RUN(test_boost, nfail);
	else
		t_skip("test_boost", "this process may not use SCHED_FIFO "
		       "(needs CAP_SYS_NICE or RLIMIT_RTPRIO)");
	T_RUN(test_off, nfail);
	return t_finish(nfail);
}
