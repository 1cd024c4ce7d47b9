// SPDX-License-Identifier: MIT
/*
 * wake_first: a scheduling policy written outside the library, plugged
 * into the toolkit with attr.policy = &wake_first_ops.
 *
 * The policy keeps one queue for all servers.  A worker whose blocking
 * call just returned goes to the front of it; every other runnable worker
 * (new, yielded, preempted, timed out) to the back.  A worker that waited
 * for I/O therefore runs as soon as a CPU frees, ahead of the workers that
 * compute: the usual way to keep I/O-bound work responsive next to
 * CPU-bound work.
 *
 * This example demonstrates:
 *  - the few callbacks a policy needs (enqueue and pick; steal is not
 *    needed with one shared queue, and queued() feeds the statistics);
 *  - the reason a worker is enqueued for (enum umcg_enqueue_reason);
 *  - policy-private data from init(), shared state under a
 *    struct umcg_policy_lock, and the toolkit's intrusive queue.
 *
 * The program runs the same workload under this policy and under the
 * built-in "global" FIFO and prints how late a blocking worker's 1 ms
 * sleeps return (time to get a CPU back).  Usage: wake_first [rounds]
 * The figures depend on the machine; the program checks only that every
 * worker did all its rounds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <umcg.h>
#include <umcg_sched.h>

/* ---- The policy --------------------------------------------------------- */

struct wake_first {
	struct umcg_policy_lock lock;
	struct umcg_policy_queue q;
	size_t _Atomic len;	/* q.len, readable without the lock */
};

static struct wake_first *wf_of(struct umcg_server *srv)
{
	return umcg_sched_policy_data(umcg_server_sched(srv));
}

static int wf_init(struct umcg_sched *s, const void *arg, void **data)
{
	struct wake_first *wf = calloc(1, sizeof(*wf));

	(void)s;
	(void)arg;
	if (!wf)
		return -ENOMEM;
	umcg_policy_queue_init(&wf->q);
	*data = wf;
	return 0;
}

static void wf_exit(struct umcg_sched *s, void *data)
{
	(void)s;
	free(data);
}

static void wf_enqueue(struct umcg_server *srv, struct umcg_worker *w,
		       enum umcg_enqueue_reason why)
{
	struct wake_first *wf = wf_of(srv);

	umcg_policy_lock(&wf->lock);
	if (why == UMCG_ENQ_WOKEN)
		umcg_policy_queue_push_front(&wf->q, w);
	else
		umcg_policy_queue_push(&wf->q, w);
	wf->len = wf->q.len;
	umcg_policy_unlock(&wf->lock);
}

static struct umcg_worker *wf_pick(struct umcg_server *srv)
{
	struct wake_first *wf = wf_of(srv);
	struct umcg_worker *w;

	if (!wf->len)
		return NULL;	/* racy peek; the lock decides */
	umcg_policy_lock(&wf->lock);
	w = umcg_policy_queue_pop(&wf->q);
	wf->len = wf->q.len;
	umcg_policy_unlock(&wf->lock);
	return w;
}

/* One queue for all: counted on server 0 only, so that sums stay right. */
static size_t wf_queued(struct umcg_server *srv)
{
	return umcg_server_id(srv) == 0 ? wf_of(srv)->len : 0;
}

static const struct umcg_policy_ops wake_first_ops = {
	.name = "wake_first",
	.init = wf_init,
	.exit = wf_exit,
	.enqueue = wf_enqueue,
	.pick = wf_pick,
	.queued = wf_queued,
};

/* ---- The workload ------------------------------------------------------- */

#define COMPUTERS	4
#define SLEEPERS	2
#define SLEEP_US	1000
#define COMPUTE_NS	(200 * 1000ULL)

static int rounds = 200;

struct sleeper {
	uint64_t *late_ns;	/* one per round */
	int done;
};

struct computer {
	_Atomic int *stop;
};

static uint64_t now(void)
{
	return umcg_clock_ns(CLOCK_MONOTONIC);
}

/* Compute in short bursts, yielding between them, until the sleepers end. */
static void *compute(void *arg)
{
	struct computer *c = arg;

	while (!*c->stop) {
		uint64_t end = now() + COMPUTE_NS;

		while (now() < end)
			;
		umcg_worker_yield();
	}
	return NULL;
}

/* Sleep 1 ms (a blocking call: the hooks tell the server); note how late. */
static void *sleep_rounds(void *arg)
{
	struct sleeper *sl = arg;

	for (int i = 0; i < rounds; i++) {
		uint64_t t = now();

		usleep(SLEEP_US);
		t = now() - t;
		sl->late_ns[i] = t > SLEEP_US * 1000ULL ? t - SLEEP_US * 1000ULL : 0;
		sl->done++;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int run(const struct umcg_policy_ops *policy)
{
	struct umcg_worker *cw[COMPUTERS], *sw[SLEEPERS];
	struct computer comp[COMPUTERS];
	struct sleeper sl[SLEEPERS];
	uint64_t *late = calloc((size_t)rounds * SLEEPERS, sizeof(*late));
	struct umcg_sched_attr attr;
	struct umcg_sched *s;
	_Atomic int stop = 0;
	int r, ok = 1;

	if (!late)
		return -ENOMEM;
	umcg_sched_attr_init(&attr);
	attr.policy = policy;
	r = umcg_sched_create(&s, &attr);
	if (r) {
		free(late);
		return r;
	}
	for (int i = 0; i < SLEEPERS; i++) {
		sl[i] = (struct sleeper){ .late_ns = late + (size_t)i * rounds };
		umcg_worker_spawn(s, &sw[i], sleep_rounds, &sl[i], NULL);
	}
	for (int i = 0; i < COMPUTERS; i++) {
		comp[i] = (struct computer){ .stop = &stop };
		umcg_worker_spawn(s, &cw[i], compute, &comp[i], NULL);
	}
	for (int i = 0; i < SLEEPERS; i++) {
		umcg_worker_join(sw[i], NULL);
		ok &= sl[i].done == rounds;
	}
	stop = 1;
	for (int i = 0; i < COMPUTERS; i++)
		umcg_worker_join(cw[i], NULL);
	umcg_sched_destroy(s);

	qsort(late, (size_t)rounds * SLEEPERS, sizeof(*late), cmp_u64);
	printf("%-10s  sleeps %d  late p50 %6.0f us  p90 %6.0f us\n",
	       policy->name, rounds * SLEEPERS,
	       late[(size_t)rounds * SLEEPERS / 2] / 1e3,
	       late[(size_t)rounds * SLEEPERS * 9 / 10] / 1e3);
	free(late);
	return ok ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	int r;

	if (argc > 1)
		rounds = atoi(argv[1]);
	if (rounds < 1) {
		fprintf(stderr, "usage: wake_first [rounds > 0]\n");
		return 2;
	}
	if ((r = run(&wake_first_ops)) || (r = run(umcg_policy_global))) {
		fprintf(stderr, "wake_first: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
