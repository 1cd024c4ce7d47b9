// SPDX-License-Identifier: MIT
/*
 * Round-robin with time slices.
 *
 * One global FIFO, as in global.c, plus a time slice: when a server starts
 * a worker it sets its umcg_wait() timeout to the end of the slice.  If the
 * worker still runs then and another worker waits, the toolkit preempts it
 * (UMCG_TF_PREEMPT + umcg_kick) and it goes to the tail of the queue.  A
 * worker that blocks or yields before its slice ends simply leaves.
 *
 * This policy demonstrates:
 *  - slice_ns() and tick(): preemption driven by the server's timeout;
 *  - a policy argument (struct umcg_policy_slice_arg) read in init();
 *  - that a lone worker is not preempted: tick() returns false when
 *    nothing else waits, and the worker gets a new slice.
 *
 * Limits: the slice is enforced at the server's wake-up, so a preemption
 * lands a few microseconds after the slice end (more on the emul backend,
 * where it is a signal); every worker gets the same slice.
 */
#include <errno.h>
#include <stdlib.h>
#include <umcg_sched.h>

#define SLICE_DEFAULT_NS 2000000ull

struct slice_rq {
	struct umcg_policy_lock lock;
	struct umcg_policy_queue q;
	size_t _Atomic len;
	uint64_t slice_ns;
};

static struct slice_rq *rq_of(struct umcg_server *srv)
{
	return umcg_sched_policy_data(umcg_server_sched(srv));
}

static int slice_init(struct umcg_sched *s, const void *arg, void **data)
{
	const struct umcg_policy_slice_arg *a = arg;
	struct slice_rq *rq = calloc(1, sizeof(*rq));

	(void)s;
	if (!rq)
		return -ENOMEM;
	rq->slice_ns = a && a->slice_ns ? a->slice_ns : SLICE_DEFAULT_NS;
	*data = rq;
	return 0;
}

static void slice_exit(struct umcg_sched *s, void *data)
{
	(void)s;
	free(data);
}

static void slice_enqueue(struct umcg_server *srv, struct umcg_worker *w,
			  enum umcg_enqueue_reason why)
{
	struct slice_rq *rq = rq_of(srv);

	(void)why;	/* preempted or not: to the tail, that is round-robin */
	umcg_policy_lock(&rq->lock);
	umcg_policy_queue_push(&rq->q, w);
	rq->len = rq->q.len;
	umcg_policy_unlock(&rq->lock);
}

static struct umcg_worker *slice_pick(struct umcg_server *srv)
{
	struct slice_rq *rq = rq_of(srv);
	struct umcg_worker *w;

	if (!rq->len)
		return NULL;
	umcg_policy_lock(&rq->lock);
	w = umcg_policy_queue_pop(&rq->q);
	rq->len = rq->q.len;
	umcg_policy_unlock(&rq->lock);
	return w;
}

static uint64_t slice_slice_ns(struct umcg_server *srv, struct umcg_worker *w)
{
	(void)w;
	return rq_of(srv)->slice_ns;
}

static bool slice_tick(struct umcg_server *srv, struct umcg_worker *curr,
		       uint64_t ran_ns)
{
	(void)curr;
	(void)ran_ns;
	return rq_of(srv)->len > 0;
}

static size_t slice_queued(struct umcg_server *srv)
{
	return umcg_server_id(srv) == 0 ? rq_of(srv)->len : 0;
}

const struct umcg_policy_ops slice_ops = {
	.name = "slice",
	.init = slice_init,
	.exit = slice_exit,
	.enqueue = slice_enqueue,
	.pick = slice_pick,
	.slice_ns = slice_slice_ns,
	.tick = slice_tick,
	.queued = slice_queued,
};
