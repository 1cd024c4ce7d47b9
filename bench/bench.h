/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the benchmarks in bench/ (see docs/bench.md).
 *
 * b_common.c: the clock, CPU pinning, sample series and the BENCH report
 * line, and "batons": the raw futex handoff every baseline is made of.
 * b_sched.c: a minimal UMCG server loop and the worker-side operations
 * (yield, direct switch, park), written against the public ABI only so the
 * same binaries run on every backend.
 *
 * Every benchmark pins all of its threads to one CPU (env UMCG_BENCH_CPU,
 * default the highest CPU the process may use): on the VMs we measure on, a
 * wake-up of an idle CPU costs ~85 us and would swamp everything else.
 */
#ifndef UMCG_BENCH_H
#define UMCG_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <umcg.h>

/* ---- b_common.c ---------------------------------------------------------- */

/* CLOCK_MONOTONIC in ns (vDSO: tens of ns). */
uint64_t bench_now(void);

/* Pin the calling thread (and so every thread it creates later) to the
 * benchmark CPU; returns that CPU. */
int bench_pin(void);

/* @n times UMCG_BENCH_SCALE (default 1.0), at least 1. */
unsigned bench_scaled(unsigned n);

/* Print "<prog>: @what: <strerror(errno)>" and exit(1). */
__attribute__((noreturn)) void bench_die(const char *what);

/* A growing array of samples (ns per operation). */
struct bench_series {
	double *v;
	size_t n, cap;
};

void bench_series_add(struct bench_series *s, double x);
double bench_series_median(const struct bench_series *s);

/*
 * Print "BENCH <prefix><name> median_ns=<n> baseline_ns=<n> ratio=<r>" on
 * stdout (prefix: env UMCG_BENCH_PREFIX) and the spread of both series as
 * a "#" comment on stderr.
 */
void bench_report(const char *name, const struct bench_series *m,
		  const struct bench_series *base);

/* "# ..." diagnostics on stderr. */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A batch of @ops timed operations shared by the threads that perform them:
 * each performer calls bench_batch_tick() when it gets the CPU; tick 1
 * starts the clock, tick @ops + 1 stops it.  Only one thread runs at a
 * time (one CPU, handoffs), so ticks are ordered.
 */
struct bench_batch {
	_Atomic unsigned count;
	unsigned ops;
	uint64_t t0, t1;
};

void bench_batch_reset(struct bench_batch *b, unsigned ops);
void bench_batch_tick(struct bench_batch *b);
bool bench_batch_over(struct bench_batch *b);
double bench_batch_ns(const struct bench_batch *b);	/* per operation */

/*
 * Run @rounds rounds of @per_round calls of each of the @n functions,
 * rotating their order every round so that slow phases of the VM hit all
 * of them alike.  fns[i] adds its samples to out[i]; in round 0 (warm-up)
 * it gets NULL and should add nothing.
 */
void bench_interleave(unsigned rounds, unsigned per_round, unsigned n,
		      void (*const fns[])(struct bench_series *out),
		      struct bench_series *out);

/*
 * A baton: one private futex word per thread.  bench_baton_pass() hands the
 * CPU to the owner of @to (store 1, FUTEX_WAKE); bench_baton_wait() sleeps
 * until the caller's own baton was passed to it, and takes it (store 0).
 * pass + wait is one raw futex handoff, the unit every baseline counts.
 */
struct bench_baton {
	_Atomic uint32_t word;
	_Atomic uint32_t sleepers;	/* in FUTEX_WAIT (polling batons) */
	uint64_t poll_ns;		/* 0: never polls */
	uint64_t last_wait_ns;
} __attribute__((aligned(64)));

void bench_baton_pass(struct bench_baton *to);
void bench_baton_wait(struct bench_baton *self);

/*
 * The poll of the emul server (docs/bench.md, "The server's poll"), for a
 * baseline's server-like thread: with @poll_ns > 0, bench_baton_wait() on
 * @b first polls as the emul server's untimed umcg_wait() does (at most 4
 * sched_yield()s within @poll_ns, only after a wait that short), and a
 * pass skips FUTEX_WAKE while the waiter is not in FUTEX_WAIT, as emul's
 * wakers do.  0 (the default): the plain handoff.
 */
void bench_baton_set_poll(struct bench_baton *b, uint64_t poll_ns);

/* The bound of the server's poll here: 0 off emul or with it turned off. */
uint64_t bench_server_poll_ns(void);

/* ".nopoll" on emul with the server's poll off, else "": for result names. */
const char *bench_poll_suffix(void);

/*
 * If the server polls, run this program again (argv of main) with
 * UMCG_SERVER_SPIN_NS=0, so its ".nopoll" results follow; the exit status
 * for main, 0 when there was nothing to run.
 */
int bench_rerun_without_poll(char **argv);

/*
 * A plain (never registered) thread that forever waits for its baton, runs
 * @step and passes the baton @step returns.
 */
struct bench_relay {
	struct bench_baton baton;
	struct bench_baton *(*step)(struct bench_relay *self);
	void *arg;
	pthread_t thread;
};

void bench_relay_start(struct bench_relay *r,
		       struct bench_baton *(*step)(struct bench_relay *self),
		       void *arg);

/*
 * Latency of one raw futex handoff, per iteration: thread A' reads the
 * clock and passes a baton to B', which reads the clock when its wait
 * returns; @samples samples (A' -> B' and back count one each) are added
 * to @out (NULL: warm-up, nothing added).  The two threads are started at
 * the first call, pinned like the caller.
 */
void bench_handoff_latency(unsigned samples, struct bench_series *out);

/*
 * A gate many threads wait at: bench_gate_wait() sleeps while *@word is
 * @seen (one FUTEX_WAIT, no hooks: bracket it with umcg_sys_enter()/exit()
 * in a worker), bench_gate_open() bumps it and wakes every waiter.
 */
void bench_gate_wait(_Atomic uint32_t *word, uint32_t seen);
void bench_gate_open(_Atomic uint32_t *word);

/* ---- b_sched.c ------------------------------------------------------------- */

#define BENCH_MAX_WORKERS 8

struct bench_sched;

/*
 * A worker thread.  Its struct umcg_task comes first, so the server's
 * runnable list (which links umcg_tasks) links bench_workers.  Workers live
 * in static storage: the memory must outlive the thread.
 */
struct bench_worker {
	struct umcg_task task;
	struct bench_sched *sched;
	void (*fn)(struct bench_worker *self);
	void *arg;
	_Atomic pid_t tid;
	pthread_t thread;
};

/* The server: the calling (main) thread, registered by bench_sched_init(). */
struct bench_sched {
	struct umcg_task task;
	pid_t tid;
	unsigned nworkers;
	struct bench_worker *workers[BENCH_MAX_WORKERS];
	struct bench_worker *queue[BENCH_MAX_WORKERS];	/* FIFO ring */
	unsigned qhead, qlen;
	unsigned long wakeups;		/* umcg_wait() returns, for notes */
};

/* What the server loop does when no worker of its own is RUNNING. */
enum bench_phase {
	BENCH_GO,	/* run the next queued worker, if any */
	BENCH_HOLD,	/* run nobody; sleep until something happens */
	BENCH_RETURN,	/* return from bench_sched_run() */
};

void bench_sched_init(struct bench_sched *s);

/* Start a thread that registers @w as a worker of @s and then runs @fn. */
void bench_worker_start(struct bench_sched *s, struct bench_worker *w,
			void (*fn)(struct bench_worker *self), void *arg);

/*
 * Be the server until @phase says BENCH_RETURN.  @start (may be NULL) is
 * run first: a parked worker to name in next_tid.  @phase is asked only
 * while none of the server's workers is RUNNING.
 */
void bench_sched_run(struct bench_sched *s, struct bench_worker *start,
		     enum bench_phase (*phase)(struct bench_sched *s, void *arg),
		     void *arg);

/*
 * Take @w out of the server's FIFO (it was taken off the runnable list but
 * not run yet), so the caller may name it itself; false if it is not there.
 */
bool bench_sched_take(struct bench_sched *s, struct bench_worker *w);

/* Worker side, called by the RUNNING worker @w itself. */
void bench_worker_yield(struct bench_worker *w);
void bench_worker_switch(struct bench_worker *w, struct bench_worker *to);
void bench_worker_park(struct bench_worker *w);

#endif /* UMCG_BENCH_H */
