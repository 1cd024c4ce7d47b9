// SPDX-License-Identifier: MIT
/*
 * What policies build on: an intrusive FIFO of workers, a small spin lock,
 * server accessors, and the table of built-in policies.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include "sys.h"
#include "tk.h"

extern const struct umcg_policy_ops fifo_ops TK_HIDDEN;
extern const struct umcg_policy_ops global_ops TK_HIDDEN;
extern const struct umcg_policy_ops prio_ops TK_HIDDEN;
extern const struct umcg_policy_ops slice_ops TK_HIDDEN;

const struct umcg_policy_ops *const umcg_policy_fifo = &fifo_ops;
const struct umcg_policy_ops *const umcg_policy_global = &global_ops;
const struct umcg_policy_ops *const umcg_policy_prio = &prio_ops;
const struct umcg_policy_ops *const umcg_policy_slice = &slice_ops;

const struct umcg_policy_ops *umcg_policy_by_name(const char *name)
{
	static const struct umcg_policy_ops *const all[] = {
		&fifo_ops, &global_ops, &prio_ops, &slice_ops,
	};

	for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(all[i]->name, name))
			return all[i];
	return NULL;
}

const char *umcg_policy_reason_name(enum umcg_enqueue_reason why)
{
	static const char *const names[UMCG_ENQ__COUNT] = {
		"new", "woken", "yielded", "preempted", "timed-out",
	};

	return (unsigned)why < UMCG_ENQ__COUNT ? names[why] : "?";
}

/* ---- Queue ---------------------------------------------------------------- */

void umcg_policy_queue_init(struct umcg_policy_queue *q)
{
	*q = (struct umcg_policy_queue){ 0 };
}

void umcg_policy_queue_push(struct umcg_policy_queue *q, struct umcg_worker *w)
{
	w->q_next = NULL;
	w->q_prev = q->tail;
	if (q->tail)
		q->tail->q_next = w;
	else
		q->head = w;
	q->tail = w;
	q->len++;
}

void umcg_policy_queue_push_front(struct umcg_policy_queue *q, struct umcg_worker *w)
{
	w->q_prev = NULL;
	w->q_next = q->head;
	if (q->head)
		q->head->q_prev = w;
	else
		q->tail = w;
	q->head = w;
	q->len++;
}

struct umcg_worker *umcg_policy_queue_pop(struct umcg_policy_queue *q)
{
	struct umcg_worker *w = q->head;

	if (!w)
		return NULL;
	q->head = w->q_next;
	if (q->head)
		q->head->q_prev = NULL;
	else
		q->tail = NULL;
	w->q_next = w->q_prev = NULL;
	q->len--;
	return w;
}

struct umcg_worker *umcg_policy_queue_pop_tail(struct umcg_policy_queue *q)
{
	struct umcg_worker *w = q->tail;

	if (!w)
		return NULL;
	q->tail = w->q_prev;
	if (q->tail)
		q->tail->q_next = NULL;
	else
		q->head = NULL;
	w->q_next = w->q_prev = NULL;
	q->len--;
	return w;
}

void umcg_policy_queue_remove(struct umcg_policy_queue *q, struct umcg_worker *w)
{
	if (w->q_prev)
		w->q_prev->q_next = w->q_next;
	else
		q->head = w->q_next;
	if (w->q_next)
		w->q_next->q_prev = w->q_prev;
	else
		q->tail = w->q_prev;
	w->q_next = w->q_prev = NULL;
	q->len--;
}

/* ---- Lock ------------------------------------------------------------------- */


/* The holder may be off its CPU (preempted, or a worker that blocked): the
 * same backoff as the emul backend's registry, umcg_lock_backoff(). */
void umcg_policy_lock(struct umcg_policy_lock *l)
{
	unsigned int tries = 0;

	for (;;) {
		int zero = 0;

		if (!atomic_load_explicit(&l->locked, memory_order_relaxed) &&
		    atomic_compare_exchange_weak_explicit(&l->locked, &zero, 1,
							  memory_order_acquire,
							  memory_order_relaxed))
			return;
		umcg_lock_backoff(&tries);
	}
}

void umcg_policy_unlock(struct umcg_policy_lock *l)
{
	/* Release: what the holder wrote is seen by the next holder. */
	atomic_store_explicit(&l->locked, 0, memory_order_release);
}

/* ---- Server accessors -------------------------------------------------------- */

int umcg_server_id(const struct umcg_server *srv)
{
	return srv->id;
}

int umcg_server_cpu(const struct umcg_server *srv)
{
	return srv->cpu;
}

struct umcg_sched *umcg_server_sched(const struct umcg_server *srv)
{
	return srv->sched;
}

void **umcg_server_policy_slot(struct umcg_server *srv)
{
	return &srv->policy_slot;
}

struct umcg_worker *umcg_server_current(struct umcg_server *srv)
{
	return atomic_load(&srv->owner);
}

bool umcg_server_idle(const struct umcg_server *srv)
{
	return atomic_load(&srv->idle) != 0;
}
