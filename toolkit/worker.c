// SPDX-License-Identifier: MIT
/*
 * The worker side: yield, sleep, priority, and a mutex and condition
 * variable that use the direct switch (next_tid) instead of a trip through
 * the server.
 *
 * Three ways a worker leaves its server's CPU, each starting with
 * leave_begin() (RUNNING -> RUNNABLE|COND_WAIT: a preemption kick no longer
 * applies, so the bookkeeping below cannot be cut in half):
 *
 *  yield     umcg_wait(0, 0): the worker is queued on its server and the
 *            server woken; the server sees it on its list (YIELDED).
 *  switch    the CPU goes to a parked worker T: T migrates to our server
 *            (server_tid, legal while T is parked), owner = T and
 *            next_tid = T|UMCG_TID_RUNNING on the server (so a block of T
 *            wakes the right server and the server knows who runs), then
 *            umcg_wait() naming T.  With a 0 timeout we are queued
 *            (yielded); with UINT64_MAX we park.
 *  park      owner = NULL, next_tid = 0 on the server, umcg_kick() it (it
 *            re-checks the owner before it sleeps, see sched.c phase 5),
 *            then umcg_wait() until a worker names us.
 *
 * A worker T that is being named may not have reached its umcg_wait() yet
 * (it published itself on a wait queue first): the naming umcg_wait()
 * fails with EAGAIN, we give the CPU back to ourselves and try again after
 * sched_yield().  T is committed to park, so this ends.
 *
 * A waiter lends its priority to the mutex's owner (toolkit/pi.c).
 *
 * Limits: waiters are FIFO (inheritance changes who runs, not who gets
 * the mutex next); a waiter on a mutex cannot time out.
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include "trace.h"
#include "tk.h"

__thread struct umcg_worker *tk_self;

struct umcg_worker *umcg_worker_self(void)
{
	return tk_self;
}

/* ---- Leaving the CPU ------------------------------------------------------- */

/* RUNNING (maybe with PREEMPT) -> RUNNABLE|COND_WAIT, user bits kept. */
static void leave_begin(struct umcg_worker *self)
{
	uint32_t old = umcg_task_state(&self->task), new_state;

	do {
		new_state = (old & ~(UMCG_TASK_MASK | UMCG_TF_MASK)) |
			    UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT;
	} while (!atomic_compare_exchange_weak((_Atomic uint32_t *)&self->task.state,
					       &old, new_state));
}

/* Undo leave_begin() when we decide to stay (nobody can wake us: we are on
 * no list and not parked). */
static void leave_cancel(struct umcg_worker *self)
{
	uint32_t old = umcg_task_state(&self->task), new_state;

	do {
		new_state = (old & ~(UMCG_TASK_MASK | UMCG_TF_MASK)) |
			    UMCG_TASK_RUNNING;
	} while (!atomic_compare_exchange_weak((_Atomic uint32_t *)&self->task.state,
					       &old, new_state));
}

static void set_next(struct umcg_task *t, uint32_t tid)
{
	atomic_store((_Atomic uint32_t *)&t->next_tid, tid);
}

/*
 * @from handed us its CPU and parked (switch_to()): now that it is parked,
 * show it to the servers.  An idle server takes it at once (no
 * runnable worker waits while a CPU sleeps); with none idle, any server
 * takes it when it next wakes, as it would take a worker queued behind
 * us, unless the policy may want to preempt us for it or runs slices:
 * then our server looks at once.
 */
static void requeue_handoff(struct umcg_worker *self, struct umcg_worker *from)
{
	struct umcg_sched *s = self->sched;
	const struct umcg_policy_ops *ops = s->ops;
	struct umcg_server *srv = atomic_load(&self->server);

	from->h_next = atomic_load(&s->handoffs);
	while (!atomic_compare_exchange_weak(&s->handoffs, &from->h_next, from))
		;
	/* Pushed before reading idle: pairs with go_idle() in sched.c. */
	if (tk_idle_server_kicked(s, srv))
		return;
	if (ops->should_preempt || ops->slice_ns)
		umcg_kick(0, atomic_load(&srv->tid));
}

/* Back on a CPU: note it for dumps and the server's classification. */
static void resumed(struct umcg_worker *self)
{
	struct umcg_worker *from;

	set_next(&self->task, 0);
	atomic_store(&self->leave, TK_LEAVE_NONE);
	tk_set_wstate(self, TK_W_RUNNING);
	if (atomic_load_explicit(&self->handed_by, memory_order_relaxed) &&
	    (from = atomic_exchange(&self->handed_by, NULL)))
		requeue_handoff(self, from);
}

/*
 * Park: give the CPU back to the server and sleep until named or until
 * @deadline.  Call after leave_begin(), with self published wherever the
 * waker will find it.  Returns umcg_wait()'s result (-errno).
 */
static int park(struct umcg_worker *self, int why, uint64_t deadline)
{
	struct umcg_server *srv = atomic_load(&self->server);
	int r;

	atomic_store(&self->leave, why);
	tk_set_wstate(self, TK_W_PARKED);
	/*
	 * next_tid before owner: once owner is NULL the server may pick
	 * another worker and name it in next_tid, which a later store of 0
	 * here would erase, and the server then waits for good for its pick
	 * to move (found by model/umcg.pml, MUTANT_PARK_ORDER).
	 */
	set_next(&srv->task, 0);
	atomic_store(&srv->owner, NULL);
	/*
	 * Name the server: the wait parks us first and then wakes it, so a
	 * SCHED_FIFO server on our CPU cannot run before we are parked (a
	 * kick first let it preempt us, and a worker handing us the CPU
	 * meanwhile found us not parked yet and had to retry).
	 */
	set_next(&self->task, (uint32_t)atomic_load(&srv->tid));
	r = umcg_wait(0, deadline) ? -errno : 0;
	if (r == -EAGAIN) {
		/*
		 * The server was not waiting: it is awake and re-checks its
		 * owner before it sleeps.  The kick pairs with that re-check
		 * (either it sees NULL, or this kick finds it waiting).
		 */
		leave_begin(self);
		umcg_kick(0, atomic_load(&srv->tid));
		set_next(&self->task, 0);
		r = umcg_wait(0, deadline) ? -errno : 0;
	}
	resumed(self);
	return r;
}

/*
 * Hand the CPU to @t, a worker that parks (or is about to) waiting for us.
 * @park_self: park ourselves until named instead of yielding.  Call after
 * leave_begin().  Returns once we run again.
 *
 * Yielding, we park too, and @t queues us once it runs (handed_by, see
 * requeue_handoff()): a yield (a 0 timeout) would queue us on our server
 * and wake it, and that server, SCHED_FIFO on this CPU, would run its
 * loop before @t.  Parked first, we are safe to name by whichever server
 * takes us; @t learns of us only once we are.
 */
static void switch_to(struct umcg_worker *self, struct umcg_worker *t,
		      bool park_self)
{
	/*
	 * The server whose CPU we hold, read once: parking ourselves, we say
	 * PARKED before each attempt, and a waker may move us to its server
	 * while an attempt fails and we go on running here.
	 */
	struct umcg_server *srv = atomic_load(&self->server);

	for (;;) {
		uint32_t ttid = (uint32_t)atomic_load(&t->tid);
		struct umcg_server *t_srv;
		uint32_t t_stid;
		int r;

		/*
		 * @t published itself before it parks, and until it says
		 * PARKED it may still read its server (park() tells that
		 * server it is leaving).  Moving @t to our server before then
		 * made it tell ours instead, and its own server kept it as
		 * its running worker for good: a server stuck busy with a
		 * parked worker (seen in the QEMU guest, sched_sync).
		 */
		if (atomic_load_explicit(&t->tk_state, memory_order_acquire) !=
		    TK_W_PARKED) {
			leave_cancel(self);
			sched_yield();
			leave_begin(self);
			continue;
		}
		/* @t is parked: on no list, so it may change server. */
		t_srv = atomic_load(&t->server);
		t_stid = atomic_load((_Atomic uint32_t *)&t->task.server_tid);
		atomic_store((_Atomic uint32_t *)&t->task.server_tid,
			     (uint32_t)atomic_load(&srv->tid));
		atomic_store(&t->server, srv);
		/* Where it will hold our CPU: wake it there, not where the
		 * kernel finds an idle one. */
		if (self->sched->pin_workers != UMCG_SCHED_PIN_NEVER)
			tk_pin_worker(t, srv->cpu);
		atomic_store(&t->run_start, tk_now());
		atomic_store(&srv->owner, t);
		set_next(&srv->task, ttid | UMCG_TID_RUNNING);
		atomic_store(&self->leave, park_self ? TK_LEAVE_PARK : TK_LEAVE_YIELD);
		tk_set_wstate(self, park_self ? TK_W_PARKED : TK_W_QUEUED);
		if (!park_self)
			atomic_store(&t->handed_by, self);
		set_next(&self->task, ttid);
		r = umcg_wait(0, UINT64_MAX);
		if (!r) {
			tk_stat_add(&srv->st.switches, 1);
			UMCG_TRACE(tk_handoff, srv->id, atomic_load(&self->tid), ttid);
			resumed(self);
			return;
		}
		/*
		 * @t is not parked yet (EAGAIN): the CPU is still ours, and
		 * @t still belongs where it was (its own attempt to park may
		 * have failed too, and it goes on running there).
		 */
		atomic_store(&t->handed_by, NULL);
		atomic_store(&t->server, t_srv);
		atomic_store((_Atomic uint32_t *)&t->task.server_tid, t_stid);
		atomic_store(&srv->owner, self);
		set_next(&srv->task, (uint32_t)atomic_load(&self->tid) | UMCG_TID_RUNNING);
		tk_set_wstate(self, TK_W_RUNNING);
		sched_yield();
		leave_begin(self);
	}
}

int umcg_worker_yield(void)
{
	struct umcg_worker *self = tk_self;
	int r;

	if (!self)
		return -EPERM;
	leave_begin(self);
	atomic_store(&self->leave, TK_LEAVE_YIELD);
	tk_set_wstate(self, TK_W_QUEUED);
	set_next(&self->task, 0);
	r = umcg_wait(0, 0) ? -errno : 0;
	resumed(self);
	return r;
}

int umcg_worker_sleep(uint64_t ns)
{
	struct umcg_worker *self = tk_self;
	int r;

	if (!self)
		return -EPERM;
	if (!ns)
		return umcg_worker_yield();
	leave_begin(self);
	r = park(self, TK_LEAVE_SLEEP, tk_now() + ns);
	return r == -ETIMEDOUT ? 0 : r;
}

/* ---- Accessors --------------------------------------------------------------- */

int umcg_worker_set_priority(struct umcg_worker *w, int prio)
{
	if (!w)
		w = tk_self;
	if (!w)
		return -EPERM;
	atomic_store(&w->prio, prio);
	return 0;
}

int umcg_worker_priority(const struct umcg_worker *w)
{
	return atomic_load(&w->prio);
}

int umcg_worker_id(const struct umcg_worker *w)
{
	return w->id;
}

struct umcg_server *umcg_worker_server(const struct umcg_worker *w)
{
	return atomic_load(&w->server);
}

uint64_t *umcg_worker_policy_word(struct umcg_worker *w)
{
	return &w->policy_word;
}

/* ---- Wait queues (under the owner's qlock) ---------------------------------- */

static void wq_push(struct umcg_worker **head, struct umcg_worker **tail,
		    struct umcg_worker *w)
{
	w->wq_next = NULL;
	if (*tail)
		(*tail)->wq_next = w;
	else
		*head = w;
	*tail = w;
}

static struct umcg_worker *wq_pop(struct umcg_worker **head,
				  struct umcg_worker **tail)
{
	struct umcg_worker *w = *head;

	if (w) {
		*head = w->wq_next;
		if (!*head)
			*tail = NULL;
		w->wq_next = NULL;
	}
	return w;
}

/* ---- Mutex -------------------------------------------------------------------- */

/*
 * __state: 0 free, 1 locked, 2 locked with waiters.  Waiters sit on the
 * queue under __qlock; ownership passes from the unlocker to the first
 * waiter without the state ever reading 0, so nobody can barge in.
 */
#define M_FREE		0u
#define M_LOCKED	1u
#define M_WAITERS	2u

int umcg_mutex_init(struct umcg_mutex *m)
{
	*m = (struct umcg_mutex)UMCG_MUTEX_INITIALIZER;
	return 0;
}

int umcg_mutex_trylock(struct umcg_mutex *m)
{
	uint32_t free_ = M_FREE;

	if (!tk_self)
		return -EPERM;
	if (!atomic_compare_exchange_strong(&m->__state, &free_, M_LOCKED))
		return -EBUSY;
	atomic_store(&m->__owner, tk_self);
	tk_pi_acquired(tk_self, m);
	return 0;
}

int umcg_mutex_lock(struct umcg_mutex *m)
{
	struct umcg_worker *self = tk_self;
	uint32_t st = M_FREE;

	if (!self)
		return -EPERM;
	if (atomic_compare_exchange_strong(&m->__state, &st, M_LOCKED)) {
		atomic_store(&m->__owner, self);
		tk_pi_acquired(self, m);
		return 0;
	}
	if (atomic_load(&m->__owner) == self)
		return -EDEADLK;
	/* Before we queue: a chain walk through us finds @m from then on. */
	tk_pi_wait_begin(self, m);
	/* Immune to preemption from here: we may hold __qlock. */
	leave_begin(self);
	umcg_policy_lock(&m->__qlock);
	/*
	 * The owner's fast-path unlock (1 -> 0) does not take __qlock: move
	 * 1 -> 2 by CAS, so that it then has to come through the slow path
	 * and find us; a 0 seen on the way means the lock is ours.
	 */
	st = atomic_load(&m->__state);
	for (;;) {
		if (st == M_FREE &&
		    atomic_compare_exchange_weak(&m->__state, &st, M_LOCKED)) {
			umcg_policy_unlock(&m->__qlock);
			leave_cancel(self);
			atomic_store(&m->__owner, self);
			tk_pi_wait_end(self);
			tk_pi_acquired(self, m);
			return 0;
		}
		if (st == M_WAITERS ||
		    (st == M_LOCKED &&
		     atomic_compare_exchange_weak(&m->__state, &st, M_WAITERS)))
			break;
	}
	atomic_store(&self->got_mutex, false);
	wq_push(&m->__head, &m->__tail, self);
	umcg_policy_unlock(&m->__qlock);
	/* Lend our priority to the owner (and its owner...) before we park:
	 * our server, kicked by the park, then runs the owner next. */
	tk_pi_wait_queued(self, m);
	/*
	 * Park even if got_mutex is already true: the unlocker that set it
	 * names us next and keeps trying until we are parked.
	 */
	for (;;) {
		park(self, TK_LEAVE_PARK, UINT64_MAX);
		if (atomic_load(&self->got_mutex)) {
			tk_pi_wait_end(self);
			tk_pi_acquired(self, m);
			return 0;
		}
		leave_begin(self);	/* a stray wake: still queued, park again */
	}
}

/*
 * Release @m (owned by the caller): to its first waiter, which is returned
 * and now owns @m (the state never reads free, so nobody barges in), or to
 * nobody (NULL).  Caller: leave_begin() done, since we may take __qlock.
 */
static struct umcg_worker *mutex_pass(struct umcg_mutex *m)
{
	struct umcg_worker *w;
	uint32_t st = M_LOCKED;

	atomic_store(&m->__owner, NULL);
	if (atomic_compare_exchange_strong(&m->__state, &st, M_FREE))
		return NULL;
	umcg_policy_lock(&m->__qlock);
	w = wq_pop(&m->__head, &m->__tail);
	atomic_store(&m->__state, !w ? M_FREE : m->__head ? M_WAITERS : M_LOCKED);
	if (w) {
		atomic_store(&m->__owner, w);
		tk_pi_passed(m, w);
		atomic_store(&w->got_mutex, true);
	}
	umcg_policy_unlock(&m->__qlock);
	return w;
}

/* After an unlock: a preemption deferred for our locks happens now. */
static void holder_done(struct umcg_worker *self)
{
	if (!umcg_worker_holds_lock(self) &&
	    atomic_exchange(&self->yield_at_unlock, 0))
		umcg_worker_yield();
}

int umcg_mutex_unlock(struct umcg_mutex *m)
{
	struct umcg_worker *self = tk_self, *w;
	uint32_t st = M_LOCKED;

	if (!self)
		return -EPERM;
	if (atomic_load(&m->__owner) != self)
		return -EPERM;
	/* Fast path: no waiter, no CPU change. */
	atomic_store(&m->__owner, NULL);
	if (atomic_compare_exchange_strong(&m->__state, &st, M_FREE)) {
		tk_pi_released(self, m, false);
		holder_done(self);
		return 0;
	}
	atomic_store(&m->__owner, self);
	leave_begin(self);
	w = mutex_pass(m);
	tk_pi_released(self, m, w != NULL);
	if (!w) {
		leave_cancel(self);
		holder_done(self);
		return 0;
	}
	/* The direct switch: the new owner runs now, on our server (and we
	 * are queued, which also serves a deferred preemption). */
	if (!umcg_worker_holds_lock(self))
		atomic_store(&self->yield_at_unlock, 0);
	switch_to(self, w, false);
	tk_pi_settle(self);
	return 0;
}

/* ---- Condition variable ------------------------------------------------------- */

int umcg_cond_init(struct umcg_cond *c)
{
	*c = (struct umcg_cond)UMCG_COND_INITIALIZER;
	return 0;
}

int umcg_cond_wait(struct umcg_cond *c, struct umcg_mutex *m)
{
	struct umcg_worker *self = tk_self, *w;

	if (!self)
		return -EPERM;
	if (atomic_load(&m->__owner) != self)
		return -EPERM;
	leave_begin(self);
	self->wait_mutex = m;
	atomic_store(&self->got_mutex, false);
	umcg_policy_lock(&c->__qlock);
	wq_push(&c->__head, &c->__tail, self);
	umcg_policy_unlock(&c->__qlock);
	/* Release @m: to its first waiter directly, or to nobody. */
	w = mutex_pass(m);
	tk_pi_released(self, m, w != NULL);
	if (w)
		switch_to(self, w, true);
	else
		park(self, TK_LEAVE_PARK, UINT64_MAX);
	tk_pi_settle(self);
	/*
	 * Named by a signaller (take @m back ourselves), or by an unlocker of
	 * @m after a signaller moved us onto @m's queue (we own @m already).
	 */
	if (!atomic_load(&self->got_mutex))
		return umcg_mutex_lock(m);
	tk_pi_acquired(self, m);
	return 0;
}

/*
 * Wake @w, just popped off a condvar.  If we hold @w's mutex, move @w onto
 * that mutex's queue (our unlock hands over: no ping-pong), else switch to
 * it.  Caller: leave_begin() done.
 */
static void cond_wake(struct umcg_worker *self, struct umcg_worker *w)
{
	struct umcg_mutex *m = w->wait_mutex;

	if (m && atomic_load(&m->__owner) == self) {
		umcg_policy_lock(&m->__qlock);
		wq_push(&m->__head, &m->__tail, w);
		atomic_store(&m->__state, M_WAITERS);
		tk_pi_morphed(self, w);
		umcg_policy_unlock(&m->__qlock);
		return;
	}
	switch_to(self, w, false);
	leave_begin(self);	/* the caller may have more to wake */
}

/* Wake the first waiter of @c, or (@all) every waiter there now. */
static int cond_wake_some(struct umcg_cond *c, bool all)
{
	struct umcg_worker *self = tk_self, *w, *list;

	if (!self)
		return -EPERM;
	/* Preemption-immune while we may hold a queue lock. */
	leave_begin(self);
	umcg_policy_lock(&c->__qlock);
	if (all) {
		/* A snapshot: a woken worker that waits again is not ours. */
		list = c->__head;
		c->__head = c->__tail = NULL;
	} else {
		list = wq_pop(&c->__head, &c->__tail);
	}
	umcg_policy_unlock(&c->__qlock);
	while ((w = list)) {
		list = w->wq_next;
		w->wq_next = NULL;
		cond_wake(self, w);
	}
	leave_cancel(self);
	return 0;
}

int umcg_cond_signal(struct umcg_cond *c)
{
	return cond_wake_some(c, false);
}

int umcg_cond_broadcast(struct umcg_cond *c)
{
	return cond_wake_some(c, true);
}
