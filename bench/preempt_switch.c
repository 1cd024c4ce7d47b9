// SPDX-License-Identifier: MIT
/*
 * preempt_switch: the server preempts a spinning worker; how soon does the
 * next worker run?
 *
 * Worker A spins.  The server runs it with a timed umcg_wait() (a time
 * slice of SLICE_NS); when the slice is over, the server reads the clock,
 * sets UMCG_TF_PREEMPT in A's state (cmpxchg from RUNNING) and calls
 * umcg_kick(A).  A becomes RUNNABLE at its next return to user space (emul:
 * in a signal handler), is queued, and wakes the server, which runs worker
 * B.  One sample is the time from just before umcg_kick() to B's first
 * action after its umcg_wait() returns.  Then B yields and the next slice
 * starts.  Per-iteration samples, median.
 *
 * Baseline: one raw futex handoff timed the same way (see
 * bench_handoff_latency()).  No target: the number shows what a
 * time-slice preemption costs against the plain switch.  All threads on
 * one CPU; the two kinds are interleaved.
 */
#include <errno.h>
#include "bench.h"

#define SAMPLES		50	/* per run */
#define ROUNDS		40
#define PER_ROUND	1
#define SLICE_NS	20000

enum kind { PREEMPT, BASE, NKINDS };

static struct bench_sched server;
static struct bench_worker spinner, observer;

static _Atomic unsigned kicks;	/* kicks sent by the server */
static uint64_t t_kick;		/* clock before the latest one (kicks publishes) */
static struct bench_series *out_series;
static _Atomic unsigned samples;
static _Atomic unsigned long spins;

static void spinner_fn(struct bench_worker *self)
{
	(void)self;
	for (;;)
		atomic_fetch_add_explicit(&spins, 1, memory_order_relaxed);
}

static void observer_fn(struct bench_worker *self)
{
	unsigned last = 0;

	for (;;) {
		uint64_t t1 = bench_now();
		unsigned k = atomic_load(&kicks);

		if (k != last) {
			last = k;
			if (out_series)
				bench_series_add(out_series,
						 (double)(t1 - t_kick));
			samples++;
		}
		bench_worker_yield(self);
	}
}

/* Run the spinner until the slice is over: the server's timed wait. */
static void run_slice(void)
{
	uint64_t deadline = umcg_clock_ns(CLOCK_MONOTONIC) + SLICE_NS;

	atomic_store((_Atomic uint32_t *)&server.task.next_tid,
		     (uint32_t)atomic_load(&spinner.tid));
	for (;;) {
		if (!umcg_task_cas_state(&server.task, UMCG_TASK_RUNNING,
				UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT))
			bench_die("server state");
		/* 0: woken early; the wait goes on with the spinner running */
		if (umcg_wait(0, deadline) == 0 || errno == EAGAIN)
			continue;
		if (errno == ETIMEDOUT)
			return;
		bench_die("server umcg_wait (slice)");
	}
}

static enum bench_phase until_spinner_queued(struct bench_sched *s, void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < s->qlen; i++)
		if (s->queue[(s->qhead + i) % BENCH_MAX_WORKERS] == &spinner)
			return BENCH_RETURN;
	return BENCH_HOLD;
}

/* After the kick: run the observer once, then hold both in the FIFO. */
static enum bench_phase after_kick(struct bench_sched *s, void *arg)
{
	unsigned *want = arg;

	if (samples < *want)
		return BENCH_GO;
	return s->qlen == 2 ? BENCH_RETURN : BENCH_HOLD;
}

static void run_preempt(struct bench_series *out)
{
	out_series = out;
	samples = 0;
	for (unsigned want = 1; want <= SAMPLES; want++) {
		bench_sched_run(&server, NULL, until_spinner_queued, NULL);
		bench_sched_take(&server, &spinner);
		run_slice();
		if (!umcg_task_cas_state(&spinner.task, UMCG_TASK_RUNNING,
				UMCG_TASK_RUNNING | UMCG_TF_PREEMPT))
			bench_die("spinner is not RUNNING after its slice");
		t_kick = bench_now();
		atomic_fetch_add(&kicks, 1);	/* publishes t_kick */
		if (umcg_kick(0, atomic_load(&spinner.tid)))
			bench_die("umcg_kick");
		bench_sched_run(&server, NULL, after_kick, &want);
	}
}

static void run_baseline(struct bench_series *out)
{
	bench_handoff_latency(SAMPLES, out);
}

int main(void)
{
	static void (*const fns[NKINDS])(struct bench_series *) = {
		[PREEMPT] = run_preempt, [BASE] = run_baseline,
	};
	struct bench_series res[NKINDS] = { { 0 } };

	bench_note("cpu %d, backend %s", bench_pin(), umcg_backend_name());
	bench_sched_init(&server);
	bench_worker_start(&server, &observer, observer_fn, NULL);
	bench_worker_start(&server, &spinner, spinner_fn, NULL);
	bench_interleave(bench_scaled(ROUNDS), PER_ROUND, NKINDS, fns, res);
	bench_report("preempt_switch", &res[PREEMPT], &res[BASE]);
	return 0;
}
