/* SPDX-License-Identifier: MIT */
/*
 * Description: bits 16-31 of a worker's state belong to user space, and
 * the three transitions nobody asked for in user code keep them: a
 * preemption (RUNNING|TF_PREEMPT -> RUNNABLE, queued), a timed sleep that
 * runs out (queued, then ETIMEDOUT), and a claim (a parked worker named in
 * next_tid).  Each worker registers with the bits set, checks them itself
 * when it runs again, and exits with them (NONE | bits).
 */
#include "t_helpers.h"

#define UB 0x5a0000u

static struct t_server s;

/* A worker of s registered with the user bits UB. */
static struct t_worker *spawn_with_bits(t_worker_fn fn)
{
	struct t_worker *w;

	if (t_server_init(&s, 0, CLOCK_MONOTONIC) != 0)
		return NULL;
	w = t_worker_new(&s, fn, NULL);
	if (!w)
		return NULL;
	t_store32(&w->task.state, UMCG_TASK_BLOCKED | UB);
	if (t_worker_start(w) != 0 || !t_queued(&s, w))
		return NULL;
	return w;
}

static int own_bits_ok(struct t_worker *w, const char *after)
{
	uint32_t st = umcg_task_state(&w->task);
	char b[64];

	if (st == (UMCG_TASK_RUNNING | UB))
		return 0;
	fprintf(stderr, "worker: state %s after %s, want RUNNING|%#x\n",
		t_state_str(st, b), after, UB);
	return 1;
}

/* ---- preemption ----------------------------------------------------------- */

static int spinner(struct t_worker *w)
{
	while (!atomic_load(&w->data[0]))
		;
	return own_bits_ok(w, "preemption");
}

static int test_preemption(void)
{
	struct t_worker *w = spawn_with_bits(spinner);
	uint32_t st, wt;
	char b[64];
	int r;

	T_CHECK(w, "setup");
	wt = (uint32_t)atomic_load(&w->tid);
	r = t_server_wait(&s, wt, t_after(s.clock, 5 * T_MS));
	T_CHECK(r == -ETIMEDOUT, "slice wait returned %d", r);
	T_CHECK(umcg_task_cas_state(&w->task, UMCG_TASK_RUNNING | UB,
				    UMCG_TASK_RUNNING | UMCG_TF_PREEMPT | UB),
		"cannot set TF_PREEMPT: state %s",
		t_state_str(umcg_task_state(&w->task), b));
	T_CHECK_OK(umcg_kick(0, (pid_t)wt));
	T_CHECK(t_queued(&s, w), "preempted worker not queued");
	st = umcg_task_state(&w->task);
	T_CHECK(st == (UMCG_TASK_RUNNABLE | UB), "preempted: state %s",
		t_state_str(st, b));
	atomic_store(&w->data[0], 1);
	T_CHECK(t_run_expect(&s, w, UB), "worker did not finish");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

/* ---- a timed sleep that runs out ---------------------------------------------- */

static int sleeper(struct t_worker *w)
{
	int r;

	t_store32(&w->task.next_tid, 0);
	if (t_set_cond_wait(&w->task) || umcg_kick(0, w->srv->tid) != 0)
		return 1;
	r = umcg_wait(0, t_after(w->srv->clock, 2 * T_MS)) ? errno : 0;
	if (r != ETIMEDOUT) {
		fprintf(stderr, "worker: timed wait: %d, want ETIMEDOUT\n", r);
		return 1;
	}
	return own_bits_ok(w, "a timeout");
}

static int test_timeout(void)
{
	struct t_worker *w = spawn_with_bits(sleeper);
	uint32_t st = 0;
	char b[64];

	T_CHECK(w, "setup");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	T_CHECK((st & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE && (st & UB) == UB,
		"parking: state %s", t_state_str(st, b));
	T_CHECK(t_queued(&s, w), "timed-out worker not queued");
	st = umcg_task_state(&w->task);
	T_CHECK(st == (UMCG_TASK_RUNNABLE | UB), "timed out: state %s",
		t_state_str(st, b));
	T_CHECK(t_run_expect(&s, w, UB), "worker did not finish");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

/* ---- a claim ---------------------------------------------------------------------- */

static int parker(struct t_worker *w)
{
	int r = t_park(T_FOREVER);

	if (r != 0) {
		fprintf(stderr, "worker: park: %d\n", r);
		return 1;
	}
	return own_bits_ok(w, "a claim");
}

static int test_claim(void)
{
	struct t_worker *w = spawn_with_bits(parker);
	uint32_t st = 0;
	char b[64];

	T_CHECK(w, "setup");
	T_CHECK(t_server_run_one(&s, w, &st) == 0, "run");
	T_CHECK(st == (UMCG_TASK_RUNNABLE | UB), "parked: state %s",
		t_state_str(st, b));
	/* Named while parked: claimed. */
	T_CHECK(t_run_expect(&s, w, UB), "claimed worker did not finish");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_preemption, nfail);
	T_RUN(test_timeout, nfail);
	T_RUN(test_claim, nfail);
	return t_finish(nfail);
}
