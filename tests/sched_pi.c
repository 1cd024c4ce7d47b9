/* SPDX-License-Identifier: MIT */
/*
 * Description: priority inheritance in the scheduler toolkit, for
 * umcg_mutex and for pthread mutexes taken by workers, under the prio
 * policy on one server (so that who runs is decided by the policy alone):
 *  - the classic inversion: low L holds the lock and is preempted by
 *    medium M, which computes; high H waits for the lock.  With
 *    inheritance L runs (at H's priority) and H gets the lock while M is
 *    still computing; without it (attr.priority_inherit = 0, the control)
 *    H gets it only after M finished;
 *  - a chain of two: H waits for B's mutex, B for C's: C runs at H's
 *    priority, then B, then H, all before M is done;
 *  - inheritance ends at unlock: an owner of two mutexes is lent the
 *    highest waiter of those it still holds, and nothing once it holds
 *    none;
 *  - no inheritance across schedulers: a waiter of another scheduler lends
 *    nothing (pthread mutexes only: a umcg_mutex is for the workers of
 *    one scheduler).
 * And lock-holder preemption deferral: with prio's holder_grace_ns, a
 * worker holding a umcg_mutex at its slice end runs on to its unlock;
 * without, it is preempted.
 * Every property is an ordering or a priority read back; M's computing
 * ends when H got the lock, or after a bound (10 s where inheritance
 * should never need it, 100 ms where the test wants the inversion to show),
 * so no assertion depends on how fast the machine is.
 */
#include <pthread.h>
#include <stdlib.h>
#include <umcg_sched.h>

#include "t_helpers.h"

enum { LOW = 0, MID = 1, HIGH = 2 };
enum lock_kind { K_UMCG, K_PTHREAD };

static struct {
	enum lock_kind kind;
	struct umcg_mutex um[2];
	pthread_mutex_t pm[2];
	uint64_t mid_bound_ns;
	atomic_int l_locked, m_started, m_done, m_timed_out, h_got, h_saw_m_done;
	atomic_int b_locked;
	atomic_int eff_in, eff_after, eff_b_in, eff_b_after, eff_one_left;
	struct umcg_worker *_Atomic low;
} ctx;

static void ctx_reset(enum lock_kind kind, uint64_t mid_bound_ns)
{
	memset(&ctx, 0, sizeof(ctx));
	ctx.kind = kind;
	ctx.mid_bound_ns = mid_bound_ns;
	for (int i = 0; i < 2; i++) {
		umcg_mutex_init(&ctx.um[i]);
		pthread_mutex_init(&ctx.pm[i], NULL);
	}
	atomic_store(&ctx.eff_in, -1);
	atomic_store(&ctx.eff_after, -1);
	atomic_store(&ctx.eff_b_in, -1);
	atomic_store(&ctx.eff_b_after, -1);
	atomic_store(&ctx.eff_one_left, -1);
}

static void lock(int i)
{
	if (ctx.kind == K_UMCG)
		umcg_mutex_lock(&ctx.um[i]);
	else
		pthread_mutex_lock(&ctx.pm[i]);
}

static void unlock(int i)
{
	if (ctx.kind == K_UMCG)
		umcg_mutex_unlock(&ctx.um[i]);
	else
		pthread_mutex_unlock(&ctx.pm[i]);
}

/* Somebody waits for lock @i (a umcg_mutex says so in its state; for a
 * pthread mutex the waiter announced it just before it locked). */
static bool has_waiter(int i, atomic_int *announced)
{
	if (ctx.kind == K_UMCG)
		return atomic_load(&ctx.um[i].__state) == 2;
	return atomic_load(announced) != 0;
}

static int self_eff(void)
{
	return umcg_worker_effective_priority(umcg_worker_self());
}

static struct umcg_sched *make(int inherit)
{
	struct umcg_policy_prio_arg pa = { .nr_classes = 3, .preempt_on_wake = true };
	struct umcg_sched_attr a;
	struct umcg_sched *s = NULL;

	umcg_sched_attr_init(&a);
	a.policy = umcg_policy_prio;
	a.policy_arg = &pa;
	a.nr_servers = 1;
	a.priority_inherit = inherit;
	if (umcg_sched_create(&s, &a))
		return NULL;
	return s;
}

static int spawn(struct umcg_sched *s, struct umcg_worker **w,
		 void *(*fn)(void *), int prio)
{
	struct umcg_worker_attr wa;

	umcg_worker_attr_init(&wa);
	wa.priority = prio;
	return umcg_worker_spawn(s, w, fn, NULL, &wa);
}

/* Poll a flag from the main thread; false after 20 s (the watchdog is
 * longer: this way the case says what it waited for). */
static bool await(atomic_int *flag)
{
	for (int i = 0; i < 20000 && !atomic_load(flag); i++)
		t_msleep(1);
	return atomic_load(flag) != 0;
}

/* ---- The workers ------------------------------------------------------ */

/* M: computes (never blocks, never yields) until H got the lock, or the
 * bound passed. */
static void *mid(void *arg)
{
	uint64_t end = t_now(CLOCK_MONOTONIC) + ctx.mid_bound_ns;

	(void)arg;
	atomic_store(&ctx.m_started, 1);
	while (!atomic_load(&ctx.h_got))
		if (t_now(CLOCK_MONOTONIC) > end) {
			atomic_store(&ctx.m_timed_out, 1);
			break;
		}
	atomic_store(&ctx.m_done, 1);
	return NULL;
}

/* H: waits for lock 0. */
static void *high(void *arg)
{
	(void)arg;
	atomic_store(&ctx.b_locked, 1);	/* "about to wait", for pthread */
	lock(0);
	atomic_store(&ctx.h_saw_m_done, atomic_load(&ctx.m_done));
	atomic_store(&ctx.h_got, 1);
	unlock(0);
	return NULL;
}

/* L: holds lock 0 across M's arrival (which preempts it) and H's. */
static void *low(void *arg)
{
	(void)arg;
	lock(0);
	atomic_store(&ctx.l_locked, 1);
	/* Only a preemption by M ends this; then we run again only when the
	 * policy chooses us over M. */
	while (!atomic_load(&ctx.m_started))
		;
	while (!has_waiter(0, &ctx.b_locked))
		;
	atomic_store(&ctx.eff_in, self_eff());
	unlock(0);
	while (!atomic_load(&ctx.h_got))
		;	/* H preempts us once it can run */
	atomic_store(&ctx.eff_after, self_eff());
	return NULL;
}

/* ---- The classic inversion ------------------------------------------------ */

static int inversion(enum lock_kind kind, int inherit)
{
	struct umcg_worker *w[3];
	struct umcg_sched *s;

	ctx_reset(kind, inherit ? 10 * T_SEC : 100 * T_MS);
	s = make(inherit);
	T_CHECK(s, "create");
	T_CHECK_OK(spawn(s, &w[0], low, LOW));
	T_CHECK(await(&ctx.l_locked), "L never locked");
	T_CHECK_OK(spawn(s, &w[1], mid, MID));
	T_CHECK(await(&ctx.m_started), "M never ran: it did not preempt L");
	T_CHECK_OK(spawn(s, &w[2], high, HIGH));
	for (int i = 0; i < 3; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_destroy(s));
	if (inherit) {
		T_CHECK(!atomic_load(&ctx.h_saw_m_done),
			"H got the lock only after M's work: inversion not solved");
		T_CHECK(!atomic_load(&ctx.m_timed_out), "M ran out its bound");
		T_CHECK(atomic_load(&ctx.eff_in) == HIGH,
			"L ran its critical section at %d, want %d",
			atomic_load(&ctx.eff_in), HIGH);
		T_CHECK(atomic_load(&ctx.eff_after) == LOW,
			"L is still lent %d after its unlock",
			atomic_load(&ctx.eff_after));
	} else {
		/* The control: this scenario does invert. */
		T_CHECK(atomic_load(&ctx.h_saw_m_done),
			"without inheritance H still got the lock before M was done");
		T_CHECK(atomic_load(&ctx.eff_in) == LOW,
			"without inheritance L ran at %d", atomic_load(&ctx.eff_in));
	}
	return 0;
}

static int test_umcg_inversion_solved(void)
{
	return inversion(K_UMCG, 1);
}

static int test_umcg_inversion_without_inheritance(void)
{
	return inversion(K_UMCG, 0);
}

static int test_pthread_inversion_solved(void)
{
	return inversion(K_PTHREAD, 1);
}

static int test_pthread_inversion_without_inheritance(void)
{
	return inversion(K_PTHREAD, 0);
}

/* ---- A chain of two: H -> lock 0 (B) -> lock 1 (C) ------------------------- */

static atomic_int c_announced, c_saw_b;

static void *chain_c(void *arg)
{
	(void)arg;
	lock(1);
	atomic_store(&ctx.l_locked, 1);
	/* Let B run (same class, FIFO) until it waits for lock 1. */
	while (!has_waiter(1, &c_announced))
		umcg_worker_yield();
	atomic_store(&c_saw_b, 1);
	while (!atomic_load(&ctx.m_started))
		;	/* M preempts us */
	while (!has_waiter(0, &ctx.b_locked))
		;
	atomic_store(&ctx.eff_in, self_eff());
	unlock(1);
	while (!atomic_load(&ctx.h_got))
		umcg_worker_yield();
	atomic_store(&ctx.eff_after, self_eff());
	return NULL;
}

static void *chain_b(void *arg)
{
	(void)arg;
	lock(0);
	atomic_store(&c_announced, 1);
	lock(1);
	/* C handed lock 1 over; H still waits for our lock 0. */
	atomic_store(&ctx.eff_b_in, self_eff());
	unlock(1);
	unlock(0);
	while (!atomic_load(&ctx.h_got))
		umcg_worker_yield();
	atomic_store(&ctx.eff_b_after, self_eff());
	return NULL;
}

static int chain(enum lock_kind kind)
{
	struct umcg_worker *w[4];
	struct umcg_sched *s;

	ctx_reset(kind, 10 * T_SEC);
	atomic_store(&c_announced, 0);
	atomic_store(&c_saw_b, 0);
	s = make(1);
	T_CHECK(s, "create");
	T_CHECK_OK(spawn(s, &w[0], chain_c, LOW));
	T_CHECK(await(&ctx.l_locked), "C never locked");
	T_CHECK_OK(spawn(s, &w[1], chain_b, LOW));
	T_CHECK(await(&c_saw_b), "B never waited for C's lock");
	T_CHECK_OK(spawn(s, &w[2], mid, MID));
	T_CHECK(await(&ctx.m_started), "M never ran");
	T_CHECK_OK(spawn(s, &w[3], high, HIGH));
	for (int i = 0; i < 4; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_destroy(s));
	T_CHECK(!atomic_load(&ctx.h_saw_m_done),
		"H got the lock only after M's work: the chain was not followed");
	T_CHECK(atomic_load(&ctx.eff_in) == HIGH, "C ran at %d, want %d",
		atomic_load(&ctx.eff_in), HIGH);
	T_CHECK(atomic_load(&ctx.eff_b_in) == HIGH, "B ran at %d, want %d",
		atomic_load(&ctx.eff_b_in), HIGH);
	T_CHECK(atomic_load(&ctx.eff_after) == LOW, "C lent %d after unlock",
		atomic_load(&ctx.eff_after));
	T_CHECK(atomic_load(&ctx.eff_b_after) == LOW, "B lent %d after unlock",
		atomic_load(&ctx.eff_b_after));
	return 0;
}

static int test_umcg_chain_of_two(void)
{
	return chain(K_UMCG);
}

static int test_pthread_chain_of_two(void)
{
	return chain(K_PTHREAD);
}

/* ---- Inheritance ends at unlock (umcg, two mutexes held) ------------------ */

static atomic_int x_announced;

/* X (MID): waits for lock 1. */
static void *waiter_mid(void *arg)
{
	(void)arg;
	atomic_store(&x_announced, 1);
	lock(1);
	unlock(1);
	return NULL;
}

static void *holder_of_two(void *arg)
{
	(void)arg;
	lock(0);
	lock(1);
	atomic_store(&ctx.l_locked, 1);
	while (!has_waiter(1, &x_announced))
		;	/* X preempts us, waits, lends MID */
	atomic_store(&ctx.eff_one_left, self_eff());
	atomic_store(&ctx.m_started, 1);	/* main: spawn H now */
	while (!has_waiter(0, &ctx.b_locked))
		;	/* H preempts us, waits, lends HIGH */
	atomic_store(&ctx.eff_in, self_eff());
	unlock(0);	/* H runs and finishes, then we're back */
	atomic_store(&ctx.eff_b_in, self_eff());	/* still lent by X */
	unlock(1);
	atomic_store(&ctx.eff_after, self_eff());
	return NULL;
}

static int test_umcg_inheritance_ends_at_unlock(void)
{
	struct umcg_worker *w[3];
	struct umcg_sched *s;

	ctx_reset(K_UMCG, 0);
	atomic_store(&x_announced, 0);
	s = make(1);
	T_CHECK(s, "create");
	T_CHECK_OK(spawn(s, &w[0], holder_of_two, LOW));
	T_CHECK(await(&ctx.l_locked), "L never locked");
	T_CHECK_OK(spawn(s, &w[1], waiter_mid, MID));
	T_CHECK(await(&ctx.m_started), "L never saw X wait");
	T_CHECK_OK(spawn(s, &w[2], high, HIGH));
	for (int i = 0; i < 3; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_destroy(s));
	T_CHECK(atomic_load(&ctx.eff_one_left) == MID, "lent %d by X, want %d",
		atomic_load(&ctx.eff_one_left), MID);
	T_CHECK(atomic_load(&ctx.eff_in) == HIGH, "lent %d by H and X, want %d",
		atomic_load(&ctx.eff_in), HIGH);
	T_CHECK(atomic_load(&ctx.eff_b_in) == MID,
		"lent %d after lock 0 went to H, want X's %d",
		atomic_load(&ctx.eff_b_in), MID);
	T_CHECK(atomic_load(&ctx.eff_after) == LOW, "lent %d holding nothing",
		atomic_load(&ctx.eff_after));
	return 0;
}

/* ---- No inheritance across schedulers ------------------------------------- */

static void *low_across(void *arg)
{
	(void)arg;
	atomic_store(&ctx.low, umcg_worker_self());
	lock(0);
	atomic_store(&ctx.l_locked, 1);
	while (!atomic_load(&ctx.m_started))
		;
	unlock(0);
	return NULL;
}

static int test_pthread_no_inheritance_across_schedulers(void)
{
	enum lock_kind kind = K_PTHREAD;
	struct umcg_worker *w[3];
	struct umcg_sched *a, *b;
	int seen = -1;

	ctx_reset(kind, 300 * T_MS);
	a = make(1);
	b = make(1);
	T_CHECK(a && b, "create");
	T_CHECK_OK(spawn(a, &w[0], low_across, LOW));
	T_CHECK(await(&ctx.l_locked), "L never locked");
	T_CHECK_OK(spawn(a, &w[1], mid, MID));
	T_CHECK(await(&ctx.m_started), "M never ran");
	T_CHECK_OK(spawn(b, &w[2], high, HIGH));	/* the other scheduler */
	/* While H waits and M computes, L must stay at its own priority. */
	while (!atomic_load(&ctx.m_done)) {
		if (has_waiter(0, &ctx.b_locked)) {
			int p = umcg_worker_effective_priority(atomic_load(&ctx.low));

			if (p > seen)
				seen = p;
		}
		t_msleep(1);
	}
	for (int i = 0; i < 3; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_destroy(a));
	T_CHECK_OK(umcg_sched_destroy(b));
	T_CHECK(seen == LOW, "L was lent %d by another scheduler's waiter", seen);
	T_CHECK(atomic_load(&ctx.h_saw_m_done),
		"H got the lock before M was done: L ran above M");
	return 0;
}

/* ---- Lock-holder preemption deferral ---------------------------------------- */

static atomic_int other_ran, holder_saw_other;
static struct umcg_sched *_Atomic slice_sched;

static bool someone_queued(void)
{
	struct umcg_server_stats st;

	return !umcg_sched_stats(atomic_load(&slice_sched), &st) && st.queued > 0;
}

/* A: holds the mutex across its slice end; with a grace it is not
 * preempted until its unlock, which then gives the CPU to B. */
static void *slice_holder(void *arg)
{
	int grace = (int)(intptr_t)arg;
	uint64_t end;

	umcg_mutex_lock(&ctx.um[0]);
	atomic_store(&ctx.l_locked, 1);
	while (!someone_queued() && !atomic_load(&other_ran))
		;	/* B is spawned and waits for the CPU (or ran) */
	/* 200 ms: a hundred slices; the grace (10 s) covers it, a bound on the
	 * control (no grace) waits for B instead. */
	end = t_now(CLOCK_MONOTONIC) + (grace ? 200 * T_MS : 10 * T_SEC);
	while (t_now(CLOCK_MONOTONIC) < end && !(!grace && atomic_load(&other_ran)))
		;
	atomic_store(&holder_saw_other, atomic_load(&other_ran));
	umcg_mutex_unlock(&ctx.um[0]);
	return NULL;
}

static void *slice_other(void *arg)
{
	(void)arg;
	atomic_store(&other_ran, 1);
	return NULL;
}

static int deferral(int grace)
{
	struct umcg_policy_prio_arg pa = {
		.nr_classes = 1, .slice_ns = 2 * T_MS, .preempt_on_wake = true,
		.holder_grace_ns = grace ? 10 * T_SEC : 0,
	};
	struct umcg_sched_attr a;
	struct umcg_worker *w[2];
	struct umcg_sched *s = NULL;

	ctx_reset(K_UMCG, 0);
	atomic_store(&other_ran, 0);
	atomic_store(&holder_saw_other, 0);
	umcg_sched_attr_init(&a);
	a.policy = umcg_policy_prio;
	a.policy_arg = &pa;
	a.nr_servers = 1;
	T_CHECK_OK(umcg_sched_create(&s, &a));
	atomic_store(&slice_sched, s);
	T_CHECK_OK(umcg_worker_spawn(s, &w[0], slice_holder,
				     (void *)(intptr_t)grace, NULL));
	T_CHECK(await(&ctx.l_locked), "A never locked");
	T_CHECK_OK(umcg_worker_spawn(s, &w[1], slice_other, NULL, NULL));
	for (int i = 0; i < 2; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_destroy(s));
	if (grace) {
		T_CHECK(!atomic_load(&holder_saw_other),
			"B ran while A held the mutex, within A's grace");
	} else {
		T_CHECK(atomic_load(&holder_saw_other),
			"without a grace A was never preempted at its slice end");
	}
	return 0;
}

static int test_holder_grace_defers_slice_preemption(void)
{
	return deferral(1);
}

static int test_no_grace_preempts_holder(void)
{
	return deferral(0);
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 120);
	T_RUN(test_umcg_inversion_solved, nfail);
	T_RUN(test_umcg_inversion_without_inheritance, nfail);
	T_RUN(test_umcg_chain_of_two, nfail);
	T_RUN(test_umcg_inheritance_ends_at_unlock, nfail);
	T_RUN(test_pthread_inversion_solved, nfail);
	T_RUN(test_pthread_inversion_without_inheritance, nfail);
	T_RUN(test_pthread_chain_of_two, nfail);
	T_RUN(test_pthread_no_inheritance_across_schedulers, nfail);
	T_RUN(test_holder_grace_defers_slice_preemption, nfail);
	T_RUN(test_no_grace_preempts_holder, nfail);
	return t_finish(nfail);
}
