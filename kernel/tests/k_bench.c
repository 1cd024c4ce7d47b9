// SPDX-License-Identifier: MIT
/*
 * Guest benchmark of the kernel backend's direct switch, against futex
 * handoffs measured in the same run:
 *
 *   kernel.direct_switch_unpinned  worker A -> worker B through next_tid
 *                                  (umcg_wait), threads free to move;
 *                                  baseline: futex wake + wait ping-pong
 *                                  between two unpinned threads
 *   kernel.direct_switch_pinned    the same with every thread pinned to
 *                                  CPU 0, baseline likewise pinned
 *
 * One operation is one handoff (A's call until B runs).  Batches of OPS
 * handoffs alternate with baseline batches; the median of the per-batch
 * means is reported (BENCH line: ratio = median / baseline).  When the
 * guest's clock is coarse (no usable TSC: jiffies), batches are made long
 * enough to span 100 clock ticks.
 */
#include "kt.h"
#include <linux/futex.h>

#define ROUNDS	31

/* Handoffs per batch: 500, more when the guest's clock is coarse. */
static int OPS = 500;

static struct kt_server *srv;
static struct kt_worker *wk;
static _Atomic int parked;
static _Atomic int ops_left;

static void futex_wait(_Atomic uint32_t *w, uint32_t v)
{
	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- baton: the futex handoff -------------------------------------------- */

struct baton {
	_Atomic uint32_t go;
} __attribute__((aligned(64)));

static struct baton bat[3];	/* A, B, main */
static _Atomic int base_left;

static void baton_pass(struct baton *b)
{
	atomic_store(&b->go, 1);
	futex_wake(&b->go);
}

static void baton_wait(struct baton *b)
{
	while (!atomic_exchange(&b->go, 0))
		futex_wait(&b->go, 0);
}

static void *relay(void *arg)
{
	int me = (int)(intptr_t)arg;

	for (;;) {
		baton_wait(&bat[me]);
		if (atomic_fetch_sub(&base_left, 1) <= 0)
			baton_pass(&bat[2]);
		else
			baton_pass(&bat[!me]);
	}
	return NULL;
}

static double run_baseline(void)
{
	uint64_t t0, t1;

	atomic_store(&base_left, OPS);
	t0 = kt_now();
	baton_pass(&bat[0]);
	baton_wait(&bat[2]);
	t1 = kt_now();
	return (double)(t1 - t0) / (OPS + 2);
}

/* ---- UMCG direct switch ---------------------------------------------------- */

static void switch_to(struct kt_worker *self, pid_t to)
{
	/* Keep the server's view true, then hand over and park. */
	for (;;) {
		srv->task.next_tid = (uint32_t)to | UMCG_TID_RUNNING;
		self->task.next_tid = (uint32_t)to;
		kt_set_state(&self->task, UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT);
		if (umcg_wait(0, UINT64_MAX) == 0)
			return;
		/* EAGAIN: @to (or we) moved first; we are RUNNING again. */
		if (errno != EAGAIN)
			KT_FAIL("switch: %s", strerror(errno));
	}
}

static void *switcher(struct kt_worker *self)
{
	struct kt_worker *peer = &wk[!self->id];

	atomic_fetch_add(&parked, 1);
	switch_to(self, srv->tid);	/* park: back to the server */
	for (;;) {
		if (atomic_fetch_sub(&ops_left, 1) <= 0)
			switch_to(self, srv->tid);
		else
			switch_to(self, atomic_load(&peer->tid));
	}
	return NULL;
}

/* The server runs @tid (own worker or parked) and sleeps until it is back. */
static void server_run(pid_t tid)
{
	for (;;) {
		kt_set_state(&srv->task, UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT);
		srv->task.next_tid = (uint32_t)tid;
		if (umcg_wait(0, 0) == 0)
			return;
		if (errno != EAGAIN)
			KT_FAIL("server wait: %s", strerror(errno));
	}
}

static double run_umcg(void)
{
	uint64_t t0, t1;

	atomic_store(&ops_left, OPS);
	t0 = kt_now();
	server_run(atomic_load(&wk[0].tid));
	t1 = kt_now();
	return (double)(t1 - t0) / (OPS + 2);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void pin_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		KT_FAIL("sched_setaffinity");
}

/* One process per variant, so that pinning is inherited by every thread. */
static void bench(const char *name, bool pinned)
{
	double m[ROUNDS], b[ROUNDS], mm, bm;
	pthread_t r[2];
	int i;

	if (pinned)
		pin_cpu0();
	srv = aligned_alloc(64, sizeof(*srv));
	memset(srv, 0, sizeof(*srv));
	for (i = 0; i < 2; i++)
		pthread_create(&r[i], NULL, relay, (void *)(intptr_t)i);
	wk = kt_start_workers(srv, 2, switcher, NULL);
	kt_server_register(srv);
	/*
	 * Run both workers once: each parks by switching back to us.  Wait
	 * until both are queued first: a registration that wakes us while we
	 * run the other worker would end server_run() early, and that worker
	 * would then spin on EAGAIN in switch_to() (we are not RUNNABLE),
	 * stealing the CPU from the baseline.  (A worker whose page fault
	 * blocked is queued again: run it again.)
	 */
	while (srv->qn < 2) {
		kt_server_drain(srv);
		if (srv->qn < 2)
			sched_yield();
	}
	while (atomic_load(&parked) < 2) {
		if (srv->qn) {
			server_run(atomic_load(&srv->queue[srv->qh]->tid));
			srv->qh = (srv->qh + 1) % KT_MAXW;
			srv->qn--;
		} else {
			kt_server_drain(srv);
			if (!srv->qn)
				sched_yield();
		}
	}
	run_umcg();	/* warm-up */
	run_baseline();
	for (i = 0; i < ROUNDS; i++) {
		m[i] = run_umcg();
		b[i] = run_baseline();
	}
	mm = median(m, ROUNDS);
	bm = median(b, ROUNDS);
	printf("BENCH kernel.%s median_ns=%.0f baseline_ns=%.0f ratio=%.2f\n",
	       name, mm, bm, mm / bm);
	fflush(stdout);
	_exit(0);
}

int main(void)
{
	static const struct { const char *name; bool pinned; } v[] = {
		{ "direct_switch_unpinned", false },
		{ "direct_switch_pinned", true },
	};
	int status, fails = 0;

	kt_init();
	{
		struct timespec res;

		if (clock_getres(CLOCK_MONOTONIC, &res) == 0 && res.tv_nsec > 1000) {
			/* ~20 us per handoff at worst: 100 ticks per batch */
			OPS = (int)(res.tv_nsec * 100 / 20000);
			if (OPS < 500)
				OPS = 500;
			fprintf(stderr, "# k_bench: clock resolution %ld ns, %d handoffs per batch\n",
				res.tv_nsec, OPS);
		}
	}
	for (unsigned i = 0; i < 2; i++) {
		pid_t pid = fork();

		if (pid == 0)
			bench(v[i].name, v[i].pinned);
		waitpid(pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "k_bench: %s failed (status %#x)\n", v[i].name, status);
			fails++;
		}
	}
	return fails != 0;
}
