// SPDX-License-Identifier: MIT
/*
 * Priority inheritance and lock-holder preemption deferral.
 *
 * A worker W that waits for a lock lends its effective priority to the
 * owner O, and, through the lock O waits for in turn, to that one's owner,
 * up to TK_PI_DEPTH owners.  What O is lent is kept in O itself:
 *
 *  pi_umcg     through umcg_mutexes: generation << 32 | priority.  Raised
 *              (by a waiter, under the mutex's __qlock, only while O is its
 *              owner), and recomputed by O at each unlock that hands a
 *              mutex over: the highest waiter of the mutexes O still holds
 *              (O->held[]).  The generation makes that recompute lose to a
 *              raise that lands meanwhile (it retries).
 *  pi_pthread  through a pthread mutex (src/hooks/mutex.c tells us what a
 *              worker waits for; glibc keeps the owner's tid in the
 *              mutex): raised by the waiter, ended when that waiter is
 *              queued again (the owner unlocked) or finds the lock is no
 *              longer O's (a stale lend, checked on the server).
 *
 * A raise only changes a number.  For a queued O to run next the policy
 * has to move it: the waiter pushes O on its own server's pi_pending and
 * leaves the CPU (a park kicks that server; a pthread wait blocks, which
 * wakes it); the server calls policy->boosted(O) and counts O as new work
 * (sched.c: an idle server is kicked, or should_preempt() is asked).
 *
 * Lock order: a worker's pi_lock, then a mutex's __qlock, never the
 * reverse; at most one of each held.  A worker's memory lives until
 * umcg_sched_destroy(), so an owner read under a mutex's lock can be used
 * after that lock is dropped; a mutex is used only while a waiter that
 * cannot leave it (its pi_lock held, its blocked_on naming it) pins it.
 *
 * Limits: a mutex held beyond the 8 a worker lists does not lend after the
 * first recompute; a waiter whose own priority falls meanwhile keeps the
 * owner raised until the unlock; for pthread mutexes, one lend per owner
 * (the latest), and a second waiter's lend does not move to the next
 * owner (it lends again only if it waits again).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include "tk.h"

#define TK_PI_DEPTH	8
#define TK_PI_HELD	((int)(sizeof(((struct umcg_worker *)0)->held) / \
			       sizeof(struct umcg_worker *)))
#define PI_NONE		INT_MIN

static int pi_low(uint64_t v)
{
	return (int)(int32_t)(uint32_t)v;
}

static uint64_t pi_make(uint64_t old, int prio)
{
	return ((old >> 32) + 1) << 32 | (uint32_t)prio;
}

void tk_pi_worker_init(struct umcg_worker *w)
{
	atomic_init(&w->pi_umcg, pi_make(0, PI_NONE));
	atomic_init(&w->pi_pthread, PI_NONE);
}

int umcg_worker_effective_priority(const struct umcg_worker *w)
{
	int p = atomic_load_explicit(&w->prio, memory_order_relaxed);
	int a = pi_low(atomic_load_explicit(&w->pi_umcg, memory_order_relaxed));
	int b = atomic_load_explicit(&w->pi_pthread, memory_order_relaxed);

	if (a > p)
		p = a;
	return b > p ? b : p;
}

bool umcg_worker_holds_lock(const struct umcg_worker *w)
{
	return atomic_load_explicit(&w->nheld, memory_order_relaxed) > 0;
}

/* ---- Lending ---------------------------------------------------------- */

/* Raise @o's umcg lend to @prio; true if it rose. */
static bool raise_umcg(struct umcg_worker *o, int prio)
{
	uint64_t old = atomic_load(&o->pi_umcg);

	do {
		if (pi_low(old) >= prio)
			return false;
	} while (!atomic_compare_exchange_weak(&o->pi_umcg, &old,
					       pi_make(old, prio)));
	return true;
}

/* Raise @o's pthread lend to @prio, lent through @m by @waiter. */
static bool raise_pthread(struct umcg_worker *o, int prio, pthread_mutex_t *m,
			  struct umcg_worker *waiter)
{
	int old = atomic_load(&o->pi_pthread);

	atomic_store(&o->ppi_mutex, m);
	atomic_store(&o->ppi_waiter, waiter);
	do {
		if (old >= prio)
			return false;
	} while (!atomic_compare_exchange_weak(&o->pi_pthread, &old, prio));
	return true;
}

/* End @o's pthread lend if it came through @m (@m is no longer @o's). */
static void end_pthread(struct umcg_worker *o, pthread_mutex_t *m)
{
	pthread_mutex_t *cur = m;

	if (atomic_compare_exchange_strong(&o->ppi_mutex, &cur, NULL)) {
		atomic_store(&o->ppi_waiter, NULL);
		atomic_store(&o->pi_pthread, PI_NONE);
	}
}

/* The tid glibc keeps in a normal, error-checking or recursive mutex
 * while it is held (0: free, or a kind that keeps none). */
static pid_t pthread_owner_tid(pthread_mutex_t *m)
{
#ifdef __GLIBC__
	return __atomic_load_n(&m->__data.__owner, __ATOMIC_ACQUIRE);
#else
	(void)m;
	return 0;
#endif
}

static struct umcg_worker *worker_by_tid(struct umcg_sched *s, pid_t tid)
{
	for (struct umcg_worker *w = atomic_load(&s->all); w;
	     w = atomic_load(&w->all_next))
		if (atomic_load(&w->tid) == tid &&
		    atomic_load(&w->tk_state) != TK_W_EXITED)
			return w;
	return NULL;
}

/* Ask @srv (the waiter's server) to call policy->boosted(@o). */
static void notify(struct umcg_server *srv, struct umcg_worker *o)
{
	struct umcg_worker *head;

	if (atomic_exchange(&o->pi_queued, true))
		return;		/* pending already: that pass reads the news */
	head = atomic_load(&srv->pi_pending);
	do {
		o->pi_next = head;
	} while (!atomic_compare_exchange_weak(&srv->pi_pending, &head, o));
}

/*
 * Lend @prio along the chain that starts at @o, who waits (maybe) for
 * something: its umcg mutex, or its recorded pthread mutex.  @o was raised
 * already.  Called with nothing locked.
 */
static void lend_chain(struct umcg_server *srv, struct umcg_sched *s,
		       struct umcg_worker *self, struct umcg_worker *o,
		       int prio, int depth)
{
	for (; depth < TK_PI_DEPTH; depth++) {
		struct umcg_worker *next = NULL;
		struct umcg_mutex *m;
		bool raised = false;

		umcg_policy_lock(&o->pi_lock);
		m = o->blocked_on;
		if (m) {
			/* @o cannot leave @m without its pi_lock: @m lives. */
			umcg_policy_lock(&m->__qlock);
			next = atomic_load(&m->__owner);
			if (next && next != self && next != o && next->sched == s)
				raised = raise_umcg(next, prio);
			else
				next = NULL;
			umcg_policy_unlock(&m->__qlock);
		} else if (o->pwait && o->pwait_owner &&
			   o->pwait_owner != self) {
			next = o->pwait_owner;
			if (pthread_owner_tid(o->pwait) == atomic_load(&next->tid))
				raised = raise_pthread(next, prio, o->pwait, o);
			else
				next = NULL;
		}
		umcg_policy_unlock(&o->pi_lock);
		if (!next)
			return;
		if (raised)
			notify(srv, next);
		o = next;
	}
}

/* ---- umcg_mutex ------------------------------------------------------- */

void tk_pi_wait_begin(struct umcg_worker *self, struct umcg_mutex *m)
{
	umcg_policy_lock(&self->pi_lock);
	self->blocked_on = m;
	umcg_policy_unlock(&self->pi_lock);
}

void tk_pi_wait_end(struct umcg_worker *self)
{
	umcg_policy_lock(&self->pi_lock);
	self->blocked_on = NULL;
	umcg_policy_unlock(&self->pi_lock);
}

/*
 * @self is on @m's queue and about to park (it still holds its server's
 * CPU, immune to preemption): lend to @m's owner and on down the chain.
 */
void tk_pi_wait_queued(struct umcg_worker *self, struct umcg_mutex *m)
{
	struct umcg_sched *s = self->sched;
	struct umcg_server *srv = atomic_load(&self->server);
	int prio = umcg_worker_effective_priority(self);
	struct umcg_worker *o;
	bool raised = false;

	if (!s->priority_inherit)
		return;
	/* @self is queued on @m and cannot leave it while it runs here. */
	umcg_policy_lock(&m->__qlock);
	o = atomic_load(&m->__owner);
	if (o && o != self && o->sched == s)
		raised = raise_umcg(o, prio);
	else
		o = NULL;
	umcg_policy_unlock(&m->__qlock);
	if (!o)
		return;
	if (raised)
		notify(srv, o);
	lend_chain(srv, s, self, o, prio, 1);
}

void tk_pi_acquired(struct umcg_worker *self, struct umcg_mutex *m)
{
	int n = atomic_load_explicit(&self->nheld, memory_order_relaxed);

	if (n < TK_PI_HELD)
		self->held[n] = m;
	atomic_store_explicit(&self->nheld, n + 1, memory_order_relaxed);
}

/* The highest effective priority waiting on @m (PI_NONE: none). */
static int top_waiter(struct umcg_mutex *m)
{
	int best = PI_NONE;

	for (struct umcg_worker *w = m->__head; w; w = w->wq_next) {
		int p = umcg_worker_effective_priority(w);

		if (p > best)
			best = p;
	}
	return best;
}

/*
 * Under @m's __qlock, just after @m was handed to @to: the waiters left
 * behind lend to their new owner (it is parked: no policy call needed).
 */
void tk_pi_passed(struct umcg_mutex *m, struct umcg_worker *to)
{
	int best;

	if (!to->sched->priority_inherit || !m->__head)
		return;
	best = top_waiter(m);
	if (best != PI_NONE)
		raise_umcg(to, best);
}

/* Under @w's mutex's __qlock: @w, signalled, now waits on its mutex, owned
 * by @owner (a condvar's wait morphing). */
void tk_pi_morphed(struct umcg_worker *owner, struct umcg_worker *w)
{
	if (owner->sched->priority_inherit)
		raise_umcg(owner, umcg_worker_effective_priority(w));
}

/* What @w is lent now: the top waiter of each mutex it still holds. */
static void recompute(struct umcg_worker *w)
{
	int n = atomic_load_explicit(&w->nheld, memory_order_relaxed);
	uint64_t old = atomic_load(&w->pi_umcg);

	if (pi_low(old) == PI_NONE)
		return;
	for (;;) {
		int best = PI_NONE;

		for (int i = 0; i < n && i < TK_PI_HELD; i++) {
			struct umcg_mutex *h = w->held[i];
			int p;

			umcg_policy_lock(&h->__qlock);
			p = top_waiter(h);
			umcg_policy_unlock(&h->__qlock);
			if (p > best)
				best = p;
		}
		/* A raise since @old was read: count it in (it may be ours). */
		if (atomic_compare_exchange_strong(&w->pi_umcg, &old,
						   pi_make(old, best)))
			return;
	}
}

/*
 * A handover is complete (@w runs again, or its server collected it after
 * it switched to the new owner): drop what the handed-over mutex lent.
 * Until then @w keeps it: while its switch is retried it may run, and at
 * its own priority it would be preempted with the new owner still waiting
 * for the switch.  Called by @w, or by its server while @w is off the CPU.
 */
void tk_pi_settle(struct umcg_worker *w)
{
	if (atomic_load_explicit(&w->pi_recompute, memory_order_relaxed) &&
	    atomic_exchange(&w->pi_recompute, 0))
		recompute(w);
}

/*
 * @self no longer owns @m.  @handed: @m had waiters (they lent, maybe)
 * and goes to one of them: tk_pi_settle() recomputes once the switch to
 * it is done.  Nothing locked on entry.
 */
void tk_pi_released(struct umcg_worker *self, struct umcg_mutex *m, bool handed)
{
	int n = atomic_load_explicit(&self->nheld, memory_order_relaxed);

	for (int i = 0; i < n && i < TK_PI_HELD; i++) {
		if (self->held[i] != m)
			continue;
		/* Keep the list dense: the last listed one takes the slot. */
		self->held[i] = self->held[(n < TK_PI_HELD ? n : TK_PI_HELD) - 1];
		break;
	}
	atomic_store_explicit(&self->nheld, n - 1, memory_order_relaxed);
	if (handed)
		atomic_store(&self->pi_recompute, 1);
}

/* ---- pthread mutexes (called by src/hooks/mutex.c) --------------------- */

int _Atomic tk_pi_scheds;

/* A plain thread's lend, to end it when its wait is over. */
static __thread struct umcg_worker *outside_owner;

/* Still registered (between tk_registry_begin/end). */
static bool sched_live(struct umcg_sched *s)
{
	for (int i = 0; i < TK_MAX_SCHEDS; i++)
		if (tk_registry_get(i) == s)
			return true;
	return false;
}

/*
 * A thread that is no worker (a network thread feeding a queue the
 * workers share) waits for a worker's pthread mutex.  The policy cannot
 * rank a thread it does not schedule, and such a thread is what all of a
 * scheduler's work comes through: it lends the highest priority (INT_MAX;
 * prio takes it as its top class).  No waiter's server is about to run
 * (we are none): kick the owner's.
 */
static void outside_wait_begin(pthread_mutex_t *m)
{
	pid_t tid = pthread_owner_tid(m);
	struct umcg_worker *o = NULL;
	struct umcg_server *srv;

	if (tid <= 0)
		return;
	tk_registry_begin();
	for (int i = 0; i < TK_MAX_SCHEDS && !o; i++) {
		struct umcg_sched *s = tk_registry_get(i);

		if (s && s->priority_inherit)
			o = worker_by_tid(s, tid);
	}
	if (o && raise_pthread(o, INT_MAX, m, NULL)) {
		atomic_thread_fence(memory_order_seq_cst);
		if (pthread_owner_tid(m) != tid) {
			end_pthread(o, m);
		} else {
			srv = atomic_load(&o->server);
			notify(srv, o);
			umcg_kick(0, atomic_load(&srv->tid));
			outside_owner = o;
		}
	}
	tk_registry_end();
}

static void outside_wait_end(pthread_mutex_t *m)
{
	struct umcg_worker *o = outside_owner;

	if (!o)
		return;
	outside_owner = NULL;
	tk_registry_begin();
	if (sched_live(o->sched))
		end_pthread(o, m);
	tk_registry_end();
}

/*
 * The calling thread's trylock of @m just failed and it is about to wait:
 * if it is a worker and @m's owner is a worker of the same scheduler, lend.
 */
void tk_pi_pthread_wait_begin(pthread_mutex_t *m)
{
	struct umcg_worker *self = tk_self, *o = NULL;
	struct umcg_server *srv;
	pid_t tid;
	int prio;

	if (!self) {
		outside_wait_begin(m);
		return;
	}
	tid = pthread_owner_tid(m);
	if (tid > 0 && self->sched->priority_inherit)
		o = worker_by_tid(self->sched, tid);
	if (o == self)
		o = NULL;
	umcg_policy_lock(&self->pi_lock);
	self->pwait = m;
	self->pwait_owner = o;
	umcg_policy_unlock(&self->pi_lock);
	if (!o)
		return;
	prio = umcg_worker_effective_priority(self);
	srv = atomic_load(&self->server);
	if (raise_pthread(o, prio, m, self)) {
		/* @o may have let go meanwhile: then the lend is stale. */
		atomic_thread_fence(memory_order_seq_cst);
		if (pthread_owner_tid(m) != tid) {
			end_pthread(o, m);
			return;
		}
		notify(srv, o);
	}
	lend_chain(srv, self->sched, self, o, prio, 1);
}

/* The wait for @m is over (the lock is ours, or it failed). */
void tk_pi_pthread_wait_end(pthread_mutex_t *m)
{
	struct umcg_worker *self = tk_self, *o;

	if (!self) {
		outside_wait_end(m);
		return;
	}
	umcg_policy_lock(&self->pi_lock);
	o = self->pwait_owner;
	self->pwait = NULL;
	self->pwait_owner = NULL;
	umcg_policy_unlock(&self->pi_lock);
	if (o)
		end_pthread(o, m);
}

/* ---- Server side -------------------------------------------------------- */

/*
 * Phase 1, for each worker @w found runnable.  A handover of @w's is done
 * (tk_pi_settle()).  If @w waited for a pthread
 * mutex, it was woken because the owner let go: end that lend now, so
 * that @w can preempt the former owner.  If @w is lent to through a
 * pthread mutex, check that the lend still holds.
 */
void tk_pi_collected(struct umcg_worker *w)
{
	struct umcg_worker *waiter, *o;
	pthread_mutex_t *m;
	bool stale = true;

	tk_pi_settle(w);
	umcg_policy_lock(&w->pi_lock);
	m = w->pwait;
	o = w->pwait_owner;
	umcg_policy_unlock(&w->pi_lock);
	if (m && o)
		end_pthread(o, m);

	m = atomic_load(&w->ppi_mutex);
	waiter = atomic_load(&w->ppi_waiter);
	if (!m || !waiter)
		return;	/* none, or a plain thread's: it ends its own */
	/* The waiter still waiting in @m pins it. */
	umcg_policy_lock(&waiter->pi_lock);
	if (waiter->pwait == m)
		stale = pthread_owner_tid(m) != atomic_load(&w->tid);
	umcg_policy_unlock(&waiter->pi_lock);
	if (stale)
		end_pthread(w, m);
}

/* Hand every owner whose priority rose to policy->boosted(); returns how
 * many (new work, for phase 3). */
int tk_pi_process(struct umcg_server *srv)
{
	const struct umcg_policy_ops *ops = srv->sched->ops;
	struct umcg_worker *w, *next;
	int n = 0;

	if (!atomic_load_explicit(&srv->pi_pending, memory_order_relaxed))
		return 0;
	for (w = atomic_exchange(&srv->pi_pending, NULL); w; w = next) {
		next = w->pi_next;
		w->pi_next = NULL;
		atomic_store(&w->pi_queued, false);
		if (ops->boosted)
			ops->boosted(srv, w);
		n++;
	}
	return n;
}

/* ---- Lock-holder preemption deferral ----------------------------------- */

/*
 * Phase 6 decided to preempt @cur: if it holds a umcg_mutex and the policy
 * grants a grace, let it run on (once per slice) until its last unlock
 * yields or the grace ends.  True: deferred (the slice end is moved).
 */
bool tk_pi_defer(struct umcg_server *srv, struct umcg_worker *cur, uint64_t now)
{
	const struct umcg_policy_ops *ops = srv->sched->ops;
	uint64_t grace;

	if (!ops->holder_grace_ns || srv->grace_used || !umcg_worker_holds_lock(cur))
		return false;
	grace = ops->holder_grace_ns(srv, cur);
	if (!grace)
		return false;
	srv->grace_used = true;
	srv->slice_end = now + grace;
	atomic_store(&cur->yield_at_unlock, 1);
	return true;
}
