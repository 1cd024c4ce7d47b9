// SPDX-License-Identifier: MIT
/*
 * block_notify: a worker blocks in a system call; how soon does the next
 * worker run?
 *
 * Two workers of one server.  The blocker reads the clock and read()s 1
 * byte from an empty pipe: the call blocks, the server learns of it (emul:
 * the libc wrapper's umcg_sys_enter(); kernel: the scheduler hook), and
 * runs the next worker on its list, the observer.  The observer reads the
 * clock as its first action after its umcg_wait() returns: one sample is
 * the time from just before the blocking call to that point.  Then the
 * observer writes 1 byte into the pipe (the blocker wakes and is queued
 * again) and yields.  Per-iteration samples, median.
 *
 * More results from the same binary:
 *  block_notify_bracket  the same with the public hooks around a raw call:
 *                        umcg_sys_enter(); syscall(SYS_read); umcg_sys_exit()
 *                        (no non-blocking attempt first).
 *
 * Built as block_notify_raw (bench/block_notify_raw.c):
 *  block_notify_raw      a raw syscall(SYS_read) that no hook sees.  On the
 *                        kernel backend the scheduler hook sees it as any
 *                        other; on emul it needs BPF detection
 *                        (umcg_set_detection(3)): the programs report the
 *                        sleep, the detector thread marks the worker
 *                        BLOCKED and wakes the server.  Without BPF (no
 *                        privileges) it prints a note and no result.
 *
 * Baseline: one raw futex handoff timed the same way: thread A' reads the
 * clock and passes a baton to B', which reads the clock when its futex wait
 * returns.  All threads on one CPU; the three kinds are interleaved.
 */
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "bench.h"

#define SAMPLES		100	/* per run */
#define ROUNDS		300
#define PER_ROUND	1

enum kind { HOOKED, BRACKET, RAW };

static struct bench_sched server;
static struct bench_worker blocker, observer;
static int pipe_fd[2];

static _Atomic int mode = HOOKED;
static _Atomic unsigned seq;	/* calls started by the blocker */
static uint64_t t_call;		/* clock before the latest one (seq publishes) */
static struct bench_series *out_series;
static _Atomic unsigned samples;

static void take_sample(uint64_t t0, uint64_t t1)
{
	if (out_series)
		bench_series_add(out_series, (double)(t1 - t0));
	samples++;
}

static void blocker_fn(struct bench_worker *self)
{
	char c;
	long r;

	(void)self;
	for (;;) {
		int m = atomic_load(&mode);

		t_call = bench_now();
		atomic_fetch_add(&seq, 1);	/* publishes t_call */
		if (m == HOOKED) {
			r = read(pipe_fd[0], &c, 1);
		} else if (m == RAW) {
			r = syscall(SYS_read, pipe_fd[0], &c, 1);
		} else {
			umcg_sys_enter();
			r = syscall(SYS_read, pipe_fd[0], &c, 1);
			umcg_sys_exit();
		}
		if (r != 1)
			bench_die("read (pipe)");
	}
}

static void observer_fn(struct bench_worker *self)
{
	unsigned last = 0;

	for (;;) {
		uint64_t t1 = bench_now();
		unsigned s = atomic_load(&seq);

		/* run because the blocker blocked (and not for a yield) */
		if (s != last) {
			last = s;
			take_sample(t_call, t1);
			if (write(pipe_fd[1], "x", 1) != 1)
				bench_die("write (pipe)");
		}
		bench_worker_yield(self);
	}
}

static enum bench_phase phase(struct bench_sched *s, void *arg)
{
	(void)arg;
	if (samples < SAMPLES)
		return BENCH_GO;
	return s->qlen == 2 ? BENCH_RETURN : BENCH_HOLD;
}

static void run_umcg(int m, struct bench_series *out)
{
	atomic_store(&mode, m);
	out_series = out;
	samples = 0;
	bench_sched_run(&server, NULL, phase, NULL);
}

#ifdef BLOCK_NOTIFY_RAW
static void run_raw(struct bench_series *out) { run_umcg(RAW, out); }
#else
static void run_hooked(struct bench_series *out) { run_umcg(HOOKED, out); }
static void run_bracket(struct bench_series *out) { run_umcg(BRACKET, out); }
#endif

static void run_baseline(struct bench_series *out)
{
	bench_handoff_latency(SAMPLES, out);
}

#ifdef BLOCK_NOTIFY_RAW
static void (*const kinds[])(struct bench_series *) = { run_raw, run_baseline };
static const char *const names[] = { "block_notify_raw" };
#else
static void (*const kinds[])(struct bench_series *) = {
	run_hooked, run_bracket, run_baseline,
};
static const char *const names[] = { "block_notify", "block_notify_bracket" };
#endif
#define NK (sizeof(kinds) / sizeof(kinds[0]))

int main(void)
{
	struct bench_series res[NK] = { { 0 } };

	int cpu = bench_pin();
#ifdef BLOCK_NOTIFY_RAW
	/* after bench_pin(): the detector thread inherits the CPU */
	int r = umcg_set_detection(UMCG_DETECT_BPF);

	if (r < 0) {
		bench_note("block_notify_raw: no BPF detection (%s): no result",
			   strerror(-r));
		return 0;
	}
#endif
	bench_note("cpu %d, backend %s", cpu, umcg_backend_name());
	if (pipe(pipe_fd))
		bench_die("pipe");
	bench_sched_init(&server);
	bench_worker_start(&server, &blocker, blocker_fn, NULL);
	bench_worker_start(&server, &observer, observer_fn, NULL);
	bench_interleave(bench_scaled(ROUNDS), PER_ROUND, NK, kinds, res);
	for (unsigned i = 0; i + 1 < NK; i++)
		bench_report(names[i], &res[i], &res[NK - 1]);
	return 0;
}
