// SPDX-License-Identifier: MIT
/*
 * A minimal UMCG server loop for the benchmarks, on the public ABI only.
 *
 * The server is the benchmark's main thread.  It keeps a FIFO of the
 * workers it took off its runnable list and knows its current worker from
 * its own next_tid (workers that switch directly keep it up to date, as the
 * ABI asks).  One pass of the loop, in order:
 *
 *  1. state RUNNING -> RUNNABLE|COND_WAIT first: a worker enqueued or
 *     blocked from now on makes it RUNNING, so the umcg_wait() below fails
 *     with EAGAIN instead of sleeping through the event;
 *  2. take the whole runnable list, append it to the FIFO (oldest first);
 *  3. the current worker is next_tid if it carries UMCG_TID_RUNNING and that
 *     worker is still RUNNING; else next_tid is cleared;
 *  4. with no current worker: ask the phase callback, and name the start
 *     worker or the head of the FIFO in next_tid (BENCH_GO), nobody
 *     (BENCH_HOLD), or go back to RUNNING and return (BENCH_RETURN);
 *  5. umcg_wait(0, 0): runs the named worker and sleeps until woken.
 *
 * Between two runs the server is an ordinary RUNNING thread with no worker
 * running: it may time baselines, and its workers wait on its list (or
 * parked) until the next run.
 *
 * Worker side: yield (RUNNABLE|COND_WAIT, umcg_wait(0, 0)), direct switch
 * to a parked worker (server's next_tid first, then umcg_wait(0,
 * UINT64_MAX) naming it) and park (switch to the server itself, leaving
 * the server's next_tid at 0: "nobody of mine runs").
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench.h"

static _Atomic uint32_t *word(uint32_t *p)
{
	return (_Atomic uint32_t *)p;
}

/* Move the caller's own state from RUNNING to RUNNABLE|COND_WAIT. */
static void begin_wait(struct umcg_task *t)
{
	if (!umcg_task_cas_state(t, UMCG_TASK_RUNNING,
				 UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT)) {
		errno = EPROTO;
		bench_die("own state is not RUNNING");
	}
}

/* ---- Server -------------------------------------------------------------------- */

void bench_sched_init(struct bench_sched *s)
{
	s->tid = umcg_gettid();
	umcg_task_init_server(&s->task);
	if (umcg_ctl(UMCG_CTL_REGISTER, &s->task, CLOCK_MONOTONIC))
		bench_die("umcg_ctl(REGISTER) server");
}

static struct bench_worker *worker_of(struct bench_sched *s, pid_t tid)
{
	for (unsigned i = 0; i < s->nworkers; i++)
		if (atomic_load(&s->workers[i]->tid) == tid)
			return s->workers[i];
	return NULL;
}

/* Step 2: the list is LIFO; append it to the FIFO oldest first. */
static void collect(struct bench_sched *s)
{
	struct umcg_task *t = umcg_runnable_take_all(&s->task);
	struct bench_worker *chain[BENCH_MAX_WORKERS];
	unsigned n = 0;

	for (; t; t = umcg_runnable_next(t)) {
		if (n == BENCH_MAX_WORKERS || s->qlen + n == BENCH_MAX_WORKERS) {
			errno = EOVERFLOW;
			bench_die("runnable list");
		}
		chain[n++] = (struct bench_worker *)t;
	}
	while (n--) {
		s->queue[(s->qhead + s->qlen) % BENCH_MAX_WORKERS] = chain[n];
		s->qlen++;
	}
}

static struct bench_worker *pop(struct bench_sched *s)
{
	struct bench_worker *w;

	if (!s->qlen)
		return NULL;
	w = s->queue[s->qhead];
	s->qhead = (s->qhead + 1) % BENCH_MAX_WORKERS;
	s->qlen--;
	return w;
}

bool bench_sched_take(struct bench_sched *s, struct bench_worker *w)
{
	unsigned i;

	for (i = 0; i < s->qlen; i++)
		if (s->queue[(s->qhead + i) % BENCH_MAX_WORKERS] == w)
			break;
	if (i == s->qlen)
		return false;
	for (; i + 1 < s->qlen; i++)
		s->queue[(s->qhead + i) % BENCH_MAX_WORKERS] =
			s->queue[(s->qhead + i + 1) % BENCH_MAX_WORKERS];
	s->qlen--;
	return true;
}

/* Step 3. */
static struct bench_worker *current(struct bench_sched *s)
{
	uint32_t nt = atomic_load(word(&s->task.next_tid));
	struct bench_worker *w;

	if (!(nt & UMCG_TID_RUNNING))
		return NULL;
	w = worker_of(s, (pid_t)(nt & UMCG_TID_MASK));
	if (w && (umcg_task_state(&w->task) & UMCG_TASK_MASK) ==
		 UMCG_TASK_RUNNING)
		return w;
	atomic_store(word(&s->task.next_tid), 0);
	return NULL;
}

void bench_sched_run(struct bench_sched *s, struct bench_worker *start,
		     enum bench_phase (*phase)(struct bench_sched *s, void *arg),
		     void *arg)
{
	struct bench_worker *pick = start;
	unsigned long again = 0;

	for (;;) {
		begin_wait(&s->task);
		collect(s);
		if (!current(s)) {
			enum bench_phase ph = pick ? BENCH_GO : phase(s, arg);

			if (ph == BENCH_RETURN) {
				/* RUNNABLE|COND_WAIT, or RUNNING if woken */
				umcg_task_set_state(&s->task,
						    UMCG_TASK_RUNNING);
				return;
			}
			if (ph == BENCH_GO && !pick)
				pick = pop(s);
			atomic_store(word(&s->task.next_tid),
				     pick ? (uint32_t)atomic_load(&pick->tid) : 0);
		}
		s->wakeups++;
		if (umcg_wait(0, 0) == 0) {
			pick = NULL;
			again = 0;
			continue;
		}
		/* EAGAIN: woken before sleeping, or @pick was not runnable yet */
		if (errno != EAGAIN || ++again > 10000000)
			bench_die("server umcg_wait");
		if (atomic_load(word(&s->task.next_tid)) & UMCG_TID_RUNNING)
			pick = NULL;
	}
}

/* ---- Workers ------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct bench_worker *w = arg;

	atomic_store(&w->tid, umcg_gettid());
	umcg_task_init_worker(&w->task, w->sched->tid);
	if (umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, &w->task,
		     CLOCK_MONOTONIC))
		bench_die("umcg_ctl(REGISTER|WORKER)");
	w->fn(w);
	if (umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, &w->task, 0))
		bench_die("umcg_ctl(UNREGISTER|WORKER)");
	return NULL;
}

void bench_worker_start(struct bench_sched *s, struct bench_worker *w,
			void (*fn)(struct bench_worker *self), void *arg)
{
	if (s->nworkers == BENCH_MAX_WORKERS) {
		errno = EOVERFLOW;
		bench_die("too many workers");
	}
	w->sched = s;
	w->fn = fn;
	w->arg = arg;
	s->workers[s->nworkers++] = w;
	errno = pthread_create(&w->thread, NULL, worker_main, w);
	if (errno)
		bench_die("pthread_create");
	/* the server looks workers up by tid: have it before they enqueue */
	while (!atomic_load(&w->tid))
		sched_yield();
}

void bench_worker_yield(struct bench_worker *w)
{
	atomic_store(word(&w->task.next_tid), 0);
	begin_wait(&w->task);
	if (umcg_wait(0, 0))
		bench_die("worker umcg_wait (yield)");
}

void bench_worker_switch(struct bench_worker *w, struct bench_worker *to)
{
	uint32_t tid = (uint32_t)atomic_load(&to->tid);

	/* the server's view first: @to is its running worker from now on */
	atomic_store(word(&w->sched->task.next_tid), tid | UMCG_TID_RUNNING);
	atomic_store(word(&w->task.next_tid), tid);
	begin_wait(&w->task);
	if (umcg_wait(0, UINT64_MAX))
		bench_die("worker umcg_wait (switch)");
}

void bench_worker_park(struct bench_worker *w)
{
	atomic_store(word(&w->sched->task.next_tid), 0);
	atomic_store(word(&w->task.next_tid), (uint32_t)w->sched->tid);
	begin_wait(&w->task);
	if (umcg_wait(0, UINT64_MAX))
		bench_die("worker umcg_wait (park)");
}
