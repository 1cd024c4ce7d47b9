// SPDX-License-Identifier: MIT
/*
 * scale_30k: does a toolkit switch cost the same with 30,000 workers as
 * with 10?
 *
 *  scale_30k    per-switch cost of umcg_worker_yield() with 30,000 workers
 *               in one scheduler, every one of them yielding in turn (a
 *               batch is two yields per worker: 60,000 switches through
 *               the whole set), against the same with 10 workers in a
 *               second scheduler of the same process.  Batches
 *               interleaved; median of per-batch means.
 *  scale_spawn  umcg_worker_spawn() per worker, from the first call until
 *               all 30,000 wait at the gate (each has registered and run
 *               once), against pthread_create() of 10,000 plain threads
 *               until they all wait at a gate (so that the baseline alone
 *               stays within vm.max_map_count: glibc maps two areas per
 *               thread).
 *
 * Notes on stderr give the memory per worker: the process's resident
 * memory and the kernel's (KernelStack + Slab + PageTables of
 * /proc/meminfo) after spawning, minus before, over the number of workers.
 *
 * Both schedulers have NULL attributes in a process pinned to one CPU (one
 * server each).  Between batches the workers wait in a condvar, see
 * wait_for_round().
 * Bounded: the program first checks that the system has room for the
 * threads (kernel.pid_max, kernel.threads-max, RLIMIT_NPROC) and 4 GiB of
 * available memory; without it, it prints a note and no result.  About
 * 10 s on the development VM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <umcg_sched.h>
#include "bench.h"

#define BIG		30000
#define SMALL		10
#define BASE_THREADS	10000
#define YIELDS_BIG	2	/* per worker per batch */
#define YIELDS_SMALL	400
#define ROUNDS		2

struct group {
	struct umcg_sched *sched;
	int n, yields;
	_Atomic uint32_t gate;
	_Atomic int done, quit, ids;
	/* The start line: the last worker in wakes the others at once. */
	struct umcg_mutex lock;
	struct umcg_cond all_in;
	uint32_t round;
	struct bench_batch batch;
	struct bench_baton finished;
};

static struct group big = { .n = BIG, .yields = YIELDS_BIG };
static struct group small = { .n = SMALL, .yields = YIELDS_SMALL };

static void gate_wait(struct group *g, uint32_t seen)
{
	umcg_sys_enter();
	bench_gate_wait(&g->gate, seen);
	umcg_sys_exit();
}

/* The last of @n to call this passes @b. */
static void count_in(_Atomic int *c, int n, struct bench_baton *b)
{
	if (atomic_fetch_add(c, 1) == n - 1)
		bench_baton_pass(b);
}

/*
 * Between batches every worker but the first waits in a condvar: parked,
 * it costs nothing, and the first one (woken at the gate by the main
 * thread) starts a batch with one broadcast; the mutex then passes from
 * one waiter to the next by direct switches, so every worker is runnable
 * before the first yield starts the clock.  (Waking all of them at the
 * gate instead cost one kernel wake-up each, and yielding until the last
 * one arrived n^2/2 switches.)
 */
static bool wait_for_round(struct group *g, uint32_t round)
{
	bool quit;

	umcg_mutex_lock(&g->lock);
	while (g->round < round)
		umcg_cond_wait(&g->all_in, &g->lock);
	quit = atomic_load(&g->quit);
	umcg_mutex_unlock(&g->lock);
	return !quit;
}

static void start_round(struct group *g)
{
	umcg_mutex_lock(&g->lock);
	g->round++;
	umcg_cond_broadcast(&g->all_in);
	umcg_mutex_unlock(&g->lock);
}

static void *worker(void *arg)
{
	struct group *g = arg;
	bool first = atomic_fetch_add(&g->ids, 1) == 0;
	uint32_t seen = 0, round = 1;

	count_in(&g->done, g->n, &g->finished);
	for (;; round++) {
		if (first) {
			gate_wait(g, seen);
			seen = atomic_load(&g->gate);
			start_round(g);
			if (atomic_load(&g->quit))
				return NULL;
		} else if (!wait_for_round(g, round)) {
			return NULL;
		}
		while (!bench_batch_over(&g->batch)) {
			bench_batch_tick(&g->batch);
			umcg_worker_yield();
		}
		count_in(&g->done, g->n, &g->finished);
	}
}

static void run_group(struct group *g, struct bench_series *out)
{
	bench_batch_reset(&g->batch, (unsigned)(g->n * g->yields));
	atomic_store(&g->done, 0);
	bench_gate_open(&g->gate);
	bench_baton_wait(&g->finished);
	if (out)
		bench_series_add(out, bench_batch_ns(&g->batch));
}

static void run_big(struct bench_series *out)
{
	run_group(&big, out);
}

static void run_small(struct bench_series *out)
{
	run_group(&small, out);
}

/* Spawn g->n workers and wait until all wait at the gate: ns per worker. */
static double spawn_group(struct group *g)
{
	uint64_t t0;
	int r;

	r = umcg_sched_create(&g->sched, NULL);
	if (r) {
		errno = -r;
		bench_die("umcg_sched_create");
	}
	t0 = bench_now();
	for (int i = 0; i < g->n; i++) {
		r = umcg_worker_spawn(g->sched, NULL, worker, g, NULL);
		if (r) {
			errno = -r;
			fprintf(stderr, "scale_30k: spawned %d of %d workers\n",
				i, g->n);
			bench_die("umcg_worker_spawn");
		}
	}
	bench_baton_wait(&g->finished);
	return (double)(bench_now() - t0) / g->n;
}

static void stop_group(struct group *g)
{
	atomic_store(&g->quit, 1);
	bench_gate_open(&g->gate);
	umcg_sched_destroy(g->sched);
}

/* ---- The pthread_create() baseline ------------------------------------------ */

static _Atomic uint32_t base_gate;
static _Atomic int base_in;
static struct bench_baton base_ready;

static void *plain_thread(void *arg)
{
	(void)arg;
	count_in(&base_in, BASE_THREADS, &base_ready);
	bench_gate_wait(&base_gate, 0);
	return NULL;
}

static double spawn_plain(void)
{
	static pthread_t th[BASE_THREADS];
	pthread_attr_t pa;
	uint64_t t0;
	double ns;

	pthread_attr_init(&pa);
	pthread_attr_setstacksize(&pa, UMCG_SCHED_DEFAULT_STACK);
	t0 = bench_now();
	for (int i = 0; i < BASE_THREADS; i++) {
		errno = pthread_create(&th[i], &pa, plain_thread, NULL);
		if (errno)
			bench_die("pthread_create");
	}
	bench_baton_wait(&base_ready);
	ns = (double)(bench_now() - t0) / BASE_THREADS;
	bench_gate_open(&base_gate);
	for (int i = 0; i < BASE_THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_attr_destroy(&pa);
	return ns;
}

/* ---- Limits and memory ---------------------------------------------------------- */

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* A field of /proc/meminfo (kB), or of /proc/self/status with @status. */
static long kb_field(const char *file, const char *name)
{
	FILE *f = fopen(file, "r");
	char line[256];
	size_t len = strlen(name);
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ':') {
			v = atol(line + len + 1);
			break;
		}
	fclose(f);
	return v;
}

static long kernel_kb(void)
{
	return kb_field("/proc/meminfo", "KernelStack") +
	       kb_field("/proc/meminfo", "Slab") +
	       kb_field("/proc/meminfo", "PageTables");
}

/* Threads the system has room for, besides those that run now. */
static long thread_room(void)
{
	long pid_max = read_long("/proc/sys/kernel/pid_max");
	long tmax = read_long("/proc/sys/kernel/threads-max");
	long room = pid_max < tmax ? pid_max : tmax;
	struct rlimit rl;
	char buf[128];
	FILE *f = fopen("/proc/loadavg", "r");
	long running = 0, total = 0;

	if (f) {
		if (fgets(buf, sizeof(buf), f))
			sscanf(buf, "%*s %*s %*s %ld/%ld", &running, &total);
		fclose(f);
	}
	room -= total;
	if (getuid() != 0 && !getrlimit(RLIMIT_NPROC, &rl) &&
	    rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur - total < room)
		room = (long)rl.rlim_cur - total;
	return room;
}

int main(void)
{
	static void (*const fns[])(struct bench_series *) = {
		run_big, run_small,
	};
	struct bench_series res[2] = { { 0 } }, sp[2] = { { 0 } };
	long room = thread_room(), avail = kb_field("/proc/meminfo", "MemAvailable");
	long rss0, k0;
	double ns;
	const char *e = getenv("UMCG_BENCH_WORKERS");

	if (e && atoi(e) > 0)
		big.n = atoi(e);

	bench_note("cpu %d, backend %s", bench_pin(), umcg_backend_name());
	/* Room for the workers, the baseline's threads and some to spare. */
	if (room < big.n + SMALL + 500 || avail < 4L << 20) {
		bench_note("not run: room for %ld more threads (need %d; "
			   "kernel.pid_max, kernel.threads-max), %ld MiB "
			   "available (need 4096); docs/toolkit.md, Limits",
			   room, big.n + SMALL + 500, avail >> 10);
		return 0;
	}
	bench_series_add(&sp[1], spawn_plain());
	ns = spawn_group(&small);
	rss0 = kb_field("/proc/self/status", "VmRSS");
	k0 = kernel_kb();
	bench_series_add(&sp[0], spawn_group(&big));
	bench_note("memory per worker: user %.1f KiB, kernel %.1f KiB "
		   "(%d workers; VmRSS and KernelStack+Slab+PageTables)",
		   (double)(kb_field("/proc/self/status", "VmRSS") - rss0) / big.n,
		   (double)(kernel_kb() - k0) / big.n, big.n);
	bench_note("spawn per worker: %.0f ns with %d workers, %.0f ns with %d",
		   sp[0].v[0], big.n, ns, SMALL);

	bench_interleave(bench_scaled(ROUNDS), 1, 2, fns, res);
	bench_report("scale_30k", &res[0], &res[1]);
	bench_report("scale_spawn", &sp[0], &sp[1]);
	stop_group(&big);
	stop_group(&small);
	return 0;
}
