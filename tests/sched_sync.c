/* SPDX-License-Identifier: MIT */
/*
 * Description: the toolkit's worker primitives.  umcg_mutex excludes
 * (many workers on two servers, yielding inside the critical section);
 * waiters get the mutex in the order they asked for it, and the unlock
 * hands the CPU straight to the new owner (it runs before the unlocker
 * returns); a condition variable loses no wake-up (a ping-pong and a
 * producer/consumer that would hang, and trip the watchdog, if one were
 * lost); broadcast wakes every waiter; umcg_worker_sleep() sleeps at
 * least as asked; the calls refuse non-workers and non-owners.
 */
#include <stdlib.h>
#include <umcg_sched.h>

#include "t_helpers.h"

static struct {
	struct umcg_sched *s;
	struct umcg_mutex m;
	struct umcg_cond c, c2;
	long counter;
	atomic_int inside;
	atomic_int overlap;
	atomic_int n;
	int log[64];
	atomic_int flag;
	int turn;
	int slot, items_taken;
	long sum;
	atomic_int ready;
	int go;
} ctx;

static void log_ev(int v)
{
	int i = atomic_fetch_add(&ctx.n, 1);

	if (i < 64)
		ctx.log[i] = v;
}

static struct umcg_sched *make(const struct umcg_policy_ops *ops, int nr)
{
	struct umcg_sched_attr a;
	struct umcg_sched *s = NULL;

	umcg_sched_attr_init(&a);
	a.policy = ops;
	a.nr_servers = nr;
	return umcg_sched_create(&s, &a) ? NULL : s;
}

static int spawn_join(int n, void *(*fn)(void *))
{
	struct umcg_worker *w[16];

	for (int i = 0; i < n; i++)
		T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[i], fn, (void *)(intptr_t)i, NULL));
	for (int i = 0; i < n; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	return 0;
}

/* ---- Mutual exclusion ------------------------------------------------------- */

#define EXCL_WORKERS 8
#define EXCL_ITERS 3000

static void *excl_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < EXCL_ITERS; i++) {
		umcg_mutex_lock(&ctx.m);
		if (atomic_fetch_add(&ctx.inside, 1) != 0)
			atomic_store(&ctx.overlap, 1);
		ctx.counter++;
		if (i % 64 == 0)
			umcg_worker_yield();	/* let others pile up on the lock */
		atomic_fetch_sub(&ctx.inside, 1);
		umcg_mutex_unlock(&ctx.m);
	}
	return NULL;
}

static int test_mutex_excludes(void)
{
	memset(&ctx, 0, sizeof(ctx));
	ctx.s = make(umcg_policy_fifo, 2);
	T_CHECK(ctx.s, "create");
	if (spawn_join(EXCL_WORKERS, excl_worker))
		return T_EXIT_FAIL;
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	T_CHECK(!atomic_load(&ctx.overlap), "two workers inside the mutex at once");
	T_CHECK(ctx.counter == EXCL_WORKERS * EXCL_ITERS, "counter %ld, want %d",
		ctx.counter, EXCL_WORKERS * EXCL_ITERS);
	return 0;
}

/* ---- Handoff order and the direct switch ----------------------------------- */

/*
 * One server, FIFO.  Worker 0 takes the mutex and yields until 1, 2 and 3
 * have asked for it (each logs 10+i, then blocks in lock).  Worker 0
 * unlocks and logs 99 once its unlock returned.  Each waiter logs 20+i on
 * getting the mutex and unlocks.  Want: 11 12 13 (the order of asking,
 * also the FIFO run order), then 21 before 99 (the unlock switched to the
 * first waiter at once), and 21 22 23 in the order of asking.
 */
static void *order_worker(void *arg)
{
	int id = (int)(intptr_t)arg;

	if (id == 0) {
		umcg_mutex_lock(&ctx.m);
		atomic_store(&ctx.flag, 1);
		while (atomic_load(&ctx.ready) < 3)
			umcg_worker_yield();
		umcg_mutex_unlock(&ctx.m);
		log_ev(99);
		return NULL;
	}
	while (!atomic_load(&ctx.flag))
		umcg_worker_yield();
	log_ev(10 + id);
	atomic_fetch_add(&ctx.ready, 1);
	umcg_mutex_lock(&ctx.m);
	log_ev(20 + id);
	umcg_mutex_unlock(&ctx.m);
	return NULL;
}

static int test_mutex_handoff_order(void)
{
	int asked[3], got[3], na = 0, ng = 0, pos99 = -1, pos_first = -1;

	memset(&ctx, 0, sizeof(ctx));
	ctx.s = make(umcg_policy_fifo, 1);
	T_CHECK(ctx.s, "create");
	if (spawn_join(4, order_worker))
		return T_EXIT_FAIL;
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	for (int i = 0; i < atomic_load(&ctx.n); i++) {
		int v = ctx.log[i];

		if (v >= 10 && v < 20 && na < 3)
			asked[na++] = v - 10;
		else if (v >= 20 && v < 30 && ng < 3) {
			if (pos_first < 0)
				pos_first = i;
			got[ng++] = v - 20;
		} else if (v == 99)
			pos99 = i;
	}
	T_CHECK(na == 3 && ng == 3 && pos99 >= 0, "log incomplete (%d asked, %d got)", na, ng);
	for (int i = 0; i < 3; i++)
		T_CHECK(asked[i] == got[i], "waiter %d asked #%d but got the mutex as #%d",
			asked[i], i, i);
	T_CHECK(pos_first < pos99, "the unlocker ran on before the new owner:"
		" no direct switch");
	return 0;
}

/* ---- Condition variable: no lost wake-up ------------------------------------- */

#define PINGS 2000

static void *ping_pong(void *arg)
{
	int me = (int)(intptr_t)arg;

	for (int i = 0; i < PINGS; i++) {
		umcg_mutex_lock(&ctx.m);
		while (ctx.turn != me)
			umcg_cond_wait(&ctx.c, &ctx.m);
		ctx.turn = 1 - me;
		ctx.counter++;
		umcg_cond_signal(&ctx.c);
		umcg_mutex_unlock(&ctx.m);
	}
	return NULL;
}

static int test_cond_ping_pong(void)
{
	memset(&ctx, 0, sizeof(ctx));
	ctx.s = make(umcg_policy_fifo, 2);
	T_CHECK(ctx.s, "create");
	if (spawn_join(2, ping_pong))
		return T_EXIT_FAIL;
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	T_CHECK(ctx.counter == 2 * PINGS, "counter %ld", ctx.counter);
	return 0;
}

/* A one-slot queue: producers wait on c2 ("slot free"), consumers on c. */
#define ITEMS 3000

static void *producer(void *arg)
{
	(void)arg;
	for (int i = 1; i <= ITEMS; i++) {
		umcg_mutex_lock(&ctx.m);
		while (ctx.slot)
			umcg_cond_wait(&ctx.c2, &ctx.m);
		ctx.slot = i;
		umcg_cond_signal(&ctx.c);
		umcg_mutex_unlock(&ctx.m);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	for (;;) {
		umcg_mutex_lock(&ctx.m);
		while (!ctx.slot && ctx.items_taken < 2 * ITEMS)
			umcg_cond_wait(&ctx.c, &ctx.m);
		if (ctx.items_taken >= 2 * ITEMS) {
			umcg_mutex_unlock(&ctx.m);
			return NULL;
		}
		ctx.sum += ctx.slot;
		ctx.slot = 0;
		if (++ctx.items_taken == 2 * ITEMS)
			umcg_cond_broadcast(&ctx.c);	/* release the other consumer */
		umcg_cond_signal(&ctx.c2);
		umcg_mutex_unlock(&ctx.m);
	}
}

static int test_cond_producer_consumer(void)
{
	struct umcg_worker *w[4];

	memset(&ctx, 0, sizeof(ctx));
	ctx.s = make(umcg_policy_global, 2);
	T_CHECK(ctx.s, "create");
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[0], producer, NULL, NULL));
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[1], producer, NULL, NULL));
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[2], consumer, NULL, NULL));
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[3], consumer, NULL, NULL));
	for (int i = 0; i < 4; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	T_CHECK(ctx.sum == 2L * ITEMS * (ITEMS + 1) / 2, "sum %ld", ctx.sum);
	return 0;
}

/* ---- Broadcast ------------------------------------------------------------------ */

static void *bcast_waiter(void *arg)
{
	(void)arg;
	umcg_mutex_lock(&ctx.m);
	atomic_fetch_add(&ctx.ready, 1);
	while (!ctx.go)
		umcg_cond_wait(&ctx.c, &ctx.m);
	ctx.counter++;
	umcg_mutex_unlock(&ctx.m);
	return NULL;
}

static void *bcaster(void *arg)
{
	(void)arg;
	while (atomic_load(&ctx.ready) < 6)
		umcg_worker_yield();
	/* Once without the mutex (direct switches), ... */
	umcg_mutex_lock(&ctx.m);
	ctx.go = 1;
	umcg_mutex_unlock(&ctx.m);
	umcg_cond_broadcast(&ctx.c);
	return NULL;
}

static int test_cond_broadcast_wakes_all(void)
{
	struct umcg_worker *w[7];

	memset(&ctx, 0, sizeof(ctx));
	ctx.s = make(umcg_policy_fifo, 2);
	T_CHECK(ctx.s, "create");
	for (int i = 0; i < 6; i++)
		T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[i], bcast_waiter, NULL, NULL));
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[6], bcaster, NULL, NULL));
	for (int i = 0; i < 7; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	T_CHECK(ctx.counter == 6, "%ld of 6 waiters woke", ctx.counter);
	return 0;
}

static void *bcaster_locked(void *arg)
{
	(void)arg;
	while (atomic_load(&ctx.ready) < 6)
		umcg_worker_yield();
	/* ... and once with it held (waiters move onto the mutex). */
	umcg_mutex_lock(&ctx.m);
	ctx.go = 1;
	umcg_cond_broadcast(&ctx.c);
	umcg_mutex_unlock(&ctx.m);
	return NULL;
}

static int test_cond_broadcast_under_mutex(void)
{
	struct umcg_worker *w[7];

	memset(&ctx, 0, sizeof(ctx));
	ctx.s = make(umcg_policy_fifo, 2);
	T_CHECK(ctx.s, "create");
	for (int i = 0; i < 6; i++)
		T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[i], bcast_waiter, NULL, NULL));
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[6], bcaster_locked, NULL, NULL));
	for (int i = 0; i < 7; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	T_CHECK(ctx.counter == 6, "%ld of 6 waiters woke", ctx.counter);
	return 0;
}

/* ---- Sleep, yield, errors ------------------------------------------------------- */

static void *sleeper(void *arg)
{
	uint64_t t0 = t_now(CLOCK_MONOTONIC);

	(void)arg;
	if (umcg_worker_sleep(5 * T_MS) != 0)
		return (void *)1;
	/* A lower bound is the contract; how much later is not. */
	if (t_now(CLOCK_MONOTONIC) - t0 < 5 * T_MS)
		return (void *)2;
	if (umcg_worker_yield() != 0)
		return (void *)3;
	return NULL;
}

static int test_sleep_and_yield(void)
{
	struct umcg_worker *w[3];
	void *ret;

	memset(&ctx, 0, sizeof(ctx));
	ctx.s = make(umcg_policy_fifo, 1);
	T_CHECK(ctx.s, "create");
	for (int i = 0; i < 3; i++)
		T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[i], sleeper, NULL, NULL));
	for (int i = 0; i < 3; i++) {
		T_CHECK_OK(umcg_worker_join(w[i], &ret));
		T_CHECK(ret == NULL, "sleeper %d failed step %ld", i, (long)(intptr_t)ret);
	}
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	return 0;
}

static void *misuse(void *arg)
{
	long bad = 0;

	(void)arg;
	if (umcg_mutex_unlock(&ctx.m) != -EPERM)
		bad |= 1;
	if (umcg_mutex_trylock(&ctx.m) != 0)
		bad |= 2;
	if (umcg_mutex_lock(&ctx.m) != -EDEADLK)
		bad |= 4;
	atomic_store(&ctx.flag, 1);
	while (atomic_load(&ctx.ready) == 0)
		umcg_worker_yield();
	umcg_mutex_unlock(&ctx.m);
	return (void *)bad;
}

static void *trylocker(void *arg)
{
	long bad = 0;

	(void)arg;
	while (!atomic_load(&ctx.flag))
		umcg_worker_yield();
	if (umcg_mutex_trylock(&ctx.m) != -EBUSY)
		bad |= 8;
	if (umcg_mutex_unlock(&ctx.m) != -EPERM)
		bad |= 16;
	atomic_store(&ctx.ready, 1);
	return (void *)bad;
}

static int test_errors(void)
{
	struct umcg_worker *w[2];
	void *r0, *r1;

	memset(&ctx, 0, sizeof(ctx));
	T_CHECK(umcg_worker_self() == NULL, "main thread is no worker");
	T_CHECK(umcg_mutex_lock(&ctx.m) == -EPERM, "lock outside a worker");
	T_CHECK(umcg_cond_signal(&ctx.c) == -EPERM, "signal outside a worker");
	T_CHECK(umcg_worker_yield() == -EPERM, "yield outside a worker");
	T_CHECK(umcg_worker_sleep(1) == -EPERM, "sleep outside a worker");
	T_CHECK(umcg_sched_create(NULL, NULL) == -EINVAL, "create NULL");
	ctx.s = make(umcg_policy_fifo, 2);
	T_CHECK(ctx.s, "create");
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[0], misuse, NULL, NULL));
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[1], trylocker, NULL, NULL));
	T_CHECK_OK(umcg_worker_join(w[0], &r0));
	T_CHECK_OK(umcg_worker_join(w[1], &r1));
	T_CHECK(umcg_worker_join(w[1], NULL) == -EINVAL, "joined twice");
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	T_CHECK(r0 == NULL && r1 == NULL, "misuse answers wrong: mask %ld",
		(long)(intptr_t)r0 | (long)(intptr_t)r1);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 100);
	T_RUN(test_errors, nfail);
	T_RUN(test_mutex_excludes, nfail);
	T_RUN(test_mutex_handoff_order, nfail);
	T_RUN(test_cond_ping_pong, nfail);
	T_RUN(test_cond_producer_consumer, nfail);
	T_RUN(test_cond_broadcast_wakes_all, nfail);
	T_RUN(test_cond_broadcast_under_mutex, nfail);
	T_RUN(test_sleep_and_yield, nfail);
	return t_finish(nfail);
}
