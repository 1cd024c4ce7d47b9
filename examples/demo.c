// SPDX-License-Identifier: MIT
/*
 * demo: an in-process request server, run three times on the same workload
 * and compared: (a) the UMCG toolkit with the priority policy, (b) a plain
 * pthread pool of the same size scheduled by the kernel, (c) a pool of
 * exactly one thread per CPU.
 *
 * The workload is open-loop: a generator thread (the "network", the same
 * plain thread in every configuration) issues requests at a fixed average
 * rate with exponential gaps, from the same random seed each time, so every
 * configuration gets the identical sequence of requests.  Latency counts
 * from the moment a request was due, so a configuration that falls behind
 * pays for it.  Each request:
 *
 *   compute (burst 1) -> pread 4 KiB + fsync on a real file in a temporary
 *   folder -> sleep (stands for a call to a backend) -> compute (burst 2)
 *
 * Two classes: latency-critical (short bursts, short sleep, most requests)
 * and batch (long bursts, long sleep).  The bursts are a fixed number of
 * iterations of a hash loop calibrated at start-up, so a request costs the
 * same CPU work whoever schedules it.  Requests wait in one queue per
 * class; a quarter of the threads (at least one) serve the
 * latency-critical queue and the rest the batch queue, taking the next
 * request after a sem_wait() (a real blocking call).  That is the same in
 * every configuration, so they differ in CPU scheduling only:
 *
 *   umcg      W workers on one server per CPU, policy "prio": a worker's
 *             priority is its class; a latency-critical worker that
 *             becomes runnable preempts a batch one.
 *   pool      W ordinary threads: the kernel time-shares the CPUs among
 *             every runnable one, whatever its request.
 *   nthreads  N ordinary threads, N = CPUs: no oversubscription, so a CPU
 *             idles whenever its thread blocks.
 *
 * The configurations take turns in rounds (3 by default, each round
 * starting with a short unmeasured warm-up and ending with a drain of up
 * to a second), so that whatever else runs on the host meanwhile falls on
 * all of them alike; the "others" column says how much that was.
 *
 * Utilisation is the process's CPU time (servers and library overhead
 * included; the generator thread's own time excluded) over N CPUs; "work"
 * is the part of it spent in request bursts.  The run ends with one line
 * per configuration:
 *
 *   RESULT <umcg|pool|nthreads> throughput=<req/s> util=<0..1>
 *          lc_p50_us=<n> lc_p99_us=<n> batch_p50_us=<n> batch_p99_us=<n>
 *
 * --mutexq adds two configurations: umcg.mutexq, the toolkit with the
 * request queues as lists under one pthread mutex (which batch workers,
 * latency-critical workers and the generator all take), and
 * umcg.mutexq.noinherit, the same with the toolkit's priority inheritance
 * off: a batch worker preempted while it holds the queue lock stalls the
 * generator and the latency-critical workers behind it.
 *
 * Limits: one process measures itself (the generator shares the CPUs);
 * a request still queued when a run is cut off counts with the latency it
 * had then (a lower bound).  See --help for the knobs.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <umcg.h>
#include <umcg_sched.h>

enum { LC = 0, BATCH = 1 };
enum kind { K_UMCG, K_MUTEXQ, K_MUTEXQ_NOPI, K_POOL, K_NTHREADS, K__COUNT };
static const char *const kind_name[K__COUNT] = {
	"umcg", "umcg.mutexq", "umcg.mutexq.noinherit", "pool", "nthreads",
};

/* The toolkit runs it (the mutexq ones: with a locked request queue). */
static bool is_umcg(enum kind k)
{
	return k == K_UMCG || k == K_MUTEXQ || k == K_MUTEXQ_NOPI;
}

/* ---- Options ----------------------------------------------------------------- */

static struct {
	double rate;		/* requests per second; 0: derived from load */
	double load;		/* offered CPU work as a fraction of N CPUs */
	double duration;	/* seconds, all configurations together */
	double warmup;		/* seconds per round, not measured */
	int rounds;		/* the configurations take turns this often */
	double lc_frac;		/* fraction of requests that are latency-critical */
	uint64_t burst_us[2];	/* each of the two bursts, per class */
	uint64_t sleep_us[2];	/* the backend call, per class */
	int workers;		/* umcg workers and pool threads; 0: 16 per CPU */
	int nthreads;		/* the small pool; 0: one per CPU */
	int ncpu;
	const char *policy;
	const char *only;
	const char *latency_out;	/* append "<config> <lc|batch> <us>" lines */
	bool json;
	bool quiet;
	bool plain_host;	/* toolkit threads with the kernel's defaults */
	bool mutexq;		/* also run umcg.mutexq and .noinherit */
	int pin_workers;	/* umcg_sched_attr.pin_workers (UMCG_SCHED_PIN_*) */
	uint64_t pool_slice_us;	/* EEVDF slice for pool threads; 0: default */
} opt = {
	.load = 0.93,
	.duration = 15,
	.warmup = 0.3,
	.rounds = 3,
	.lc_frac = 0.8,
	.burst_us = { 250, 4000 },
	.sleep_us = { 2000, 10000 },
	.policy = "prio",
	/*
	 * The library's default: a worker is pinned to its server's CPU while
	 * it holds it (server/worker wake-ups stay on one CPU: a few
	 * microseconds instead of a cross-CPU wake-up of ~85 us here) and
	 * released while it blocks.  --pin-workers never releases it,
	 * --no-pin-workers lets the kernel place workers.
	 */
	.pin_workers = UMCG_SCHED_PIN_HOLD,
};

/* ---- Time and work ---------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t process_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

/* CPU time the whole machine spent busy (all processes, steal included). */
static uint64_t host_busy_ns(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 8)
		return 0;
	/* user nice system [idle iowait] irq softirq steal */
	return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) *
	       (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
}

static double iters_per_us;
static uint64_t _Atomic work_sink;

/* The CPU work of a burst: xorshift iterations, the same for everyone. */
static void burn(uint64_t us)
{
	uint64_t n = (uint64_t)(iters_per_us * (double)us), x = n | 1;

	for (uint64_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	atomic_fetch_add_explicit(&work_sink, x & 1, memory_order_relaxed);
}

static void calibrate(void)
{
	uint64_t t0, n = 1 << 20;

	iters_per_us = 1;
	burn(n);	/* warm up the CPU clock */
	for (;;) {
		t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
		burn(n);
		t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
		if (t0 > 50000000ull)
			break;
		n *= 2;
	}
	iters_per_us = (double)n / ((double)t0 / 1000.0);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

/* ---- One run ----------------------------------------------------------------------- */

struct req {
	uint64_t due;		/* when the generator issued it (ns) */
	uint64_t _Atomic done;	/* when it completed; 0: not yet */
	uint64_t blocked;	/* ns inside pread/fsync/sleep */
	int cls;
	struct req *next;
};

/*
 * What a serving thread is started with.  Its class is fixed here, at
 * creation, because under UMCG its priority is fixed at spawn too: a class
 * taken in the order the threads first run (as the first version did) can
 * give a latency-critical queue a batch-priority worker and the reverse,
 * in whichever rounds two workers happen to start in the other order.
 */
struct serve_arg {
	struct run *run;
	int cls;
};

struct run {
	enum kind kind;
	int threads;
	struct req *reqs;
	size_t cap;
	size_t _Atomic issued;
	/*
	 * The application queues, one per class, each with its workers: a
	 * ring the generator alone fills and workers take from with one
	 * atomic add, after sem_wait() said an entry is there.  No lock: a
	 * worker preempted while holding one (the toolkit preempts batch
	 * workers for latency-critical ones) would stall the generator and
	 * every other worker behind the batch queue -- an inversion that
	 * cost latency-critical requests tens of milliseconds at p99.
	 */
	struct req **ring[2];
	size_t _Atomic ring_in[2], ring_out[2];
	/*
	 * --mutexq: the queues as a list under one pthread mutex instead,
	 * as an application would write them: that inversion, solved by the
	 * toolkit's priority inheritance (umcg.mutexq) or not
	 * (umcg.mutexq.noinherit).
	 */
	bool locked_queue;
	pthread_mutex_t qlock;
	struct req *head[2], *tail[2];
	int _Atomic qlen;
	sem_t sem[2];		/* one count per queued request */
	int nr_lc;		/* threads 0..nr_lc-1 serve LC, the rest batch */
	struct serve_arg *args;	/* one per thread */
	int fd;			/* the data file */
	bool _Atomic stop;
	uint64_t t0, t_warm, t_end;
	uint64_t gen_cpu_warm, gen_cpu_end;
	pthread_t gen;
	uint64_t _Atomic work_ns;	/* burst time done in the window */
	struct umcg_sched *sched;
	int round;
	/* Accumulated over the rounds. */
	uint64_t *lat[2];		/* latencies, us */
	size_t n[2], lat_cap[2], unfinished, done_in;
	double win_s, cpu_s, work_s, others_s;
	uint64_t blk, svc;
	struct umcg_server_stats st;
	/* Results. */
	double throughput, util, work_util, block_frac, others;
	double p50[2], p99[2];
};

static void locked_push(struct run *r, struct req *q)
{
	q->next = NULL;
	pthread_mutex_lock(&r->qlock);
	if (r->tail[q->cls])
		r->tail[q->cls]->next = q;
	else
		r->head[q->cls] = q;
	r->tail[q->cls] = q;
	atomic_fetch_add(&r->qlen, 1);
	pthread_mutex_unlock(&r->qlock);
	sem_post(&r->sem[q->cls]);
}

static struct req *locked_pop(struct run *r, int c)
{
	struct req *q;

	pthread_mutex_lock(&r->qlock);
	q = r->head[c];
	if (q) {
		r->head[c] = q->next;
		if (!r->head[c])
			r->tail[c] = NULL;
		atomic_fetch_sub(&r->qlen, 1);
	}
	pthread_mutex_unlock(&r->qlock);
	return q;
}

static void queue_push(struct run *r, struct req *q)
{
	size_t i = atomic_load_explicit(&r->ring_in[q->cls],
					memory_order_relaxed);

	if (r->locked_queue) {
		locked_push(r, q);
		return;
	}
	r->ring[q->cls][i] = q;
	/* release: the entry is written before a taker can reach it */
	atomic_store_explicit(&r->ring_in[q->cls], i + 1, memory_order_release);
	atomic_fetch_add(&r->qlen, 1);
	sem_post(&r->sem[q->cls]);
}

/* After a successful sem_wait() on @c's semaphore: that class's next entry. */
static struct req *queue_pop(struct run *r, int c)
{
 	size_t i;

	if (r->locked_queue)
		return locked_pop(r, c);
	i = atomic_fetch_add(&r->ring_out[c], 1);
	if (i >= atomic_load_explicit(&r->ring_in[c], memory_order_acquire))
		return NULL;
	atomic_fetch_sub(&r->qlen, 1);
	return r->ring[c][i];
}

/* The open-loop generator: issues on schedule, never waits for replies. */
static void *generator(void *arg)
{
	struct run *r = arg;
	double rate = opt.rate;
	/* The same requests for every configuration of a round. */
	uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(r->round + 1), due = r->t0;

	prctl(PR_SET_TIMERSLACK, 1UL);
	while (!atomic_load(&r->stop)) {
		struct timespec ts;
		size_t i;

		due += (uint64_t)(-log(1.0 - rng_unit(&seed)) / rate * 1e9);
		if (due >= r->t_end || (i = atomic_load(&r->issued)) >= r->cap)
			break;
		ts.tv_sec = (time_t)(due / 1000000000ull);
		ts.tv_nsec = (long)(due % 1000000000ull);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		if (!r->gen_cpu_warm && now_ns() >= r->t_warm)
			r->gen_cpu_warm = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
		r->reqs[i].due = due;
		r->reqs[i].cls = rng_unit(&seed) < opt.lc_frac ? LC : BATCH;
		atomic_store(&r->issued, i + 1);
		queue_push(r, &r->reqs[i]);
	}
	r->gen_cpu_end = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	return NULL;
}

static void serve(struct run *r, struct req *q)
{
	uint64_t t, b = opt.burst_us[q->cls], warm = r->t_warm, end = r->t_end;
	struct timespec sl = { .tv_sec = (time_t)(opt.sleep_us[q->cls] / 1000000),
			       .tv_nsec = (long)(opt.sleep_us[q->cls] % 1000000) * 1000 };
	char buf[4096];
	off_t off = (off_t)((q->due >> 10) % 256) * 4096;

	t = now_ns();
	burn(b);
	if (t >= warm && t < end)
		atomic_fetch_add(&r->work_ns, b * 1000);
	t = now_ns();
	if (pread(r->fd, buf, sizeof(buf), off) < 0 || fsync(r->fd))
		abort();
	nanosleep(&sl, NULL);
	q->blocked = now_ns() - t;
	t = now_ns();
	burn(b);
	if (t >= warm && t < end)
		atomic_fetch_add(&r->work_ns, b * 1000);
	atomic_store(&q->done, now_ns());
}

/* struct sched_attr of sched_setattr(2), for --pool-slice. */
struct demo_sched_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

/*
 * The same loop in every configuration (a worker, or a pool thread).  A
 * quarter of the threads (at least one) serve the latency-critical queue,
 * the others the batch queue, so batch requests can never occupy every
 * thread; under UMCG a worker's priority is its class, set at spawn.
 */
static void *serve_loop(void *arg)
{
	const struct serve_arg *sa = arg;
	struct run *r = sa->run;
	int c = sa->cls;

	if (!is_umcg(r->kind) && opt.pool_slice_us) {
		/* The kernel's own lever: a short slice for every pool thread. */
		struct demo_sched_attr a = { .size = sizeof(a), .policy = SCHED_OTHER,
					     .runtime = opt.pool_slice_us * 1000 };

		syscall(SYS_sched_setattr, 0, &a, 0);
	}
	for (;;) {
		struct req *q;

		while (sem_wait(&r->sem[c]) && errno == EINTR)
			;
		if (atomic_load(&r->stop))
			break;
		q = queue_pop(r, c);
		if (q)
			serve(r, q);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void add_latency(struct run *r, int c, uint64_t us)
{
	if (r->n[c] == r->lat_cap[c]) {
		r->lat_cap[c] = r->lat_cap[c] ? 2 * r->lat_cap[c] : 4096;
		r->lat[c] = realloc(r->lat[c], sizeof(uint64_t) * r->lat_cap[c]);
		if (!r->lat[c])
			abort();
	}
	r->lat[c][r->n[c]++] = us;
}

/* Fold one round into the totals. */
static void round_collect(struct run *r, uint64_t cut, uint64_t cpu_window)
{
	size_t issued = atomic_load(&r->issued);

	for (size_t i = 0; i < issued; i++) {
		struct req *q = &r->reqs[i];
		uint64_t d = atomic_load(&q->done);

		if (d >= r->t_warm && d < r->t_end)
			r->done_in++;
		if (q->due < r->t_warm)
			continue;
		if (!d) {
			r->unfinished++;
			d = cut;
		} else {
			r->blk += q->blocked;
			r->svc += q->blocked + 2 * opt.burst_us[q->cls] * 1000;
		}
		add_latency(r, q->cls, (d - q->due) / 1000);
	}
	r->win_s += (double)(r->t_end - r->t_warm) / 1e9;
	r->cpu_s += (double)cpu_window / 1e9;
	r->work_s += (double)atomic_load(&r->work_ns) / 1e9;
}

static void finish(struct run *r)
{
	FILE *f = opt.latency_out ? fopen(opt.latency_out, "a") : NULL;

	for (int c = 0; c < 2; c++) {
		size_t n = r->n[c];

		qsort(r->lat[c], n, sizeof(uint64_t), cmp_u64);
		for (size_t i = 0; f && i < n; i++)
			fprintf(f, "%s %s %llu\n", kind_name[r->kind], c == LC ? "lc" : "batch",
				(unsigned long long)r->lat[c][i]);
		r->p50[c] = n ? (double)r->lat[c][n / 2] : 0;
		r->p99[c] = n ? (double)r->lat[c][(size_t)((double)(n - 1) * 0.99)] : 0;
		free(r->lat[c]);
		r->lat[c] = NULL;
	}
	if (f)
		fclose(f);
	r->throughput = (double)r->done_in / r->win_s;
	r->util = r->cpu_s / r->win_s / opt.ncpu;
	r->work_util = r->work_s / r->win_s / opt.ncpu;
	r->block_frac = r->svc ? (double)r->blk / (double)r->svc : 0;
	r->others = r->others_s / r->win_s / opt.ncpu;
}

static void progress(struct run *r, uint64_t t, uint64_t cpu_d, uint64_t dt)
{
	size_t issued = atomic_load(&r->issued), done = 0;
	char line[160];
	int n;

	if (opt.quiet)
		return;
	for (size_t i = 0; i < issued; i++)
		done += atomic_load(&r->reqs[i].done) != 0;
	n = snprintf(line, sizeof(line),
		     "  %-8s round %d t=%4.1fs  issued=%6zu done=%6zu  util=%4.2f  queue=%4d",
		     kind_name[r->kind], r->round + 1, (double)(t - r->t0) / 1e9, issued, done,
		     (double)cpu_d / (double)dt / opt.ncpu, atomic_load(&r->qlen));
	if (r->sched) {
		struct umcg_server_stats st;

		umcg_sched_stats(r->sched, &st);
		n += snprintf(line + n, sizeof(line) - (size_t)n, " runq=%3llu",
			      (unsigned long long)st.queued);
	}
	fprintf(stderr, isatty(2) ? "\r%s\033[K" : "%s\n", line);
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ull),
			       .tv_nsec = (long)(t % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int start_threads(struct run *r, pthread_t *th)
{
	if (is_umcg(r->kind)) {
		struct umcg_sched_attr a;
		struct umcg_policy_prio_arg pa = { .nr_classes = 2, .preempt_on_wake = true };

		umcg_sched_attr_init(&a);
		a.policy = umcg_policy_by_name(opt.policy);
		if (!a.policy) {
			fprintf(stderr, "demo: unknown policy %s\n", opt.policy);
			return -EINVAL;
		}
		a.policy_arg = &pa;
		a.pin_workers = opt.pin_workers;
		a.priority_inherit = r->kind != K_MUTEXQ_NOPI;
		if (opt.plain_host) {
			a.server_rt = 0;
			a.host_slice_ns = -1;
		}
		if (umcg_sched_create(&r->sched, &a))
			return -1;
		for (int i = 0; i < r->threads; i++) {
			struct umcg_worker_attr wa;

			umcg_worker_attr_init(&wa);
			wa.priority = r->args[i].cls == LC ? 1 : 0;	/* LC above batch */
			if (umcg_worker_spawn(r->sched, NULL, serve_loop,
					      &r->args[i], &wa))
				return -1;
		}
		return 0;
	}
	for (int i = 0; i < r->threads; i++)
		if (pthread_create(&th[i], NULL, serve_loop, &r->args[i]))
			return -1;
	return 0;
}

static void stop_threads(struct run *r, pthread_t *th)
{
	atomic_store(&r->stop, true);
	/* One token per thread: every waiting thread returns and sees stop. */
	for (int i = 0; i < r->threads; i++) {
		sem_post(&r->sem[LC]);
		sem_post(&r->sem[BATCH]);
	}
	if (is_umcg(r->kind)) {
		struct umcg_server_stats st;

		umcg_sched_stats(r->sched, &st);
		r->st.switches += st.switches;
		r->st.blocks += st.blocks;
		r->st.wakes += st.wakes;
		r->st.preemptions += st.preemptions;
		r->st.steals += st.steals;
		r->st.kicks += st.kicks;
		umcg_sched_destroy(r->sched);
		r->sched = NULL;
		return;
	}
	for (int i = 0; i < r->threads; i++)
		pthread_join(th[i], NULL);
}

static int run_one(struct run *r, int fd, double seconds)
{
	uint64_t cpu_warm, cpu_end, gen_cpu, t, cpu_prev, t_prev, cut, host_warm, host_end;
	clockid_t gen_clk;
	pthread_t *th = calloc((size_t)r->threads, sizeof(*th));

	r->fd = fd;
	atomic_store(&r->issued, 0);
	atomic_store(&r->stop, false);
	atomic_store(&r->qlen, 0);
	atomic_store(&r->work_ns, 0);
	r->gen_cpu_warm = r->gen_cpu_end = 0;
	r->cap = (size_t)(opt.rate * (seconds + opt.warmup) * 1.5) + 1000;
	r->reqs = calloc(r->cap, sizeof(*r->reqs));
	for (int c = 0; c < 2; c++) {
		r->ring[c] = calloc(r->cap, sizeof(*r->ring[c]));
		atomic_store(&r->ring_in[c], 0);
		atomic_store(&r->ring_out[c], 0);
	}
	r->locked_queue = r->kind == K_MUTEXQ || r->kind == K_MUTEXQ_NOPI;
	pthread_mutex_init(&r->qlock, NULL);
	r->head[LC] = r->head[BATCH] = r->tail[LC] = r->tail[BATCH] = NULL;
	sem_init(&r->sem[LC], 0, 0);
	sem_init(&r->sem[BATCH], 0, 0);
	r->nr_lc = r->threads / 4 > 0 ? r->threads / 4 : 1;
	r->args = calloc((size_t)r->threads, sizeof(*r->args));
	for (int i = 0; r->args && i < r->threads; i++)
		r->args[i] = (struct serve_arg){ r, i < r->nr_lc ? LC : BATCH };
	if (!th || !r->args || !r->reqs || !r->ring[LC] || !r->ring[BATCH] ||
	    start_threads(r, th)) {
		fprintf(stderr, "demo: cannot start %s\n", kind_name[r->kind]);
		return -1;
	}
	r->t0 = now_ns() + 20000000ull;	/* let every thread settle first */
	r->t_warm = r->t0 + (uint64_t)(opt.warmup * 1e9);
	r->t_end = r->t_warm + (uint64_t)(seconds * 1e9);
	pthread_create(&r->gen, NULL, generator, r);
	pthread_getcpuclockid(r->gen, &gen_clk);

	sleep_until(r->t_warm);
	cpu_warm = process_cpu_ns();
	host_warm = host_busy_ns();
	cpu_prev = cpu_warm;
	t_prev = now_ns();
	for (t = r->t_warm + 500000000ull; t < r->t_end; t += 500000000ull) {
		uint64_t c;

		sleep_until(t);
		c = process_cpu_ns();
		progress(r, t, c - cpu_prev, now_ns() - t_prev);
		cpu_prev = c;
		t_prev = now_ns();
	}
	sleep_until(r->t_end);
	cpu_end = process_cpu_ns();
	host_end = host_busy_ns();
	pthread_join(r->gen, NULL);
	gen_cpu = r->gen_cpu_end - r->gen_cpu_warm;
	(void)gen_clk;
	/* Drain: give what was issued up to a second to finish. */
	cut = r->t_end + 1000000000ull;
	for (;;) {
		size_t issued = atomic_load(&r->issued), i;

		for (i = 0; i < issued && atomic_load(&r->reqs[i].done); i++)
			;
		if (i == issued || now_ns() >= cut)
			break;
		usleep(10000);
	}
	cut = now_ns();
	stop_threads(r, th);
	if (!opt.quiet && isatty(2))
		fprintf(stderr, "\n");
	round_collect(r, cut, cpu_end - cpu_warm - (gen_cpu < cpu_end - cpu_warm ? gen_cpu : 0));
	/* Other processes' CPU time in the window: a loaded host skews all. */
	if (host_end - host_warm > cpu_end - cpu_warm)
		r->others_s += (double)(host_end - host_warm - (cpu_end - cpu_warm)) / 1e9;
	pthread_mutex_destroy(&r->qlock);
	sem_destroy(&r->sem[LC]);
	sem_destroy(&r->sem[BATCH]);
	free(r->ring[LC]);
	free(r->ring[BATCH]);
	r->ring[LC] = r->ring[BATCH] = NULL;
	free(r->reqs);
	r->reqs = NULL;
	free(th);
	free(r->args);
	r->args = NULL;
	return 0;
}

/* ---- Output ---------------------------------------------------------------------- */

static void print_table(struct run *runs, int n)
{
	printf("\n%-21s %8s %6s %6s %8s %10s %10s %11s %11s %6s %7s\n", "config",
	       "req/s", "util", "work", "blocked", "lc_p50_us", "lc_p99_us",
	       "batch_p50", "batch_p99", "unfin", "others");
	for (int i = 0; i < n; i++) {
		struct run *r = &runs[i];

		printf("%-21s %8.1f %6.3f %6.3f %7.0f%% %10.0f %10.0f %11.0f %11.0f %6zu %7.3f\n",
		       kind_name[r->kind], r->throughput, r->util, r->work_util,
		       r->block_frac * 100, r->p50[LC], r->p99[LC], r->p50[BATCH],
		       r->p99[BATCH], r->unfinished, r->others);
	}
	for (int i = 0; i < n; i++)
		if (is_umcg(runs[i].kind))
			printf("\n%s (%s, backend %s): switches=%llu blocks=%llu "
			       "wakes=%llu preemptions=%llu steals=%llu kicks=%llu\n",
			       kind_name[runs[i].kind], opt.policy, umcg_backend_name(),
			       (unsigned long long)runs[i].st.switches,
			       (unsigned long long)runs[i].st.blocks,
			       (unsigned long long)runs[i].st.wakes,
			       (unsigned long long)runs[i].st.preemptions,
			       (unsigned long long)runs[i].st.steals,
			       (unsigned long long)runs[i].st.kicks);
}

static void print_json(struct run *runs, int n)
{
	printf("{\"cpus\":%d,\"rate\":%.1f,\"seconds_each\":%.2f,\"lc_frac\":%.3f,"
	       "\"policy\":\"%s\",\"backend\":\"%s\",\"configs\":[",
	       opt.ncpu, opt.rate, opt.duration / n, opt.lc_frac, opt.policy,
	       umcg_backend_name());
	for (int i = 0; i < n; i++) {
		struct run *r = &runs[i];

		printf("%s{\"name\":\"%s\",\"threads\":%d,\"throughput\":%.1f,"
		       "\"util\":%.4f,\"work_util\":%.4f,\"blocked_frac\":%.4f,"
		       "\"lc_p50_us\":%.0f,\"lc_p99_us\":%.0f,\"batch_p50_us\":%.0f,"
		       "\"batch_p99_us\":%.0f,\"lc_n\":%zu,\"batch_n\":%zu,"
		       "\"unfinished\":%zu,\"others_util\":%.4f}",
		       i ? "," : "", kind_name[r->kind], r->threads, r->throughput,
		       r->util, r->work_util, r->block_frac, r->p50[LC], r->p99[LC],
		       r->p50[BATCH], r->p99[BATCH], r->n[LC], r->n[BATCH], r->unfinished,
		       r->others);
	}
	printf("]}\n");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: demo [options]\n"
		"  --rate R          requests per second (default: --load of the CPUs)\n"
		"  --load F          offered CPU work as a fraction of all CPUs (0.93)\n"
		"  --duration S      measured seconds, all configurations together (15)\n"
		"  --warmup S        unmeasured seconds at the start of each round (0.3)\n"
		"  --rounds N        the configurations take turns N times (3)\n"
		"  --mix F           fraction of latency-critical requests (0.8)\n"
		"  --lc-burst US     each of the 2 bursts of a latency-critical request (250)\n"
		"  --batch-burst US  each of the 2 bursts of a batch request (4000)\n"
		"  --lc-sleep US     backend call of a latency-critical request (2000)\n"
		"  --batch-sleep US  backend call of a batch request (10000)\n"
		"  --policy NAME     umcg policy: prio, fifo, global, slice (prio)\n"
		"  --workers N       umcg workers and pool threads (16 per CPU)\n"
		"  --nthreads N      threads of the small pool (one per CPU)\n"
		"  --only LIST       run only these, e.g. umcg,pool\n"
		"  --mutexq          also umcg.mutexq and umcg.mutexq.noinherit: the\n"
		"                    request queues under a pthread mutex, with and\n"
		"                    without priority inheritance\n"
		"  --json            machine-readable summary on stdout\n"
		"  --latency-out F   append every measured latency to F\n"
		"                    (\"<config> <lc|batch> <us>\" lines, for plots)\n"
		"  --quiet           no progress line\n"
		"  --pin-workers     pin umcg workers to their server's CPU for good\n"
		"                    (default: while they hold it, released in blocks)\n"
		"  --no-pin-workers  let the kernel place umcg workers\n"
		"  --pool-slice US   give pool threads this EEVDF slice (Linux 6.12+)\n"
		"  --plain-host      umcg servers/workers with the kernel's default\n"
		"                    scheduling (no SCHED_FIFO servers, no short slice)\n");
}

static int parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rate", 1, 0, 'r' }, { "load", 1, 0, 'L' }, { "duration", 1, 0, 'd' },
		{ "warmup", 1, 0, 'W' }, { "mix", 1, 0, 'm' }, { "lc-burst", 1, 0, 1 },
		{ "batch-burst", 1, 0, 2 }, { "lc-sleep", 1, 0, 3 },
		{ "batch-sleep", 1, 0, 4 }, { "policy", 1, 0, 'p' },
		{ "workers", 1, 0, 'w' }, { "nthreads", 1, 0, 'n' }, { "only", 1, 0, 'o' },
		{ "json", 0, 0, 'j' }, { "quiet", 0, 0, 'q' }, { "help", 0, 0, 'h' },
		{ "plain-host", 0, 0, 5 }, { "pin-workers", 0, 0, 6 },
		{ "no-pin-workers", 0, 0, 9 },
		{ "pool-slice", 1, 0, 7 }, { "rounds", 1, 0, 8 },
		{ "mutexq", 0, 0, 10 },
		{ "latency-out", 1, 0, 11 },
		{ 0, 0, 0, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "r:L:d:W:m:p:w:n:o:jqh", lo, NULL)) != -1) {
		switch (c) {
		case 'r': opt.rate = atof(optarg); break;
		case 'L': opt.load = atof(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'W': opt.warmup = atof(optarg); break;
		case 'm': opt.lc_frac = atof(optarg); break;
		case 1: opt.burst_us[LC] = strtoull(optarg, NULL, 0); break;
		case 2: opt.burst_us[BATCH] = strtoull(optarg, NULL, 0); break;
		case 3: opt.sleep_us[LC] = strtoull(optarg, NULL, 0); break;
		case 4: opt.sleep_us[BATCH] = strtoull(optarg, NULL, 0); break;
		case 'p': opt.policy = optarg; break;
		case 'w': opt.workers = atoi(optarg); break;
		case 'n': opt.nthreads = atoi(optarg); break;
		case 'o': opt.only = optarg; break;
		case 'j': opt.json = true; break;
		case 'q': opt.quiet = true; break;
		case 5: opt.plain_host = true; break;
		case 6: opt.pin_workers = UMCG_SCHED_PIN_ALWAYS; break;
		case 9: opt.pin_workers = UMCG_SCHED_PIN_NEVER; break;
		case 8: opt.rounds = atoi(optarg); break;
		case 10: opt.mutexq = true; break;
		case 11: opt.latency_out = optarg; break;
		case 7: opt.pool_slice_us = strtoull(optarg, NULL, 0); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (opt.duration <= 0 || opt.rounds < 1 || opt.lc_frac < 0 || opt.lc_frac > 1 || opt.load <= 0)
		return -1;
	return 0;
}

/* @name is one of the comma-separated names of @list. */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct run runs[K__COUNT];
	char dir[] = "/tmp/umcg-demo-XXXXXX", path[64];
	static char block[1 << 20];
	cpu_set_t set;
	double mean_cpu_us;
	int fd, n = 0;

	if (parse(argc, argv))
		return 2;
	sched_getaffinity(0, sizeof(set), &set);
	opt.ncpu = CPU_COUNT(&set);
	if (!opt.workers)
		opt.workers = 16 * opt.ncpu;
	if (!opt.nthreads)
		opt.nthreads = opt.ncpu;
	mean_cpu_us = 2.0 * (opt.lc_frac * (double)opt.burst_us[LC] +
			     (1 - opt.lc_frac) * (double)opt.burst_us[BATCH]);
	if (!opt.rate)
		opt.rate = opt.load * opt.ncpu * 1e6 / mean_cpu_us;

	if (!mkdtemp(dir)) {
		perror("demo: mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/data", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	memset(block, 0xa5, sizeof(block));
	if (fd < 0 || write(fd, block, sizeof(block)) != (ssize_t)sizeof(block) || fsync(fd)) {
		perror("demo: data file");
		return 1;
	}
	calibrate();

	for (int k = 0; k < K__COUNT; k++)
		if (opt.only ? listed(opt.only, kind_name[k])
			     : (k != K_MUTEXQ && k != K_MUTEXQ_NOPI) || opt.mutexq)
			runs[n++] = (struct run){ .kind = (enum kind)k };
	if (!opt.quiet)
		fprintf(stderr,
			"demo: %d CPUs, %.0f req/s (%.0f%% of the CPUs in bursts), "
			"%.0f%% latency-critical; %.1f s per configuration in %d rounds; "
			"umcg backend: %s\n"
			"  lc: 2 x %llu us compute, pread+fsync, %llu us backend call;"
			" batch: 2 x %llu us, %llu us (blocking >= %.0f%% / %.0f%% of"
			" the service time)\n",
			opt.ncpu, opt.rate, opt.rate * mean_cpu_us / 1e6 / opt.ncpu * 100,
			opt.lc_frac * 100, opt.duration / n, opt.rounds, umcg_backend_name(),
			(unsigned long long)opt.burst_us[LC],
			(unsigned long long)opt.sleep_us[LC],
			(unsigned long long)opt.burst_us[BATCH],
			(unsigned long long)opt.sleep_us[BATCH],
			100.0 * (double)opt.sleep_us[LC] /
				(double)(opt.sleep_us[LC] + 2 * opt.burst_us[LC]),
			100.0 * (double)opt.sleep_us[BATCH] /
				(double)(opt.sleep_us[BATCH] + 2 * opt.burst_us[BATCH]));
	/*
	 * The configurations take turns, round after round, so that whatever
	 * else the host does meanwhile falls on all of them alike.
	 */
	for (int i = 0; i < n; i++)
		runs[i].threads = runs[i].kind == K_NTHREADS ? opt.nthreads : opt.workers;
	for (int round = 0; round < opt.rounds; round++)
		for (int i = 0; i < n; i++) {
			runs[i].round = round;
			if (run_one(&runs[i], fd, opt.duration / n / opt.rounds))
				return 1;
		}
	for (int i = 0; i < n; i++)
		finish(&runs[i]);
	close(fd);
	unlink(path);
	rmdir(dir);

	if (opt.json)
		print_json(runs, n);
	else
		print_table(runs, n);
	for (int i = 0; i < n; i++)
		printf("RESULT %s throughput=%.1f util=%.3f lc_p50_us=%.0f lc_p99_us=%.0f "
		       "batch_p50_us=%.0f batch_p99_us=%.0f\n",
		       kind_name[runs[i].kind], runs[i].throughput, runs[i].util,
		       runs[i].p50[LC], runs[i].p99[LC], runs[i].p50[BATCH],
		       runs[i].p99[BATCH]);
	return 0;
}
