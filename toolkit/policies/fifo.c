// SPDX-License-Identifier: MIT
/*
 * A per-server FIFO scheduler with stealing by idle servers.
 *
 * Every server has its own run queue.  A worker that becomes runnable goes
 * to the tail of the queue of the server it was queued on (the one it last
 * ran on, so it stays near its cache); a server runs the head of its own
 * queue until that worker blocks, yields or exits.  A server with an empty
 * queue steals the oldest worker from the first other server that has
 * one; the toolkit wakes an idle server whenever a busy one queues work,
 * so no runnable worker waits while a CPU sleeps.
 *
 * This policy demonstrates:
 *  - per-server state through umcg_server_policy_slot();
 *  - the steal() callback and migration (the toolkit moves the worker);
 *  - a lock-free queued() for statistics (an atomic length next to the
 *    locked queue).
 *
 * Limits: no preemption: a worker that computes without blocking keeps its
 * CPU (use slice or prio for that).  Stealing scans servers in order, which
 * is fine for a few CPUs and not for hundreds.
 */
#include <errno.h>
#include <stdlib.h>
#include <umcg_sched.h>

struct fifo_rq {
	struct umcg_policy_lock lock;
	struct umcg_policy_queue q;
	size_t _Atomic len;		/* == q.len, readable without the lock */
} __attribute__((aligned(64)));

static struct fifo_rq *rq_of(struct umcg_server *srv)
{
	return *umcg_server_policy_slot(srv);
}

static int fifo_init(struct umcg_sched *s, const void *arg, void **data)
{
	int n = umcg_sched_nr_servers(s);
	struct fifo_rq *rqs = aligned_alloc(64, sizeof(*rqs) * (size_t)n);

	(void)arg;
	if (!rqs)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		rqs[i] = (struct fifo_rq){ .len = 0 };
		*umcg_server_policy_slot(umcg_sched_server(s, i)) = &rqs[i];
	}
	*data = rqs;
	return 0;
}

static void fifo_exit(struct umcg_sched *s, void *data)
{
	(void)s;
	free(data);
}

static void fifo_enqueue(struct umcg_server *srv, struct umcg_worker *w,
			 enum umcg_enqueue_reason why)
{
	struct fifo_rq *rq = rq_of(srv);

	(void)why;	/* every reason goes to the tail: plain FIFO */
	umcg_policy_lock(&rq->lock);
	umcg_policy_queue_push(&rq->q, w);
	rq->len = rq->q.len;
	umcg_policy_unlock(&rq->lock);
}

static struct umcg_worker *rq_pop(struct fifo_rq *rq)
{
	struct umcg_worker *w;

	if (!rq->len)
		return NULL;	/* racy peek; the lock decides */
	umcg_policy_lock(&rq->lock);
	w = umcg_policy_queue_pop(&rq->q);
	rq->len = rq->q.len;
	umcg_policy_unlock(&rq->lock);
	return w;
}

static struct umcg_worker *fifo_pick(struct umcg_server *srv)
{
	return rq_pop(rq_of(srv));
}

static struct umcg_worker *fifo_steal(struct umcg_server *srv)
{
	struct umcg_sched *s = umcg_server_sched(srv);
	int n = umcg_sched_nr_servers(s), me = umcg_server_id(srv);

	for (int i = 1; i < n; i++) {
		struct umcg_worker *w = rq_pop(rq_of(umcg_sched_server(s, (me + i) % n)));

		if (w)
			return w;
	}
	return NULL;
}

static size_t fifo_queued(struct umcg_server *srv)
{
	return rq_of(srv)->len;
}

const struct umcg_policy_ops fifo_ops = {
	.name = "fifo",
	.init = fifo_init,
	.exit = fifo_exit,
	.enqueue = fifo_enqueue,
	.pick = fifo_pick,
	.steal = fifo_steal,
	.queued = fifo_queued,
};
