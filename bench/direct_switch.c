// SPDX-License-Identifier: MIT
/*
 * direct_switch: worker A switches straight to worker B via next_tid.
 *
 * Both workers park (umcg_wait(0, UINT64_MAX): on no list, runnable only by
 * being named).  The server names one of them to start a batch; from then
 * on each worker, when it runs, ticks the batch and switches to the other:
 * its server's next_tid = B | UMCG_TID_RUNNING (the server's view stays
 * true), its own next_tid = B, state RUNNABLE|UMCG_TF_COND_WAIT,
 * umcg_wait(0, UINT64_MAX).  The server sleeps through the whole batch.
 * One operation is A's umcg_wait() to B's return from its own: one context
 * switch.  At the end of a batch the last worker parks by switching to the
 * server itself.
 *
 * Baseline: one raw futex handoff, A' -> B' ping-pong.  All threads on one
 * CPU.  Median of per-batch means; batches interleaved.
 */
#include <stdio.h>
#include "bench.h"

#define OPS		400
#define ROUNDS		200
#define PER_ROUND	3

static struct bench_sched server;
static struct bench_worker workers[2];
static struct bench_relay relays[2];
static struct bench_baton main_baton;
static struct bench_batch batch;
static _Atomic int parked;

static void worker_fn(struct bench_worker *self)
{
	struct bench_worker *peer = self->arg;

	atomic_fetch_add(&parked, 1);
	bench_worker_park(self);
	for (;;) {
		bench_batch_tick(&batch);
		if (bench_batch_over(&batch))
			bench_worker_park(self);
		else
			bench_worker_switch(self, peer);
	}
}

static enum bench_phase setup_phase(struct bench_sched *s, void *arg)
{
	(void)s;
	(void)arg;
	return atomic_load(&parked) == 2 ? BENCH_RETURN : BENCH_GO;
}

static enum bench_phase batch_phase(struct bench_sched *s, void *arg)
{
	(void)s;
	(void)arg;
	return bench_batch_over(&batch) ? BENCH_RETURN : BENCH_HOLD;
}

static void run_umcg(struct bench_series *out)
{
	static unsigned n;

	bench_batch_reset(&batch, OPS);
	bench_sched_run(&server, &workers[n++ & 1], batch_phase, NULL);
	if (out)
		bench_series_add(out, bench_batch_ns(&batch));
}

static struct bench_baton *relay_step(struct bench_relay *self)
{
	bench_batch_tick(&batch);
	return bench_batch_over(&batch) ? &main_baton : self->arg;
}

static void run_baseline(struct bench_series *out)
{
	bench_batch_reset(&batch, OPS);
	bench_baton_pass(&relays[0].baton);
	bench_baton_wait(&main_baton);
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
		bench_worker_start(&server, &workers[i], worker_fn,
				   &workers[!i]);
		bench_relay_start(&relays[i], relay_step, &relays[!i].baton);
	}
	bench_sched_run(&server, NULL, setup_phase, NULL);
	bench_interleave(bench_scaled(ROUNDS), PER_ROUND, 2, fns, res);
	snprintf(name, sizeof(name), "direct_switch%s", bench_poll_suffix());
	bench_report(name, &res[0], &res[1]);
	return bench_rerun_without_poll(argv);
}
