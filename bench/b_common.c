// SPDX-License-Identifier: MIT
/*
 * Benchmark helpers: clock, pinning, sample series, the report line and
 * the raw futex baton.  The only file in bench/ that makes a futex call.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"

uint64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

__attribute__((noreturn)) void bench_die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what,
		strerror(errno));
	exit(1);
}

void bench_note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "# %s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int bench_pin(void)
{
	const char *env = getenv("UMCG_BENCH_CPU");
	cpu_set_t set;
	int cpu = -1;

	if (sched_getaffinity(0, sizeof(set), &set))
		bench_die("sched_getaffinity");
	if (env && *env) {
		cpu = atoi(env);
	} else {
		for (int i = CPU_SETSIZE - 1; i >= 0 && cpu < 0; i--)
			if (CPU_ISSET(i, &set))
				cpu = i;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		bench_die("sched_setaffinity");
	return cpu;
}

unsigned bench_scaled(unsigned n)
{
	const char *env = getenv("UMCG_BENCH_SCALE");
	double f = env && *env ? atof(env) : 1.0;
	double r = n * f;

	return r < 1 ? 1 : (unsigned)r;
}

/* ---- Series ---------------------------------------------------------------- */

void bench_series_add(struct bench_series *s, double x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			bench_die("realloc");
	}
	s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The @p-th percentile (0..100) of @s, nearest rank on a sorted copy. */
static double percentile(const struct bench_series *s, double p)
{
	double *c, r;
	size_t i;

	if (!s->n)
		return 0;
	c = malloc(s->n * sizeof(*c));
	if (!c)
		bench_die("malloc");
	memcpy(c, s->v, s->n * sizeof(*c));
	qsort(c, s->n, sizeof(*c), cmp_double);
	i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
	r = c[i];
	free(c);
	return r;
}

double bench_series_median(const struct bench_series *s)
{
	return percentile(s, 50);
}

/* Every sample in the order taken, for plots: env UMCG_BENCH_DUMP. */
static void dump(const char *name, const char *what,
		 const struct bench_series *s)
{
	fprintf(stderr, "# dump %s%s:", name, what);
	for (size_t i = 0; i < s->n; i++)
		fprintf(stderr, " %.0f", s->v[i]);
	fputc('\n', stderr);
}

void bench_report(const char *name, const struct bench_series *m,
		  const struct bench_series *base)
{
	const char *prefix = getenv("UMCG_BENCH_PREFIX");
	double med = bench_series_median(m), bmed = bench_series_median(base);

	bench_note("%s: n=%zu p10=%.0f median=%.0f p90=%.0f | baseline n=%zu "
		   "p10=%.0f median=%.0f p90=%.0f", name, m->n,
		   percentile(m, 10), med, percentile(m, 90), base->n,
		   percentile(base, 10), bmed, percentile(base, 90));
	if (getenv("UMCG_BENCH_DUMP")) {
		dump(name, "", m);
		dump(name, ".baseline", base);
	}
	printf("BENCH %s%s median_ns=%.0f baseline_ns=%.0f ratio=%.2f\n",
	       prefix ? prefix : "", name, med, bmed, bmed > 0 ? med / bmed : 0);
	fflush(stdout);
}

/* ---- Batches and rounds ------------------------------------------------------ */

void bench_batch_reset(struct bench_batch *b, unsigned ops)
{
	b->ops = ops;
	b->t0 = b->t1 = 0;
	atomic_store(&b->count, 0);
}

void bench_batch_tick(struct bench_batch *b)
{
	unsigned n = atomic_fetch_add(&b->count, 1) + 1;

	if (n == 1)
		b->t0 = bench_now();
	else if (n == b->ops + 1)
		b->t1 = bench_now();
}

bool bench_batch_over(struct bench_batch *b)
{
	return atomic_load(&b->count) > b->ops;
}

double bench_batch_ns(const struct bench_batch *b)
{
	return (double)(b->t1 - b->t0) / b->ops;
}

void bench_interleave(unsigned rounds, unsigned per_round, unsigned n,
		      void (*const fns[])(struct bench_series *out),
		      struct bench_series *out)
{
	for (unsigned r = 0; r <= rounds; r++)
		for (unsigned b = 0; b < per_round; b++)
			for (unsigned i = 0; i < n; i++) {
				unsigned k = (i + r + b) % n;

				fns[k](r ? &out[k] : NULL);
			}
}

/* ---- Batons ------------------------------------------------------------------ */

void bench_baton_pass(struct bench_baton *to)
{
	/* seq_cst store before the wake: pairs with the waiter's re-check */
	atomic_store(&to->word, 1);
	/* a polling waiter that is not in FUTEX_WAIT needs no wake-up */
	if (!to->poll_ns || atomic_load(&to->sleepers))
		syscall(SYS_futex, &to->word, FUTEX_WAKE_PRIVATE, 1, NULL,
			NULL, 0);
}

/*
 * The shape of the emul server's poll (src/emul/emul.c, server_wait()):
 * at most BENCH_POLL_YIELDS sched_yield()s within poll_ns, and only when
 * the previous wait was that short too.
 */
#define BENCH_POLL_YIELDS 4

static void baton_poll(struct bench_baton *self, uint64_t start)
{
	if (self->last_wait_ns > self->poll_ns)
		return;
	for (int i = 0; i < BENCH_POLL_YIELDS; i++) {
		if (atomic_load(&self->word))
			return;
		if (bench_now() - start > self->poll_ns)
			return;
		sched_yield();
	}
}

void bench_baton_wait(struct bench_baton *self)
{
	uint64_t start = self->poll_ns ? bench_now() : 0;

	if (self->poll_ns)
		baton_poll(self, start);
	while (!atomic_load(&self->word)) {
		if (!self->poll_ns) {
			syscall(SYS_futex, &self->word, FUTEX_WAIT_PRIVATE, 0,
				NULL, NULL, 0);
			continue;
		}
		/* seq_cst before the futex compares: pairs with the passer */
		atomic_fetch_add(&self->sleepers, 1);
		syscall(SYS_futex, &self->word, FUTEX_WAIT_PRIVATE, 0, NULL,
			NULL, 0);
		atomic_fetch_sub(&self->sleepers, 1);
	}
	if (self->poll_ns)
		self->last_wait_ns = bench_now() - start;
	atomic_store(&self->word, 0);
}

void bench_baton_set_poll(struct bench_baton *b, uint64_t poll_ns)
{
	b->poll_ns = poll_ns;
	b->last_wait_ns = 0;
}

/* emul's default of UMCG_SERVER_SPIN_NS (src/emul/emul.c) */
#define BENCH_EMUL_POLL_NS 20000

uint64_t bench_server_poll_ns(void)
{
	const char *env = getenv("UMCG_SERVER_SPIN_NS");

	if (strcmp(umcg_backend_name(), "emul"))
		return 0;
	return env ? strtoull(env, NULL, 0) : BENCH_EMUL_POLL_NS;
}

const char *bench_poll_suffix(void)
{
	return !strcmp(umcg_backend_name(), "emul") && !bench_server_poll_ns() ?
	       ".nopoll" : "";
}

int bench_rerun_without_poll(char **argv)
{
	pid_t pid;
	int st;

	if (!bench_server_poll_ns())
		return 0;
	if (getenv("UMCG_BENCH_NO_RERUN")) {
		bench_note("no .nopoll run (UMCG_BENCH_NO_RERUN)");
		return 0;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bench_die("fork");
	if (pid == 0) {
		setenv("UMCG_SERVER_SPIN_NS", "0", 1);
		execv("/proc/self/exe", argv);
		bench_die("execv");
	}
	if (waitpid(pid, &st, 0) != pid)
		bench_die("waitpid");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static void *relay_main(void *arg)
{
	struct bench_relay *r = arg;

	for (;;) {
		bench_baton_wait(&r->baton);
		bench_baton_pass(r->step(r));
	}
	return NULL;
}

void bench_relay_start(struct bench_relay *r,
		       struct bench_baton *(*step)(struct bench_relay *self),
		       void *arg)
{
	r->step = step;
	r->arg = arg;
	errno = pthread_create(&r->thread, NULL, relay_main, r);
	if (errno)
		bench_die("pthread_create");
}

/* ---- Gates ------------------------------------------------------------------- */

void bench_gate_wait(_Atomic uint32_t *word, uint32_t seen)
{
	while (atomic_load(word) == seen)
		syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

void bench_gate_open(_Atomic uint32_t *word)
{
	atomic_fetch_add(word, 1);
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* ---- Per-iteration handoff latency -------------------------------------------- */

static struct {
	struct bench_relay relays[2];
	struct bench_baton done;
	struct bench_series *out;
	unsigned left;
	uint64_t t_pass;
	bool armed, started;
} hl;

static struct bench_baton *handoff_step(struct bench_relay *self)
{
	uint64_t t1 = bench_now();

	if (hl.armed) {
		if (hl.out)
			bench_series_add(hl.out, (double)(t1 - hl.t_pass));
		hl.left--;
	}
	hl.armed = hl.left > 0;
	if (!hl.armed)
		return &hl.done;
	hl.t_pass = bench_now();
	return self->arg;
}

void bench_handoff_latency(unsigned samples, struct bench_series *out)
{
	if (!hl.started) {
		for (int i = 0; i < 2; i++)
			bench_relay_start(&hl.relays[i], handoff_step,
					  &hl.relays[!i].baton);
		hl.started = true;
	}
	hl.out = out;
	hl.left = samples;
	hl.armed = false;
	bench_baton_pass(&hl.relays[0].baton);
	bench_baton_wait(&hl.done);
}
