// SPDX-License-Identifier: MIT
/*
 * yield_via_server: worker A yields, its server runs worker B.
 *
 * Two workers of one server take turns: each, when it runs, ticks the
 * batch and yields (state RUNNABLE|UMCG_TF_COND_WAIT, umcg_wait(0, 0)).  The
 * yield queues it and wakes the server, which takes its runnable list and
 * runs the other worker through next_tid.  One operation is A's yield to
 * B's return from its own umcg_wait(): two context switches, A -> server
 * -> B.
 *
 * Baseline: the same relay with raw futexes: A' passes a baton to the main
 * thread, which passes one to B' (two futex wake+wait handoffs).  All
 * threads on one CPU.  Median of per-batch means; batches interleaved.
 */
#include <stdio.h>
#include "bench.h"

#define OPS		200	/* operations per batch */
#define ROUNDS		200
#define PER_ROUND	3

static struct bench_sched server;
static struct bench_worker workers[2];
static struct bench_relay relays[2];
static struct bench_baton main_baton;
static struct bench_batch batch;

static void worker_fn(struct bench_worker *self)
{
	for (;;) {
		bench_batch_tick(&batch);
		bench_worker_yield(self);
	}
}

static enum bench_phase phase(struct bench_sched *s, void *arg)
{
	(void)arg;
	if (!bench_batch_over(&batch))
		return BENCH_GO;
	return s->qlen == 2 ? BENCH_RETURN : BENCH_HOLD;
}

static void run_umcg(struct bench_series *out)
{
	bench_batch_reset(&batch, OPS);
	bench_sched_run(&server, NULL, phase, NULL);
	if (out)
		bench_series_add(out, bench_batch_ns(&batch));
}

static struct bench_baton *relay_step(struct bench_relay *self)
{
	(void)self;
	bench_batch_tick(&batch);
	return &main_baton;
}

static void run_baseline(struct bench_series *out)
{
	bench_batch_reset(&batch, OPS);
	bench_baton_pass(&relays[0].baton);
	for (unsigned i = 1;; i++) {
		bench_baton_wait(&main_baton);
		if (bench_batch_over(&batch))
			break;
		bench_baton_pass(&relays[i & 1].baton);
	}
	if (out)
		bench_series_add(out, bench_batch_ns(&batch));
}

int main(int argc, char **argv)
{
	static void (*const fns[])(struct bench_series *) = {
		run_umcg, run_baseline,
	};
	struct bench_series res[2] = { { 0 } };
	char name[64];

	(void)argc;
	bench_note("cpu %d, backend %s", bench_pin(), umcg_backend_name());
	bench_sched_init(&server);
	/* The baseline's server polls as ours does (docs/bench.md). */
	bench_baton_set_poll(&main_baton, bench_server_poll_ns());
	for (int i = 0; i < 2; i++) {
		bench_worker_start(&server, &workers[i], worker_fn, NULL);
		bench_relay_start(&relays[i], relay_step, NULL);
	}
	bench_interleave(bench_scaled(ROUNDS), PER_ROUND, 2, fns, res);
	snprintf(name, sizeof(name), "yield_via_server%s", bench_poll_suffix());
	bench_report(name, &res[0], &res[1]);
	return bench_rerun_without_poll(argv);
}
