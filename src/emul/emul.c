// SPDX-License-Identifier: MIT
/*
 * The emul backend: the UMCG state machine in user space, over futexes.
 *
 * Every task sleeps on its own state word (offset 0 of its struct
 * umcg_task) with FUTEX_WAIT while the word says it may not run.  "Wake
 * task T" is a cmpxchg of T's state from RUNNABLE to RUNNING followed by a
 * FUTEX_WAKE on the word; the task re-reads its word after every wake-up,
 * so spurious wake-ups and wakes that land before the sleep are harmless.
 * A registry (registry.c) maps tids to tasks, as the kernel's task lookup
 * would.  This file holds the state machine itself; the other files of
 * src/emul/ (listed in emul.h) register tasks, preempt, and detect blocks.
 *
 * Block detection is at system-call boundaries (block.c): umcg_sys_enter()
 * and umcg_sys_exit() bracket a call that may block (src/hooks/ does it for the
 * blocking libc entry points).  Preemption is a thread-directed signal
 * (preempt.c) whose handler performs the RUNNING -> RUNNABLE move and waits.
 *
 * Who writes which state transition (docs/semantics.md has the full
 * contract):
 *
 *	RUNNING  -> BLOCKED   the worker itself, in umcg_sys_enter()
 *	BLOCKED  -> RUNNABLE  the worker itself, in umcg_sys_exit()
 *	RUNNING  -> RUNNABLE  the worker (yield: user code; preemption: the
 *	                      signal handler, after the server set TF_PREEMPT)
 *	RUNNABLE -> RUNNING   whoever wakes the task: a server or worker naming
 *	                      it in next_tid, an enqueue waking a server, a
 *	                      kick, a timeout (the task itself)
 *	any      -> NONE      the task itself: unregister or thread exit
 *
 * The lost wake-up between "a worker is enqueued" and "its server goes to
 * sleep" is closed the same way on both sides.  The server first moves its
 * own state to RUNNABLE (cmpxchg, a full barrier), then looks at its list and
 * at its current worker.  The worker first makes its change visible (push
 * on the list, or its own state to BLOCKED; both cmpxchg), then tries to
 * wake the server.  Either the server sees the change, or the worker's wake
 * finds the server RUNNABLE and makes it RUNNING, and the server's futex
 * sleep on a word that is no longer RUNNABLE returns at once.
 *
 * Known limits: a worker blocked in a call that nothing brackets is not
 * seen as blocked (its server keeps waiting) unless BPF detection is on
 * (bpf.c: the detector marks it BLOCKED, emul_bpf_settle() in preempt.c is
 * its half of umcg_sys_exit()); a preemption signal can make such a call fail
 * with EINTR.  The kernel backend has neither limit.
 */
#include <errno.h>
#include <sched.h>
#include "trace.h"
#include "emul.h"
#include "registry.h"

__thread struct umcg_thread *umcg_tls_worker;
__thread struct umcg_thread *emul_self;
uint64_t emul_server_spin_ns = 20000;	/* see server_wait() */
#define SERVER_SPIN_YIELDS 4

/* ---- State words -------------------------------------------------------- */

/*
 * Move @t from RUNNABLE (any flags) to RUNNING.  Caller holds @t's registry
 * lock and, on true, must futex-wake @t after dropping it.
 */
static bool wake_task_locked(struct umcg_task *t)
{
	uint32_t s = load_state(t);

	while ((s & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE) {
		/* seq_cst: pairs with the sleeper's own RUNNABLE cmpxchg */
		if (atomic_compare_exchange_weak(state_word(t), &s,
				with_state(s, UMCG_TASK_RUNNING)))
			return true;
	}
	return false;
}

/* Force the caller's own state to RUNNING: every failing wait ends so. */
static void force_running(struct umcg_task *t)
{
	uint32_t s = load_state(t);

	while (!atomic_compare_exchange_weak(state_word(t), &s,
			with_state(s, UMCG_TASK_RUNNING)))
		;
}

/* Move the caller's own state from @from (flags ignored) to @to. */
static bool move_own_state(struct umcg_task *t, uint32_t from, uint32_t to)
{
	uint32_t s = load_state(t);

	while ((s & UMCG_TASK_MASK) == from) {
		if (atomic_compare_exchange_weak(state_word(t), &s,
						 with_state(s, to)))
			return true;
	}
	return false;
}

/* ---- Waking and queueing -------------------------------------------------- */

/*
 * Wake the server of worker @w, if it is a registered server sleeping (or
 * about to sleep) in umcg_wait().
 */
void emul_wake_server_of(struct umcg_task *w)
{
	pid_t stid = load_server_tid(w);
	struct umcg_thread *srv = registry_lock_tid(stid);
	struct umcg_task *st;
	bool woke;

	if (!srv)
		return;
	st = srv->task;
	/* a server that is not in FUTEX_WAIT sees RUNNING before it sleeps */
	woke = srv->role == UMCG_ROLE_SERVER && wake_task_locked(st) &&
	       atomic_load(&srv->sleepers);
	registry_unlock(stid);
	if (woke)
		umcg_futex_wake(&st->state);
}

/*
 * The first half of enqueueing the calling worker: stamp runnable_ts, push
 * it on its server's runnable list, make the server RUNNING.  Returns the
 * server's state word if the server sleeps on it: the caller must
 * futex-wake it.  The push happens under the server's registry lock, so
 * the server's memory cannot go away meanwhile.  A worker whose server is
 * gone is on no list; it waits until someone names it.
 */
static uint32_t *push_self(struct umcg_thread *self)
{
	struct umcg_task *w = self->task;
	pid_t stid = load_server_tid(w);
	struct umcg_thread *srv;
	struct umcg_task *st;
	_Atomic uint64_t *head;
	uint64_t old;
	bool woke;

	store_u64(&w->runnable_ts, now_ns(self->clock));
	srv = registry_lock_tid(stid);
	if (!srv)
		return NULL;
	if (srv->role != UMCG_ROLE_SERVER) {
		registry_unlock(stid);
		return NULL;
	}
	st = srv->task;		/* the record may be freed once unlocked */
	head = (_Atomic uint64_t *)&st->runnable_workers_ptr;
	old = atomic_load(head);
	do {
		store_u64(&w->runnable_workers_ptr, old);
		/* seq_cst: publishes the link; pairs with the server's exchange */
	} while (!atomic_compare_exchange_weak(head, &old, (uintptr_t)w));
	woke = wake_task_locked(st) && atomic_load(&srv->sleepers);
	registry_unlock(stid);
	UMCG_TRACE(queued, self->tid, stid);
	return woke ? &st->state : NULL;
}

/* Enqueue the calling worker: push it, wake its server. */
void emul_enqueue_self(struct umcg_thread *self)
{
	uint32_t *server_state = push_self(self);

	if (server_state)
		umcg_futex_wake(server_state);
}

/* ---- Sleeping --------------------------------------------------------------- */

struct deadline {
	struct timespec ts;
	int realtime;
};

/*
 * Turn @abs_ns on @clock into a futex deadline.  The futex knows only
 * CLOCK_MONOTONIC and CLOCK_REALTIME; BOOTTIME and TAI are converted to a
 * MONOTONIC deadline now (they only drift apart across a suspend or a leap
 * second, which a wait this short does not care about).
 */
static void deadline_init(struct deadline *d, clockid_t clock, uint64_t abs_ns)
{
	uint64_t t = abs_ns;

	d->realtime = clock == CLOCK_REALTIME;
	if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) {
		uint64_t now = now_ns(clock);
		uint64_t left = abs_ns > now ? abs_ns - now : 0;

		t = now_ns(CLOCK_MONOTONIC) + left;
	}
	d->ts.tv_sec = (time_t)(t / 1000000000ULL);
	d->ts.tv_nsec = (long)(t % 1000000000ULL);
}

/*
 * Sleep until the caller's state is RUNNING (0) or @d passes (-ETIMEDOUT).
 * A signal interrupts the futex only to run its handler: unmanaged time,
 * after which the task goes back to waiting.
 */
static int sleep_until_running(struct umcg_thread *self, const struct deadline *d)
{
	struct umcg_task *t = self->task;

	for (;;) {
		uint32_t s = load_state(t);
		int r;

		if ((s & UMCG_TASK_MASK) == UMCG_TASK_RUNNING)
			return 0;
		/*
		 * seq_cst increment before the futex compares the word; pairs
		 * with a waker's cmpxchg of the word, then its load of
		 * sleepers: either it sees us counted and wakes us, or our
		 * futex finds the word changed.
		 */
		atomic_fetch_add(&self->sleepers, 1);
		r = umcg_futex_wait(&t->state, s, d ? &d->ts : NULL,
				    d ? d->realtime : 0);
		atomic_fetch_sub(&self->sleepers, 1);
		if (r == -ETIMEDOUT)
			return (load_state(t) & UMCG_TASK_MASK) ==
			       UMCG_TASK_RUNNING ? 0 : -ETIMEDOUT;
	}
}

int emul_sleep_until_running(struct umcg_thread *self)
{
	return sleep_until_running(self, NULL);
}

/*
 * RUNNING -> BLOCKED with blocked_ts stamped; TF_PREEMPT is dropped (the
 * CPU goes back to the server anyway).  False if @t was not RUNNING.  By
 * the worker itself (umcg_sys_enter()) or by the BPF detector for it.
 */
bool emul_mark_blocked(struct umcg_task *t, clockid_t clock)
{
	uint32_t s = load_state(t);

	while ((s & UMCG_TASK_MASK) == UMCG_TASK_RUNNING) {
		store_u64(&t->blocked_ts, now_ns(clock));
		if (atomic_compare_exchange_weak(state_word(t), &s,
				with_state(s, UMCG_TASK_BLOCKED)))
			return true;
	}
	return false;
}

/* The end of a block, by the worker: RUNNABLE, queued, wait until RUNNING. */
void emul_return_from_block(struct umcg_thread *self)
{
	move_own_state(self->task, UMCG_TASK_BLOCKED, UMCG_TASK_RUNNABLE);
	emul_enqueue_self(self);
	sleep_until_running(self, NULL);
}

/* ---- umcg_wait ------------------------------------------------------------------ */

/*
 * Is @w on @server's runnable list?  Called by the server itself from
 * umcg_wait(), so nobody takes the list meanwhile; pushes only add at the
 * head, and a pushed worker's link does not change until it is taken: the
 * walk is safe without a lock.  Bounded, in case user space corrupted it.
 */
static bool on_list(struct umcg_task *server, struct umcg_task *w)
{
	uint64_t p = atomic_load((_Atomic __u64 *)&server->runnable_workers_ptr);

	for (int i = 0; p && i < 1 << 20; i++) {
		struct umcg_task *t = (struct umcg_task *)(uintptr_t)p;

		if (t == w)
			return true;
		p = atomic_load((_Atomic __u64 *)&t->runnable_workers_ptr);
	}
	return false;
}

/* What may_run_worker() and run_next_locked() found. */
enum { RUN_NO, RUN_YES, RUN_AFTER_QUEUING };

/*
 * May @self run worker @n now?  A parked worker is claimed (UMCG_PARKED ->
 * UMCG_UNPARKED) against its own timeout.  Otherwise only its server may
 * run it, and only once it is off the server's list.
 *
 * A worker whose timeout won is UMCG_QUEUING until its push is done, and
 * only then UMCG_QUEUED.  Its server must not read QUEUING as "not on my
 * list": the push may not have happened yet, and running the worker now
 * would let it be queued after it ran.  Nor may it fail with EAGAIN: the
 * server may have taken the worker off its list already, and every retry
 * would fail the same way for as long as the worker waits for a CPU to
 * finish its push on, up to a scheduler tick while the server spins in its
 * retries.  So the caller waits for QUEUED (RUN_AFTER_QUEUING), and then
 * the list tells: the push and the end of the parked state are one step
 * for every namer, as in the kernel's umcg_wait_next().
 */
static int may_run_worker(struct umcg_thread *self, struct umcg_thread *n,
			  bool *claimed)
{
	int parked = UMCG_PARKED;

	*claimed = atomic_compare_exchange_strong(&n->parked, &parked,
						  UMCG_UNPARKED);
	if (*claimed)
		return RUN_YES;
	if (load_server_tid(n->task) != self->tid)
		return RUN_NO;
	if (parked == UMCG_QUEUING)
		return RUN_AFTER_QUEUING;
	return on_list(self->task, n->task) ? RUN_NO : RUN_YES;
}

/*
 * Run the task named by @next (docs/semantics.md, umcg_wait step 5), whose
 * record @n the caller looked up and locked; unlocks it.
 * A worker target must be parked (we claim it) or be one of the caller's
 * own workers, which the caller took off its list: anything else may still
 * sit on a list that only its server may take it from.  Returns 0, -errno,
 * or RUN_AFTER_QUEUING: look @n up again once it had the time to finish
 * queuing itself.
 */
static int run_next_locked(struct umcg_thread *self, struct umcg_thread *n,
			   uint32_t next)
{
	pid_t tid = (pid_t)(next & UMCG_TID_MASK);
	struct umcg_task *nt = n->task;
	bool claimed = false, woke, sleeping;
	int may = RUN_YES;

	if (next & UMCG_TID_RUNNING) {
		woke = (load_state(nt) & UMCG_TASK_MASK) == UMCG_TASK_RUNNING;
		registry_unlock(tid);
		return woke ? 0 : -EAGAIN;
	}
	if (n->role == UMCG_ROLE_WORKER)
		may = may_run_worker(self, n, &claimed);
	if (may != RUN_YES) {
		/* a QUEUING worker may need our CPU to finish: let go of it */
		registry_unlock(tid);
		return may == RUN_AFTER_QUEUING ? RUN_AFTER_QUEUING : -EAGAIN;
	}
	/*
	 * Write TID_RUNNING back before the target can run: once it is
	 * RUNNING it may switch on at once and store its own successor in
	 * our next_tid (a worker keeps its server's view true), which a
	 * later write-back here would overwrite.  Seq_cst store before the
	 * cmpxchg in wake_task_locked(); undone if the wake fails.
	 */
	atomic_store((_Atomic uint32_t *)&self->task->next_tid,
		     next | UMCG_TID_RUNNING);
	woke = wake_task_locked(nt);
	sleeping = woke && atomic_load(&n->sleepers);
	if (!woke)
		atomic_store((_Atomic uint32_t *)&self->task->next_tid, next);
	if (claimed && !woke)
		atomic_store(&n->parked, UMCG_PARKED);
	registry_unlock(tid);
	if (!woke)
		return -EAGAIN;
	UMCG_TRACE(switch, self->tid, tid, (int)self->role);
	if (sleeping)
		umcg_futex_wake(&nt->state);
	return 0;
}

/*
 * A server's untimed wait: poll, then sleep.
 *
 * A worker that blocks in a call must wake its server before the call
 * sleeps, and on one CPU that FUTEX_WAKE often preempts the worker, so the
 * notification costs a third context switch (docs/bench.md).  A server
 * that is still runnable when the worker's call goes to sleep needs no
 * wake-up at all: the kernel switches to it as the CPU frees, and it sees
 * its state turn RUNNING.  So a server first polls its state, giving the
 * CPU away with sched_yield() between polls, at most SERVER_SPIN_YIELDS
 * times and for up to emul_server_spin_ns (UMCG_SERVER_SPIN_NS, default 20 us,
 * 0 turns it off), and only then sleeps on the futex.  While it polls its
 * sleepers count is 0, so wakers skip the FUTEX_WAKE: the protocol is
 * unchanged.
 *
 * It polls only where that is cheap: when its previous wait was short too
 * and was no timed wait that ran out (a server that waits through a
 * worker's computation would poll in vain, taking turns with that worker:
 * direct_switch went from 1.04 to 1.3 without these rules and the bound on
 * yields), and only under a time-sharing policy (a SCHED_FIFO server's
 * sched_yield() would not let a normal worker run; the policy is read at
 * the first wait and every 256 waits after).
 */
static bool server_may_spin(struct umcg_thread *self)
{
	if (!emul_server_spin_ns)
		return false;
	if ((self->waits++ & 255) == 0) {
		int pol = sched_getscheduler(0);

		self->spin_policy_ok = pol == SCHED_OTHER || pol == SCHED_BATCH ||
				       pol == SCHED_IDLE;
	}
	return self->spin_policy_ok && self->last_wait_ns <= emul_server_spin_ns;
}

static int server_wait(struct umcg_thread *self)
{
	struct umcg_task *t = self->task;
	uint64_t start = now_ns(CLOCK_MONOTONIC), now = start;
	int r = 0;

	if (server_may_spin(self)) {
		for (int i = 0; i < SERVER_SPIN_YIELDS; i++) {
			if ((load_state(t) & UMCG_TASK_MASK) == UMCG_TASK_RUNNING)
				break;
			now = now_ns(CLOCK_MONOTONIC);
			if (now - start > emul_server_spin_ns)
				break;
			sched_yield();
		}
	}
	if ((load_state(t) & UMCG_TASK_MASK) != UMCG_TASK_RUNNING) {
		r = sleep_until_running(self, NULL);
		now = now_ns(CLOCK_MONOTONIC);
	}
	self->last_wait_ns = now - start;
	return r;
}

/*
 * A worker's timed sleep expired: enqueue, unless a next_tid claim won.
 * UMCG_PARKED -> UMCG_QUEUING, push, UMCG_QUEUED, as the kernel does; a
 * namer that sees QUEUING waits for QUEUED (may_run_worker()).  QUEUED
 * comes before the server's futex wake-up: on one CPU that wake-up may
 * preempt us, and the server then finds us QUEUED and need not wait.
 */
static int worker_timed_out(struct umcg_thread *self)
{
	int parked = UMCG_PARKED;
	uint32_t *server_state;

	if (!atomic_compare_exchange_strong(&self->parked, &parked,
					    UMCG_QUEUING)) {
		sleep_until_running(self, NULL);
		return 0;
	}
	server_state = push_self(self);
	atomic_store(&self->parked, UMCG_QUEUED);
	if (server_state)
		umcg_futex_wake(server_state);
	sleep_until_running(self, NULL);
	atomic_store(&self->parked, UMCG_UNPARKED);
	return -ETIMEDOUT;
}

static int do_wait(struct umcg_thread *self, uint64_t abs_timeout)
{
	struct umcg_task *t = self->task;
	uint32_t next = atomic_load_explicit((_Atomic uint32_t *)&t->next_tid,
					     memory_order_relaxed);
	bool worker = self->role == UMCG_ROLE_WORKER;
	bool parks = worker && abs_timeout != 0;
	pid_t ntid = (pid_t)(next & UMCG_TID_MASK);
	struct umcg_thread *n = NULL;
	struct deadline d;
	uint32_t s;
	int r;

	/* Naming oneself is a bug of the caller, never a switch. */
	if (ntid == self->tid) {
		force_running(t);
		return -EINVAL;
	}
	/* Step 3; the record stays locked (alive) until the switch is done. */
	if (ntid && !(n = registry_lock_tid(ntid))) {
		force_running(t);
		return -ESRCH;
	}

	/*
	 * Parked before RUNNABLE: a task that names us from now on may claim
	 * us.  Then RUNNABLE|COND_WAIT -> RUNNABLE: a wake-up that came first
	 * left us RUNNING, and the wait is over before it began.
	 */
	if (parks)
		atomic_store(&self->parked, UMCG_PARKED);
	s = load_state(t);
	for (;;) {
		if ((s & STATE_BITS) != (UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT)) {
			if (n)
				registry_unlock(ntid);
			if (parks)
				atomic_store(&self->parked, UMCG_UNPARKED);
			force_running(t);
			return -EAGAIN;
		}
		if (atomic_compare_exchange_weak(state_word(t), &s,
				with_state(s, UMCG_TASK_RUNNABLE)))
			break;
	}

	if (n) {
		unsigned int tries = 0;

		while ((r = run_next_locked(self, n, next)) == RUN_AFTER_QUEUING) {
			umcg_lock_backoff(&tries);
			n = registry_lock_tid(ntid);
			if (!n) {
				r = -ESRCH;
				break;
			}
		}
		if (r < 0) {
			int one = UMCG_PARKED;

			/* Still parked means nobody claimed us: undo it. */
			if (!parks || atomic_compare_exchange_strong(&self->parked,
								     &one,
								     UMCG_UNPARKED)) {
				force_running(t);
				return r;
			}
			/*
			 * A namer claimed us meanwhile and gave us its CPU: our
			 * park succeeded, whatever became of our own switch.
			 * Reporting our switch's EAGAIN made the caller park
			 * again, and the namer waited for good (TSan runs of
			 * direct_switch, about 1 in 6).
			 */
			sleep_until_running(self, NULL);
			return 0;
		}
	}
	if (!worker || abs_timeout != 0)	/* a yield stamps it when queued */
		store_u64(&t->runnable_ts, now_ns(self->clock));

	if (worker && abs_timeout == 0) {
		emul_enqueue_self(self);
		return sleep_until_running(self, NULL);
	}
	if (!worker && (abs_timeout == 0 || abs_timeout == UINT64_MAX))
		return server_wait(self);
	if (abs_timeout == 0 || abs_timeout == UINT64_MAX)
		return sleep_until_running(self, NULL);

	deadline_init(&d, self->clock, abs_timeout);
	if (worker)
		UMCG_TRACE(park, self->tid, abs_timeout);
	if (sleep_until_running(self, &d) == 0)
		return 0;
	if (worker) {
		r = worker_timed_out(self);
		if (r == -ETIMEDOUT)
			UMCG_TRACE(timeout, self->tid);
		return r;
	}
	/* A slice ran out: the worker it timed was computing, not blocking. */
	self->last_wait_ns = UINT64_MAX;
	/* A server that is woken right at its timeout reports the wake-up. */
	return move_own_state(t, UMCG_TASK_RUNNABLE, UMCG_TASK_RUNNING) ?
	       -ETIMEDOUT : 0;
}

int emul_wait(uint32_t flags, uint64_t abs_timeout)
{
	struct umcg_thread *self = emul_self;
	int prev, r;

	if (!self)
		return -EINVAL;
	if (flags) {
		force_running(self->task);
		return -EINVAL;
	}
	prev = enter_library(self);
	r = do_wait(self, abs_timeout);
	leave_library(self, prev);
	return r;
}

/* ---- umcg_kick ------------------------------------------------------------------ */

static int kick_checked(uint32_t flags, pid_t tid)
{
	struct umcg_thread *n;
	struct umcg_task *t;
	bool server, act;
	uint32_t s;

	if (flags)
		return -EINVAL;
	if (tid <= 0 || !(n = registry_lock_tid(tid)))
		return -ESRCH;
	t = n->task;
	server = n->role == UMCG_ROLE_SERVER;
	if (server) {
		act = wake_task_locked(t) && atomic_load(&n->sleepers);
	} else {
		/* counted before the state check: see umcg_sys_enter() */
		atomic_fetch_add(&n->kicks_pending, 1);
		s = load_state(t);
		act = (s & UMCG_TASK_MASK) == UMCG_TASK_RUNNING &&
		      (s & UMCG_TF_PREEMPT);
		if (!act)
			atomic_fetch_sub(&n->kicks_pending, 1);
	}
	registry_unlock(tid);
	if (act && server)
		umcg_futex_wake(&t->state);
	else if (act)	/* ESRCH: it just exited */
		umcg_sys_tgkill(tid, emul_installed_preempt_signal());
	return 0;
}

int emul_kick(uint32_t flags, pid_t tid)
{
	struct umcg_thread *w = umcg_tls_worker;
	int prev = w ? enter_library(w) : 0;
	int r = kick_checked(flags, tid);

	if (w)
		leave_library(w, prev);
	return r;
}

const struct umcg_backend_ops umcg_emul_ops = {
	.name = "emul",
	.ctl = emul_ctl,
	.wait = emul_wait,
	.kick = emul_kick,
};
