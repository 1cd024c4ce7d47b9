// SPDX-License-Identifier: MIT
/*
 * One global FIFO for every server.
 *
 * All runnable workers wait in one queue; whichever server is free takes
 * the head.  The order in which workers become runnable is the order in
 * which they run, across all CPUs: the simplest fair policy, and the one
 * to compare the others with.
 *
 * This policy demonstrates:
 *  - the smallest useful ops table: init, exit, enqueue, pick, queued;
 *  - that a policy needs no steal(): an idle server kicked by a busy one
 *    just picks from the shared queue (and the toolkit migrates the
 *    worker to it).
 *
 * Limits: one lock for all servers, and workers migrate freely, so cache
 * locality is lost; no preemption.
 */
#include <errno.h>
#include <stdlib.h>
#include <umcg_sched.h>

struct global_rq {
	struct umcg_policy_lock lock;
	struct umcg_policy_queue q;
	size_t _Atomic len;
};

static struct global_rq *rq_of(struct umcg_server *srv)
{
	return umcg_sched_policy_data(umcg_server_sched(srv));
}

static int global_init(struct umcg_sched *s, const void *arg, void **data)
{
	struct global_rq *rq = calloc(1, sizeof(*rq));

	(void)s;
	(void)arg;
	if (!rq)
		return -ENOMEM;
	*data = rq;
	return 0;
}

static void global_exit(struct umcg_sched *s, void *data)
{
	(void)s;
	free(data);
}

static void global_enqueue(struct umcg_server *srv, struct umcg_worker *w,
			   enum umcg_enqueue_reason why)
{
	struct global_rq *rq = rq_of(srv);

	(void)why;
	umcg_policy_lock(&rq->lock);
	umcg_policy_queue_push(&rq->q, w);
	rq->len = rq->q.len;
	umcg_policy_unlock(&rq->lock);
}

static struct umcg_worker *global_pick(struct umcg_server *srv)
{
	struct global_rq *rq = rq_of(srv);
	struct umcg_worker *w;

	if (!rq->len)
		return NULL;
	umcg_policy_lock(&rq->lock);
	w = umcg_policy_queue_pop(&rq->q);
	rq->len = rq->q.len;
	umcg_policy_unlock(&rq->lock);
	return w;
}

/* The one queue is reported on server 0, so that sums stay right. */
static size_t global_queued(struct umcg_server *srv)
{
	return umcg_server_id(srv) == 0 ? rq_of(srv)->len : 0;
}

const struct umcg_policy_ops global_ops = {
	.name = "global",
	.init = global_init,
	.exit = global_exit,
	.enqueue = global_enqueue,
	.pick = global_pick,
	.queued = global_queued,
};
