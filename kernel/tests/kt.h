/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the kernel-only UMCG tests (kernel/tests/k_*.c): raw system
 * calls at the numbers the kernel announces in /sys/kernel/umcg/, and a
 * minimal single-server scheduler.  No libumcg: these test the kernel.
 */
#ifndef KT_H
#define KT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/umcg.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KT_FAIL(...) do { \
	fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)
#define KT_CHECK(c) do { if (!(c)) KT_FAIL("%s", #c); } while (0)

static long kt_nr[3];

static inline void kt_init(void)
{
	FILE *f = fopen("/sys/kernel/umcg/syscalls", "r");
	int v = 0;

	if (!f || fscanf(f, "%ld %ld %ld", &kt_nr[0], &kt_nr[1], &kt_nr[2]) != 3)
		KT_FAIL("no /sys/kernel/umcg/syscalls");
	fclose(f);
	f = fopen("/sys/kernel/umcg/abi_version", "r");
	if (!f || fscanf(f, "%d", &v) != 1 || v != UMCG_ABI_VERSION)
		KT_FAIL("bad /sys/kernel/umcg/abi_version");
	fclose(f);
}

static inline int umcg_ctl(uint32_t flags, struct umcg_task *self, clockid_t c)
{
	return (int)syscall(kt_nr[0], flags, self, c);
}

static inline int umcg_wait(uint32_t flags, uint64_t abs_timeout)
{
	return (int)syscall(kt_nr[1], flags, abs_timeout);
}

static inline int umcg_kick(uint32_t flags, pid_t tid)
{
	return (int)syscall(kt_nr[2], flags, tid);
}

static inline pid_t kt_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static inline uint64_t kt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define KT_STATE(t) atomic_load_explicit((_Atomic uint32_t *)&(t)->state, memory_order_acquire)

static inline bool kt_cas_state(struct umcg_task *t, uint32_t old, uint32_t new)
{
	return atomic_compare_exchange_strong((_Atomic uint32_t *)&t->state, &old, new);
}

static inline void kt_set_state(struct umcg_task *t, uint32_t s)
{
	uint32_t old = KT_STATE(t);

	while (!atomic_compare_exchange_weak((_Atomic uint32_t *)&t->state, &old,
					     (old & 0xffff0000u) | s))
		;
}

/* A worker yields: RUNNABLE|COND_WAIT, umcg_wait(0, 0). */
static inline int kt_yield(struct umcg_task *self)
{
	kt_set_state(self, UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT);
	return umcg_wait(0, 0);
}

/* ---- a minimal server: FIFO of runnable workers, one at a time ---------- */

#define KT_MAXW 1024

/* A worker: the umcg_task first, so that list entries convert back. */
struct kt_worker {
	struct umcg_task task __attribute__((aligned(64)));
	_Atomic pid_t tid;
	struct kt_server *server;
	pthread_t thread;
	int id;
	void *(*fn)(struct kt_worker *w);
	void *arg;
};

struct kt_server {
	struct umcg_task task __attribute__((aligned(64)));
	pid_t tid;
	struct kt_worker *queue[KT_MAXW];
	unsigned qh, qn;
	struct kt_worker *cur;
	int nworkers;		/* return once this many workers ended */
	_Atomic int done;	/* workers seen NONE */
	_Atomic int blocks;	/* times the current worker was seen BLOCKED */
	_Atomic int ready;	/* registered */
	_Atomic int runs;	/* workers started by next_tid */
};

static inline void kt_server_register(struct kt_server *s)
{
	s->tid = kt_gettid();
	memset(&s->task, 0, sizeof(s->task));
	s->task.state = UMCG_TASK_RUNNING;
	s->task.server_tid = (uint32_t)s->tid;
	if (umcg_ctl(UMCG_CTL_REGISTER, &s->task, CLOCK_MONOTONIC))
		KT_FAIL("server register: %s", strerror(errno));
	atomic_store(&s->ready, 1);
}

static inline void kt_server_drain(struct kt_server *s)
{
	uint64_t head = atomic_exchange((_Atomic uint64_t *)&s->task.runnable_workers_ptr, 0);
	struct kt_worker *chain[KT_MAXW];
	int n = 0;

	while (head) {
		struct kt_worker *w = (struct kt_worker *)(uintptr_t)head;

		if (n == KT_MAXW)
			KT_FAIL("runnable list too long");
		chain[n++] = w;
		head = w->task.runnable_workers_ptr;
	}
	while (n--) {	/* LIFO list -> FIFO queue */
		s->queue[(s->qh + s->qn) % KT_MAXW] = chain[n];
		s->qn++;
	}
}

/*
 * Run workers until @s->nworkers of them ended (NONE).  @timeout_ns > 0
 * makes each wait relative-timed: the server then calls @tick (preemption
 * tests) on every timeout.
 */
static inline void kt_server_loop_tick(struct kt_server *s, uint64_t timeout_ns,
				       void (*tick)(struct kt_server *s))
{
	for (;;) {
		uint32_t st;
		int r;

		kt_set_state(&s->task, UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT);
		kt_server_drain(s);
		if (s->cur) {
			st = KT_STATE(&s->cur->task) & UMCG_TASK_MASK;
			if (st != UMCG_TASK_RUNNING) {
				if (st == UMCG_TASK_NONE)
					atomic_fetch_add(&s->done, 1);
				else if (st == UMCG_TASK_BLOCKED)
					atomic_fetch_add(&s->blocks, 1);
				s->cur = NULL;
			}
		}
		if (!s->cur) {
			s->task.next_tid = 0;
			if (atomic_load(&s->done) >= s->nworkers) {
				kt_set_state(&s->task, UMCG_TASK_RUNNING);
				return;
			}
			if (s->qn) {
				s->cur = s->queue[s->qh];
				s->qh = (s->qh + 1) % KT_MAXW;
				s->qn--;
				s->task.next_tid = (uint32_t)atomic_load(&s->cur->tid);
				atomic_fetch_add(&s->runs, 1);
			}
		}
		r = umcg_wait(0, timeout_ns ? kt_now() + timeout_ns : 0);
		if (r && errno == ETIMEDOUT) {
			if (tick)
				tick(s);
		} else if (r && errno == ESRCH && s->cur) {
			/* Our current worker exited after we looked: see NONE next. */
			continue;
		} else if (r && errno != EAGAIN) {
			KT_FAIL("server umcg_wait: %s", strerror(errno));
		}
		if (r && errno == EAGAIN && s->cur &&
		    (s->task.next_tid & UMCG_TID_RUNNING) == 0) {
			/* A wake-up came first: it did not run, so queue it again. */
			s->qh = (s->qh + KT_MAXW - 1) % KT_MAXW;
			s->queue[s->qh] = s->cur;
			s->qn++;
			s->cur = NULL;
		}
	}
}

static inline void kt_server_loop(struct kt_server *s)
{
	kt_server_loop_tick(s, 0, NULL);
}

static inline void *kt_worker_main(void *arg)
{
	struct kt_worker *w = arg;
	void *ret;

	atomic_store(&w->tid, kt_gettid());
	while (!atomic_load(&w->server->ready))
		sched_yield();
	memset(&w->task, 0, sizeof(w->task));
	w->task.state = UMCG_TASK_BLOCKED;
	w->task.server_tid = (uint32_t)w->server->tid;
	if (umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, &w->task, CLOCK_MONOTONIC))
		KT_FAIL("worker register: %s", strerror(errno));
	if ((KT_STATE(&w->task) & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)
		KT_FAIL("worker runs while not RUNNING: %#x", KT_STATE(&w->task));
	ret = w->fn(w);
	if (ret != (void *)1 &&
	    umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, &w->task, 0))
		KT_FAIL("worker unregister: %s", strerror(errno));
	return NULL;
}

/* Start @n workers running @fn on @s (the server registers itself later). */
static inline struct kt_worker *kt_start_workers(struct kt_server *s, int n,
						 void *(*fn)(struct kt_worker *),
						 void *arg)
{
	struct kt_worker *w = aligned_alloc(64, sizeof(*w) * (size_t)n);
	pthread_attr_t a;
	int i;

	KT_CHECK(w);
	memset(w, 0, sizeof(*w) * (size_t)n);
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	for (i = 0; i < n; i++) {
		w[i].server = s;
		w[i].id = i;
		w[i].fn = fn;
		w[i].arg = arg;
		if (pthread_create(&w[i].thread, &a, kt_worker_main, &w[i]))
			KT_FAIL("pthread_create");
	}
	pthread_attr_destroy(&a);
	s->nworkers += n;
	return w;
}

static inline void kt_join_workers(struct kt_worker *w, int n)
{
	for (int i = 0; i < n; i++)
		pthread_join(w[i].thread, NULL);
}

#endif /* KT_H */
