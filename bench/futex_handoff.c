// SPDX-License-Identifier: MIT
/*
 * futex_handoff: the unit of every baseline, against a plain system call.
 *
 * One raw futex handoff between two threads on one CPU (A' stores 1 in
 * B's word, FUTEX_WAKE, FUTEX_WAIT on its own word; B' returns from its
 * wait) against one raw syscall(SYS_getpid).  The ratio says how many
 * system calls one context switch is worth on this machine, which is what
 * the overheads of the other benchmarks should be read against.
 * Median of per-batch means; batches interleaved.
 */
#include <sys/syscall.h>
#include <unistd.h>
#include "bench.h"

#define OPS		400
#define ROUNDS		200
#define PER_ROUND	3

static struct bench_relay relays[2];
static struct bench_baton main_baton;
static struct bench_batch batch;

static struct bench_baton *relay_step(struct bench_relay *self)
{
	bench_batch_tick(&batch);
	return bench_batch_over(&batch) ? &main_baton : self->arg;
}

static void run_handoff(struct bench_series *out)
{
	bench_batch_reset(&batch, OPS);
	bench_baton_pass(&relays[0].baton);
	bench_baton_wait(&main_baton);
	if (out)
		bench_series_add(out, bench_batch_ns(&batch));
}

static void run_syscall(struct bench_series *out)
{
	uint64_t t0 = bench_now();

	for (int i = 0; i < OPS; i++)
		syscall(SYS_getpid);
	if (out)
		bench_series_add(out, (double)(bench_now() - t0) / OPS);
}

int main(void)
{
	static void (*const fns[])(struct bench_series *) = {
		run_handoff, run_syscall,
	};
	struct bench_series res[2] = { { 0 } };

	bench_note("cpu %d", bench_pin());
	for (int i = 0; i < 2; i++)
		bench_relay_start(&relays[i], relay_step, &relays[!i].baton);
	bench_interleave(bench_scaled(ROUNDS), PER_ROUND, 2, fns, res);
	bench_report("futex_handoff", &res[0], &res[1]);
	return 0;
}
