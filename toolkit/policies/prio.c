// SPDX-License-Identifier: MIT
/*
 * Strict priority classes, FIFO within a class.
 *
 * Workers carry a priority (umcg_worker_set_priority()), 0 to
 * nr_classes-1, higher first.  All servers share one FIFO per class; a free
 * server always takes the head of the highest non-empty class.  When a
 * worker of a higher class becomes runnable and no server is idle, the
 * toolkit asks should_preempt() about every running worker, and the first
 * one of a lower class is preempted: the high-priority worker waits for at
 * most one server wake-up, not for a lower one to block.  A worker
 * preempted that way goes back to the head of its class, so being
 * interrupted does not cost it its place.  With a slice, workers of the
 * same class also take turns (the one preempted at slice end goes to the
 * tail).
 *
 * A worker's class is its effective priority
 * (umcg_worker_effective_priority()): a lock owner that a higher class
 * waits for runs in that class until it unlocks, and boosted() moves it,
 * if it is queued, to the head of its new class, so that it runs next.
 * With a slice and holder_grace_ns, a lock holder whose slice ended may
 * run on that long to reach its unlock.
 *
 * This policy demonstrates:
 *  - should_preempt(): preemption on wake-up, across servers;
 *  - boosted(): priority inheritance (the policy word says where a
 *    queued worker is);
 *  - using the enqueue reason (PREEMPTED goes to the head);
 *  - that strict priorities need global queues: per-server queues would
 *    let a low class run on one CPU while a high class waits on another.
 *
 * Limits: strict means starvation: a lower class runs only when no higher
 * worker is runnable.  Priority is read at enqueue time; changing it while
 * a worker is queued takes effect at its next enqueue.  Default 4 classes.
 */
#include <errno.h>
#include <stdlib.h>
#include <umcg_sched.h>

#define PRIO_MAX_CLASSES 16

struct prio_rq {
	struct umcg_policy_lock lock;
	struct umcg_policy_queue q[PRIO_MAX_CLASSES];
	size_t _Atomic len[PRIO_MAX_CLASSES];
	size_t _Atomic total;
	int nr;
	uint64_t slice_ns;
	uint64_t holder_grace_ns;
	bool preempt_on_wake;
};

static struct prio_rq *rq_of(struct umcg_server *srv)
{
	return umcg_sched_policy_data(umcg_server_sched(srv));
}

static int class_of(struct prio_rq *rq, struct umcg_worker *w)
{
	int p = umcg_worker_effective_priority(w);

	return p < 0 ? 0 : p >= rq->nr ? rq->nr - 1 : p;
}

/* The highest class with a waiting worker, or -1 (lock-free peek). */
static int top_class(struct prio_rq *rq)
{
	for (int c = rq->nr - 1; c >= 0; c--)
		if (rq->len[c])
			return c;
	return -1;
}

static int prio_init(struct umcg_sched *s, const void *arg, void **data)
{
	const struct umcg_policy_prio_arg *a = arg;
	struct prio_rq *rq = calloc(1, sizeof(*rq));

	(void)s;
	if (!rq)
		return -ENOMEM;
	rq->nr = a && a->nr_classes > 0 ? a->nr_classes : 4;
	if (rq->nr > PRIO_MAX_CLASSES)
		rq->nr = PRIO_MAX_CLASSES;
	rq->slice_ns = a ? a->slice_ns : 0;
	rq->preempt_on_wake = a ? a->preempt_on_wake : true;
	rq->holder_grace_ns = a ? a->holder_grace_ns : 0;
	*data = rq;
	return 0;
}

static void prio_exit(struct umcg_sched *s, void *data)
{
	(void)s;
	free(data);
}

static void prio_enqueue(struct umcg_server *srv, struct umcg_worker *w,
			 enum umcg_enqueue_reason why)
{
	struct prio_rq *rq = rq_of(srv);
	int c = class_of(rq, w);

	umcg_policy_lock(&rq->lock);
	/* Preempted by a higher class: keep its place.  By a slice: go last. */
	if (why == UMCG_ENQ_PREEMPTED && !rq->slice_ns)
		umcg_policy_queue_push_front(&rq->q[c], w);
	else
		umcg_policy_queue_push(&rq->q[c], w);
	/* Where it is queued, for boosted(): class + 1 (0: not queued). */
	*umcg_worker_policy_word(w) = (uint64_t)c + 1;
	rq->len[c] = rq->q[c].len;
	rq->total++;
	umcg_policy_unlock(&rq->lock);
}

static struct umcg_worker *prio_pick(struct umcg_server *srv)
{
	struct prio_rq *rq = rq_of(srv);
	struct umcg_worker *w = NULL;

	if (!rq->total)
		return NULL;
	umcg_policy_lock(&rq->lock);
	for (int c = rq->nr - 1; c >= 0 && !w; c--) {
		w = umcg_policy_queue_pop(&rq->q[c]);
		rq->len[c] = rq->q[c].len;
	}
	if (w) {
		*umcg_worker_policy_word(w) = 0;
		rq->total--;
	}
	umcg_policy_unlock(&rq->lock);
	return w;
}

/* @w inherited a higher priority: if it waits in a lower class, it goes
 * to the head of its new one (it holds up a higher worker: it runs next). */
static void prio_boosted(struct umcg_server *srv, struct umcg_worker *w)
{
	struct prio_rq *rq = rq_of(srv);
	uint64_t *where = umcg_worker_policy_word(w);
	int c, nc;

	umcg_policy_lock(&rq->lock);
	if (*where) {
		c = (int)*where - 1;
		nc = class_of(rq, w);
		if (nc > c) {
			umcg_policy_queue_remove(&rq->q[c], w);
			rq->len[c] = rq->q[c].len;
			umcg_policy_queue_push_front(&rq->q[nc], w);
			rq->len[nc] = rq->q[nc].len;
			*where = (uint64_t)nc + 1;
		}
	}
	umcg_policy_unlock(&rq->lock);
}

static uint64_t prio_holder_grace_ns(struct umcg_server *srv, struct umcg_worker *w)
{
	(void)w;
	return rq_of(srv)->holder_grace_ns;
}

static bool prio_should_preempt(struct umcg_server *srv, struct umcg_worker *curr)
{
	struct prio_rq *rq = rq_of(srv);

	return rq->preempt_on_wake && top_class(rq) > class_of(rq, curr);
}

static uint64_t prio_slice_ns(struct umcg_server *srv, struct umcg_worker *w)
{
	(void)w;
	return rq_of(srv)->slice_ns;
}

/* Slice over: take turns with the same class (a higher one preempted
 * already on wake-up). */
static bool prio_tick(struct umcg_server *srv, struct umcg_worker *curr,
		      uint64_t ran_ns)
{
	struct prio_rq *rq = rq_of(srv);

	(void)ran_ns;
	return top_class(rq) >= class_of(rq, curr);
}

static size_t prio_queued(struct umcg_server *srv)
{
	return umcg_server_id(srv) == 0 ? rq_of(srv)->total : 0;
}

const struct umcg_policy_ops prio_ops = {
	.name = "prio",
	.init = prio_init,
	.exit = prio_exit,
	.enqueue = prio_enqueue,
	.pick = prio_pick,
	.should_preempt = prio_should_preempt,
	.slice_ns = prio_slice_ns,
	.tick = prio_tick,
	.queued = prio_queued,
	.boosted = prio_boosted,
	.holder_grace_ns = prio_holder_grace_ns,
};
