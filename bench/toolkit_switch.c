// SPDX-License-Identifier: MIT
/*
 * toolkit_switch: the scheduler toolkit's own switches, with its default
 * attributes, against the raw ABI in the same run.
 *
 *  toolkit_yield          two toolkit workers of one server take turns with
 *                         umcg_worker_yield(); one operation is A's yield to
 *                         B's return from its own.  Baseline: the raw ABI's
 *                         yield through a server (bench/b_sched.c, as in
 *                         yield_via_server), in the same process.
 *  toolkit_mutex_handoff  two toolkit workers contend for one umcg_mutex:
 *                         the holder yields, the other one parks in
 *                         umcg_mutex_lock(), the holder unlocks.  One sample:
 *                         the clock just before umcg_mutex_unlock() to the
 *                         waiter's return from umcg_mutex_lock().  Baseline:
 *                         one raw futex handoff, timed the same way.
 *
 * toolkit_yield is not pinned to one CPU like the other programs: its
 * scheduler is created with NULL attributes (one
 * server per CPU, each pinned to its CPU, workers as the defaults say)
 * before the main thread pins itself, and its workers are spawned with the
 * process's affinity, as in any toolkit program.  Both workers start on
 * the server of the benchmark CPU.  toolkit_mutex_handoff uses a second
 * scheduler, also with NULL attributes, created after the pinning as in
 * every other program here: one server, one CPU (with two servers the
 * unlocker, runnable while the waiter holds its CPU, is taken by the idle
 * one, and the two workers then race on two CPUs: the samples measure
 * that race more than the handoff).  Between batches the workers sleep in
 * a hooked futex wait (a block).
 */
#include <errno.h>
#include <sched.h>
#include <umcg_sched.h>
#include "bench.h"

#define YIELD_OPS	200	/* operations per batch */
#define HANDOFFS	50	/* mutex handoff samples per run */
#define ROUNDS		150
#define PER_ROUND	2

enum mode { M_YIELD, M_MUTEX, M_EXIT };

/* A scheduler and its two workers, driven by the main thread. */
struct pair {
	struct umcg_sched *sched;
	struct umcg_worker *w[2];
	struct bench_baton go[2], done;
	_Atomic int mode, arrived, left;
	struct umcg_mutex mutex;
	_Atomic uint64_t t_unlock;
	_Atomic unsigned handoffs_left;
	struct bench_series *out;
};

struct pair_arg {
	struct pair *p;
	int i;
};

static struct bench_sched raw_server;
static struct bench_worker raw_workers[2];
static struct bench_batch batch;
static struct pair spread, one;

/* A baton wait that the backend sees as a block (its server runs on). */
static void blocking_wait(struct bench_baton *b)
{
	umcg_sys_enter();
	bench_baton_wait(b);
	umcg_sys_exit();
}

/* Both workers of the batch are queued or running before it starts. */
static void meet(struct pair *p)
{
	atomic_fetch_add(&p->arrived, 1);
	while (atomic_load(&p->arrived) < 2)
		umcg_worker_yield();
}

static void yield_batch(void)
{
	while (!bench_batch_over(&batch)) {
		bench_batch_tick(&batch);
		umcg_worker_yield();
	}
}

static void mutex_batch(struct pair *p)
{
	for (;;) {
		uint64_t before = bench_now(), after;

		umcg_mutex_lock(&p->mutex);
		after = bench_now();
		/* Unlocked while we waited: that unlock handed it to us. */
		if (atomic_load(&p->t_unlock) > before) {
			if (p->out)
				bench_series_add(p->out,
						 (double)(after - p->t_unlock));
			atomic_fetch_sub(&p->handoffs_left, 1);
		}
		if (!atomic_load(&p->handoffs_left)) {
			umcg_mutex_unlock(&p->mutex);
			return;
		}
		/* Hold it while the other one comes and parks on it. */
		umcg_worker_yield();
		atomic_store(&p->t_unlock, bench_now());
		umcg_mutex_unlock(&p->mutex);
	}
}

static void *pair_worker(void *arg)
{
	struct pair_arg *a = arg;
	struct pair *p = a->p;

	for (;;) {
		blocking_wait(&p->go[a->i]);
		switch (atomic_load(&p->mode)) {
		case M_YIELD:
			meet(p);
			yield_batch();
			break;
		case M_MUTEX:
			meet(p);
			mutex_batch(p);
			break;
		default:
			return NULL;
		}
		if (atomic_fetch_add(&p->left, 1) == 1)
			bench_baton_pass(&p->done);
	}
}

static void pair_run(struct pair *p, enum mode m)
{
	atomic_store(&p->mode, m);
	atomic_store(&p->arrived, 0);
	atomic_store(&p->left, 0);
	bench_baton_pass(&p->go[0]);
	bench_baton_pass(&p->go[1]);
	if (m != M_EXIT)
		bench_baton_wait(&p->done);
}

/* The server whose CPU is @cpu (the benchmark's), else server 0. */
static int server_on(struct umcg_sched *s, int cpu)
{
	for (int i = 0; i < umcg_sched_nr_servers(s); i++)
		if (umcg_server_cpu(umcg_sched_server(s, i)) == cpu)
			return i;
	return 0;
}

static void pair_start(struct pair *p, int cpu)
{
	static struct pair_arg args[4];
	static int nargs;
	struct umcg_worker_attr wa;
	int r;

	umcg_mutex_init(&p->mutex);
	umcg_worker_attr_init(&wa);
	wa.server = server_on(p->sched, cpu);
	for (int i = 0; i < 2; i++) {
		args[nargs] = (struct pair_arg){ p, i };
		r = umcg_worker_spawn(p->sched, &p->w[i], pair_worker,
				      &args[nargs++], &wa);
		if (r) {
			errno = -r;
			bench_die("umcg_worker_spawn");
		}
	}
}

static void pair_stop(struct pair *p)
{
	pair_run(p, M_EXIT);
	umcg_sched_destroy(p->sched);
}

static void run_tk_yield(struct bench_series *out)
{
	bench_batch_reset(&batch, YIELD_OPS);
	pair_run(&spread, M_YIELD);
	if (out)
		bench_series_add(out, bench_batch_ns(&batch));
}

static void raw_fn(struct bench_worker *self)
{
	for (;;) {
		bench_batch_tick(&batch);
		bench_worker_yield(self);
	}
}

static enum bench_phase raw_phase(struct bench_sched *s, void *arg)
{
	(void)arg;
	if (!bench_batch_over(&batch))
		return BENCH_GO;
	return s->qlen == 2 ? BENCH_RETURN : BENCH_HOLD;
}

static void run_raw_yield(struct bench_series *out)
{
	bench_batch_reset(&batch, YIELD_OPS);
	bench_sched_run(&raw_server, NULL, raw_phase, NULL);
	if (out)
		bench_series_add(out, bench_batch_ns(&batch));
}

static void run_mutex(struct pair *p, struct bench_series *out)
{
	p->out = out;
	atomic_store(&p->t_unlock, 0);
	atomic_store(&p->handoffs_left, HANDOFFS);
	pair_run(p, M_MUTEX);
}

static void run_tk_mutex(struct bench_series *out)
{
	run_mutex(&one, out);
}

static void run_handoff(struct bench_series *out)
{
	bench_handoff_latency(HANDOFFS, out);
}

static void sched_create(struct umcg_sched **s)
{
	int r = umcg_sched_create(s, NULL);

	if (r) {
		errno = -r;
		bench_die("umcg_sched_create");
	}
}

int main(void)
{
	static void (*const yield_fns[])(struct bench_series *) = {
		run_tk_yield, run_raw_yield,
	};
	static void (*const mutex_fns[])(struct bench_series *) = {
		run_tk_mutex, run_handoff,
	};
	struct bench_series yres[2] = { { 0 } }, mres[2] = { { 0 } };
	cpu_set_t all;
	int cpu;

	if (sched_getaffinity(0, sizeof(all), &all))
		bench_die("sched_getaffinity");
	sched_create(&spread.sched);
	cpu = bench_pin();
	sched_create(&one.sched);
	bench_note("cpu %d, backend %s, toolkit servers %d and %d", cpu,
		   umcg_backend_name(), umcg_sched_nr_servers(spread.sched),
		   umcg_sched_nr_servers(one.sched));
	pair_start(&one, cpu);
	/* Spawn with the process's affinity, as a toolkit program would. */
	if (sched_setaffinity(0, sizeof(all), &all))
		bench_die("sched_setaffinity");
	pair_start(&spread, cpu);
	bench_pin();

	bench_sched_init(&raw_server);
	for (int i = 0; i < 2; i++)
		bench_worker_start(&raw_server, &raw_workers[i], raw_fn, NULL);


	bench_interleave(bench_scaled(ROUNDS), PER_ROUND, 2, yield_fns, yres);
	bench_report("toolkit_yield", &yres[0], &yres[1]);
	bench_interleave(bench_scaled(ROUNDS), PER_ROUND, 2, mutex_fns, mres);
	bench_report("toolkit_mutex_handoff", &mres[0], &mres[1]);

	pair_stop(&one);
	pair_stop(&spread);
	return 0;
}
