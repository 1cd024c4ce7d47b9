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
 * would.
 *
 * Block detection is at system-call boundaries: umcg_sys_enter() and
 * umcg_sys_exit() bracket a call that may block (src/hooks/ does it for the
 * blocking libc entry points).  Preemption is a thread-directed signal
 * whose handler performs the RUNNING -> RUNNABLE move and waits.
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
 * (src/bpf.c: the detector marks it BLOCKED, bpf_settle() below is its
 * half of umcg_sys_exit()); a preemption signal can make such a call fail
 * with EINTR.  The kernel backend has neither limit.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "registry.h"
#include "sys.h"

#define STATE_BITS	(UMCG_TASK_MASK | UMCG_TF_MASK)
#define USER_BITS	(~STATE_BITS)

__thread struct umcg_thread *umcg_tls_worker;
static __thread struct umcg_thread *tls_self;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;
static int preempt_sig;		/* 0 until the first worker registers */
static int preempt_sig_wanted;	/* set by umcg_set_preempt_signal() */
static uint64_t server_spin_ns = 20000;	/* see server_wait() */
#define SERVER_SPIN_YIELDS 4

/* ---- State words -------------------------------------------------------- */

static _Atomic uint32_t *state_word(struct umcg_task *t)
{
	return (_Atomic uint32_t *)&t->state;
}

static uint32_t load_state(struct umcg_task *t)
{
	return atomic_load(state_word(t));
}

/* @old with its state and kernel flags replaced by @st; user bits kept. */
static uint32_t with_state(uint32_t old, uint32_t st)
{
	return (old & USER_BITS) | st;
}

static void store_u64(__u64 *p, uint64_t v)
{
	atomic_store_explicit((_Atomic __u64 *)p, v, memory_order_relaxed);
}

static pid_t load_server_tid(struct umcg_task *t)
{
	return (pid_t)atomic_load_explicit((_Atomic uint32_t *)&t->server_tid,
					   memory_order_relaxed);
}

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

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- Waking and queueing -------------------------------------------------- */

/*
 * Wake the server of worker @w, if it is a registered server sleeping (or
 * about to sleep) in umcg_wait().
 */
static void wake_server_of(struct umcg_task *w)
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
 * Enqueue the calling worker: stamp runnable_ts, push it on its server's
 * runnable list, wake the server.  The push happens under the server's
 * registry lock, so the server's memory cannot go away meanwhile.  A worker
 * whose server is gone is on no list; it waits until someone names it.
 */
static void enqueue_self(struct umcg_thread *self)
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
		return;
	if (srv->role != UMCG_ROLE_SERVER) {
		registry_unlock(stid);
		return;
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
	if (woke)
		umcg_futex_wake(&st->state);
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

/*
 * RUNNING -> BLOCKED with blocked_ts stamped; TF_PREEMPT is dropped (the
 * CPU goes back to the server anyway).  False if @t was not RUNNING.  By
 * the worker itself (umcg_sys_enter()) or by the BPF detector for it.
 */
static bool mark_blocked(struct umcg_task *t, clockid_t clock)
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
static void return_from_block(struct umcg_thread *self)
{
	move_own_state(self->task, UMCG_TASK_BLOCKED, UMCG_TASK_RUNNABLE);
	enqueue_self(self);
	sleep_until_running(self, NULL);
}

/* ---- Preemption ----------------------------------------------------------------- */

static void handle_preempt(struct umcg_thread *self);

/*
 * Sections that change the caller's own state or hold a registry lock run
 * "in the library": the preemption handler only notes a request there (it
 * would otherwise take the same locks and race with the section), and the
 * section's end performs it.  Sections nest (a signal handler may call a
 * hooked function), so each returns the previous mark to leave_library().
 */
static int enter_library(struct umcg_thread *self)
{
	int prev = self->in_library;

	self->in_library = 1;
	atomic_signal_fence(memory_order_seq_cst);
	umcg_bpf_ignore(self, 1);
	return prev;
}

static void leave_library(struct umcg_thread *self, int prev)
{
	atomic_signal_fence(memory_order_seq_cst);
	umcg_bpf_ignore(self, prev || self->in_bracket);
	self->in_library = prev;
	atomic_signal_fence(memory_order_seq_cst);
	while (!prev && self->preempt_pending) {
		self->preempt_pending = 0;
		handle_preempt(self);
	}
}

/*
 * The BPF detector's half of umcg_sys_exit(), run by the worker on its way
 * back to user code (the signal the programs sent, or the library's own
 * exit): if the detector marked it BLOCKED for a sleep since it last
 * looked, BLOCKED -> RUNNABLE, queued, wait until RUNNING.
 */
static void bpf_settle(struct umcg_thread *self)
{
	int prev = enter_library(self);

	if (umcg_bpf_settle_wait(self))
		return_from_block(self);
	leave_library(self, prev);
}

/*
 * RUNNING|TF_PREEMPT -> RUNNABLE, enqueue, wait.  Runs in the signal
 * handler or when leaving the library: both are async-signal-safe paths
 * (atomics, the registry's spinlock, futex syscalls).  A worker that is not
 * RUNNING|TF_PREEMPT any more (it blocked, yielded or was already
 * preempted) has nothing to do.
 */
static void handle_preempt(struct umcg_thread *self)
{
	struct umcg_task *t = self->task;
	uint32_t s;

	if (self->bpf_slot)
		bpf_settle(self);
	s = load_state(t);
	for (;;) {
		if ((s & UMCG_TASK_MASK) != UMCG_TASK_RUNNING ||
		    !(s & UMCG_TF_PREEMPT))
			return;
		if (atomic_compare_exchange_weak(state_word(t), &s,
				with_state(s, UMCG_TASK_RUNNABLE)))
			break;
	}
	enter_library(self);
	enqueue_self(self);
	sleep_until_running(self, NULL);
	leave_library(self, 0);
}

static void preempt_handler(int sig, siginfo_t *info, void *uctx)
{
	struct umcg_thread *self = umcg_tls_worker;
	int saved = errno;

	(void)sig;
	(void)uctx;
	if (self) {
		/* the BPF programs' signals are SI_KERNEL, and no kicks */
		int k = info->si_code == SI_TKILL ?
			atomic_load(&self->kicks_pending) : 0;

		/* this kick is delivered: it can no longer cut a call short */
		while (k > 0 && !atomic_compare_exchange_weak(
				&self->kicks_pending, &k, k - 1))
			;
		if (self->in_library)
			self->preempt_pending = 1;
		else
			handle_preempt(self);
	}
	errno = saved;
}

static int default_preempt_signal(void)
{
	const char *env = getenv("UMCG_PREEMPT_SIGNAL");

	if (env && *env) {
		char *end;
		long sig = strtol(env, &end, 10);

		if (!*end && sig > 0 && sig < NSIG && sig != SIGKILL &&
		    sig != SIGSTOP)
			return (int)sig;
		/* A bad value must not go unnoticed: it would change behaviour. */
		static const char msg[] =
			"libumcg: ignoring invalid UMCG_PREEMPT_SIGNAL\n";
		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	}
	return SIGRTMIN + 4;
}

/* Install the handler once, at the first worker's registration. */
static int install_preempt_handler(void)
{
	struct sigaction sa;
	int r = 0;

	pthread_mutex_lock(&signal_lock);
	if (!preempt_sig) {
		int sig = preempt_sig_wanted ? preempt_sig_wanted :
			  default_preempt_signal();

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = preempt_handler;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(sig, &sa, NULL) == 0)
			preempt_sig = sig;
		else
			r = -errno;
	}
	pthread_mutex_unlock(&signal_lock);
	return r;
}

int umcg_preempt_signal(void)
{
	int sig;

	pthread_mutex_lock(&signal_lock);
	sig = preempt_sig ? preempt_sig :
	      preempt_sig_wanted ? preempt_sig_wanted : default_preempt_signal();
	pthread_mutex_unlock(&signal_lock);
	return sig;
}

int umcg_set_preempt_signal(int sig)
{
	int r = 0;

	if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
		return -EINVAL;
	pthread_mutex_lock(&signal_lock);
	if (preempt_sig)
		r = -EBUSY;
	else
		preempt_sig_wanted = sig;
	pthread_mutex_unlock(&signal_lock);
	return r;
}

/*
 * Keep the preemption signal out of the real blocking call: a handled
 * signal makes nanosleep(), poll() and friends fail with EINTR even with
 * SA_RESTART.  A kick sent while the worker was still RUNNING is delivered
 * at the latest when the mask is lifted, and then finds the worker
 * BLOCKED or RUNNABLE and does nothing.
 */
static void mask_preempt_signal(int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, preempt_sig);
	pthread_sigmask(how, &set, NULL);
}

#ifdef UMCG_TSAN
/* See UMCG_HOOK_GUARD() in internal.h: TSan builds only. */
struct umcg_thread *umcg_hook_guard(void)
{
	struct umcg_thread *self = umcg_tls_worker;
	uint64_t set;

	if (!self || self->hook_guarded || !preempt_sig)
		return NULL;
	/* the raw call: TSan's pthread_sigmask is one more interceptor */
	set = 1ULL << (preempt_sig - 1);
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, NULL, sizeof(set));
	self->hook_guarded = 1;
	return self;
}

void umcg_hook_unguard(struct umcg_thread **guarded)
{
	struct umcg_thread *self = *guarded;
	uint64_t set;

	if (!self)
		return;
	self->hook_guarded = 0;
	set = 1ULL << (preempt_sig - 1);
	syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, NULL, sizeof(set));
}
#endif

/* ---- Lifetime ------------------------------------------------------------------- */

/*
 * Leave UMCG: state NONE (user bits kept), a worker's server woken.  Also
 * the path of a thread that exits while registered.
 */
static void finish(struct umcg_thread *self)
{
	struct umcg_task *t = self->task;

	umcg_tls_worker = NULL;
	tls_self = NULL;
	atomic_signal_fence(memory_order_seq_cst);
	/*
	 * NONE and the unlink in one locked section, as the kernel orders
	 * them: whoever finds us registered sees our last state, and an
	 * ESRCH from a later lookup (umcg_kick() after setting TF_PREEMPT)
	 * comes with state NONE already visible.
	 */
	registry_lock_tid(self->tid);
	atomic_fetch_and(state_word(t), USER_BITS);
	registry_unlink_locked(self);
	registry_unlock(self->tid);
	umcg_bpf_detach(self);
	if (self->role == UMCG_ROLE_WORKER) {
		if (self->in_bracket && self->sig_masked)
			mask_preempt_signal(SIG_UNBLOCK);
		wake_server_of(t);
	}
	free(self);
}

static void exit_destructor(void *arg)
{
	finish(arg);
}

static void fork_child(void)
{
	umcg_tls_worker = NULL;
	tls_self = NULL;
	registry_forget_all();
	umcg_bpf_forget();
	pthread_setspecific(exit_key, NULL);
}

static void init_once_fn(void)
{
	const char *spin = getenv("UMCG_SERVER_SPIN_NS");
	const char *detect = getenv("UMCG_DETECT");

	if (spin)
		server_spin_ns = strtoull(spin, NULL, 0);
	/* best effort: umcg_detection() tells what this process got */
	if (detect && !strcmp(detect, "bpf"))
		umcg_bpf_enable();
	pthread_key_create(&exit_key, exit_destructor);
	pthread_atfork(NULL, NULL, fork_child);
}

/* ---- umcg_ctl ----------------------------------------------------------------- */

static bool clock_allowed(clockid_t clock)
{
	return clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC ||
	       clock == CLOCK_BOOTTIME || clock == CLOCK_TAI;
}

static bool reserved_fields_zero(const struct umcg_task *t)
{
	return !t->__zero0 && !t->__zero[0] && !t->__zero[1] &&
	       !t->__zero[2] && !t->next_tid;
}

/* Worker registration: server_tid must name a registered server. */
static int check_server(pid_t stid)
{
	struct umcg_thread *srv = registry_lock_tid(stid);
	bool ok;

	if (!srv)
		return -ESRCH;
	ok = srv->role == UMCG_ROLE_SERVER;
	registry_unlock(stid);
	return ok ? 0 : -ESRCH;
}

static int do_register(bool worker, struct umcg_task *task, clockid_t clock)
{
	pid_t tid = umcg_gettid();
	uint32_t st = load_state(task) & STATE_BITS;
	struct umcg_thread *self;
	int r;

	if (!clock_allowed(clock) || tls_self || !reserved_fields_zero(task))
		return -EINVAL;
	if (!worker && (st != UMCG_TASK_RUNNING ||
			(pid_t)task->server_tid != tid))
		return -EINVAL;
	if (worker && st != UMCG_TASK_BLOCKED)
		return -EINVAL;
	if (worker && (r = check_server(load_server_tid(task))) < 0)
		return r;

	pthread_once(&init_once, init_once_fn);
	if (worker && (r = install_preempt_handler()) < 0)
		return r;
	self = calloc(1, sizeof(*self));
	if (!self)
		return -ENOMEM;
	self->task = task;
	self->tid = tid;
	self->clock = clock;
	self->role = worker ? UMCG_ROLE_WORKER : UMCG_ROLE_SERVER;
	pthread_setspecific(exit_key, self);
	tls_self = self;
	/* before anyone can find us: the detector reads bpf_slot */
	if (worker)
		umcg_bpf_attach(self);
	registry_insert(self);
	if (!worker)
		return 0;

	/* A new worker: BLOCKED -> RUNNABLE, queued, runs when its server says. */
	self->in_library = 1;
	atomic_signal_fence(memory_order_seq_cst);
	umcg_tls_worker = self;
	return_from_block(self);
	leave_library(self, 0);
	return 0;
}

static int do_unregister(bool worker, struct umcg_task *task)
{
	struct umcg_thread *self = tls_self;

	if (!self || self->task != task ||
	    worker != (self->role == UMCG_ROLE_WORKER))
		return -EINVAL;
	/* a sleep the detector is still reporting ends first */
	if (self->bpf_slot)
		bpf_settle(self);
	if ((load_state(task) & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)
		return -EINVAL;
	pthread_setspecific(exit_key, NULL);
	finish(self);
	return 0;
}

static int ctl_checked(uint32_t flags, struct umcg_task *task, clockid_t clock)
{
	bool worker = flags & UMCG_CTL_WORKER;

	switch (flags & ~UMCG_CTL_WORKER) {
	case UMCG_CTL_REGISTER:
	case UMCG_CTL_UNREGISTER:
		break;
	default:
		return -EINVAL;
	}
	if ((uintptr_t)task % _Alignof(struct umcg_task))
		return -EINVAL;
	if (umcg_sys_probe_rw(task) < 0)
		return -EFAULT;
	if (flags & UMCG_CTL_REGISTER)
		return do_register(worker, task, clock);
	return do_unregister(worker, task);
}

/* A worker's registry locks must not be re-taken by its preemption handler. */
static int emul_ctl(uint32_t flags, struct umcg_task *task, clockid_t clock)
{
	struct umcg_thread *w = umcg_tls_worker;
	int prev = w ? enter_library(w) : 0;
	int r = ctl_checked(flags, task, clock);

	/* An unregistered worker's record is gone. */
	if (w && umcg_tls_worker == w)
		leave_library(w, prev);
	return r;
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

/*
 * May @self run worker @n now?  A parked worker is claimed (1 -> 0) against
 * its own timeout.  Otherwise only its server may run it, and only once it
 * is off the server's list: a worker whose timeout won (2) is on its way
 * onto the list, or already there, and would be queued twice if run now.
 */
static bool may_run_worker(struct umcg_thread *self, struct umcg_thread *n,
			   bool *claimed)
{
	int parked = PARK_PARKED;

	*claimed = atomic_compare_exchange_strong(&n->parked, &parked,
						  PARK_NONE);
	if (*claimed)
		return true;
	return parked == PARK_NONE && load_server_tid(n->task) == self->tid &&
	       !on_list(self->task, n->task);
}

/*
 * Run the task named by @next (docs/semantics.md, umcg_wait step 5), whose
 * record @n the caller looked up and locked; unlocks it.
 * A worker target must be parked (we claim it) or be one of the caller's
 * own workers, which the caller took off its list: anything else may still
 * sit on a list that only its server may take it from.
 */
static int run_next_locked(struct umcg_thread *self, struct umcg_thread *n,
			   uint32_t next)
{
	pid_t tid = (pid_t)(next & UMCG_TID_MASK);
	struct umcg_task *nt = n->task;
	bool claimed = false, woke, sleeping;

	if (next & UMCG_TID_RUNNING) {
		woke = (load_state(nt) & UMCG_TASK_MASK) == UMCG_TASK_RUNNING;
		registry_unlock(tid);
		return woke ? 0 : -EAGAIN;
	}
	if (n->role == UMCG_ROLE_WORKER && !may_run_worker(self, n, &claimed)) {
		registry_unlock(tid);
		return -EAGAIN;
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
		atomic_store(&n->parked, PARK_PARKED);
	registry_unlock(tid);
	if (!woke)
		return -EAGAIN;
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
 * times and for up to server_spin_ns (UMCG_SERVER_SPIN_NS, default 20 us,
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
	if (!server_spin_ns)
		return false;
	if ((self->waits++ & 255) == 0) {
		int pol = sched_getscheduler(0);

		self->spin_policy_ok = pol == SCHED_OTHER || pol == SCHED_BATCH ||
				       pol == SCHED_IDLE;
	}
	return self->spin_policy_ok && self->last_wait_ns <= server_spin_ns;
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
			if (now - start > server_spin_ns)
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
 * PARK_TIMED_OUT keeps namers off until the push is done; from then on the
 * list itself tells the server (see may_run_worker()).
 */
static int worker_timed_out(struct umcg_thread *self)
{
	int parked = PARK_PARKED;

	if (!atomic_compare_exchange_strong(&self->parked, &parked,
					    PARK_TIMED_OUT)) {
		sleep_until_running(self, NULL);
		return 0;
	}
	enqueue_self(self);
	atomic_store(&self->parked, PARK_NONE);
	sleep_until_running(self, NULL);
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
		atomic_store(&self->parked, PARK_PARKED);
	s = load_state(t);
	for (;;) {
		if ((s & STATE_BITS) != (UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT)) {
			if (n)
				registry_unlock(ntid);
			if (parks)
				atomic_store(&self->parked, PARK_NONE);
			force_running(t);
			return -EAGAIN;
		}
		if (atomic_compare_exchange_weak(state_word(t), &s,
				with_state(s, UMCG_TASK_RUNNABLE)))
			break;
	}

	if (n) {
		r = run_next_locked(self, n, next);
		if (r < 0) {
			int one = PARK_PARKED;

			/* Still parked means nobody claimed us: undo it. */
			if (!parks || atomic_compare_exchange_strong(&self->parked,
								     &one,
								     PARK_NONE)) {
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
		enqueue_self(self);
		return sleep_until_running(self, NULL);
	}
	if (!worker && (abs_timeout == 0 || abs_timeout == UINT64_MAX))
		return server_wait(self);
	if (abs_timeout == 0 || abs_timeout == UINT64_MAX)
		return sleep_until_running(self, NULL);

	deadline_init(&d, self->clock, abs_timeout);
	if (sleep_until_running(self, &d) == 0)
		return 0;
	if (worker)
		return worker_timed_out(self);
	/* A slice ran out: the worker it timed was computing, not blocking. */
	self->last_wait_ns = UINT64_MAX;
	/* A server that is woken right at its timeout reports the wake-up. */
	return move_own_state(t, UMCG_TASK_RUNNABLE, UMCG_TASK_RUNNING) ?
	       -ETIMEDOUT : 0;
}

static int emul_wait(uint32_t flags, uint64_t abs_timeout)
{
	struct umcg_thread *self = tls_self;
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
	else if (act)
		umcg_sys_tgkill(tid, preempt_sig);	/* ESRCH: it just exited */
	return 0;
}

static int emul_kick(uint32_t flags, pid_t tid)
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

/* ---- Block detection at call boundaries ----------------------------------------- */

/*
 * The block priority (umcg_set_block_priority(3)).  From its declared block
 * until it is RUNNING again, a worker needs its CPU only for a few
 * microseconds at a time: to enter its call after waking its server, to
 * queue itself when the call returns, to leave its wait when its server
 * runs it.  But it shares that CPU with the worker that computes there, and
 * the kernel grants a woken SCHED_OTHER thread the CPU at wake-up or, if it
 * declines then (the running thread's slice is protected), at the next
 * tick: up to 4 ms at HZ=250.  Measured in the demo: 2 ms at p99 in each
 * of these three steps.  Raised to SCHED_FIFO it gets the CPU at once; at
 * the priority of SCHED_FIFO servers, waking its server does not preempt it
 * before its call sleeps either.
 *
 * -1: not read from the environment yet.  Best effort: a thread that may
 * not use SCHED_FIFO (no CAP_SYS_NICE, RLIMIT_RTPRIO 0) is left as it is.
 */
static _Atomic int block_prio = -1;

static bool block_prio_valid(int prio)
{
	return prio >= 0 && prio <= sched_get_priority_max(SCHED_FIFO);
}

int umcg_set_block_priority(int prio)
{
	if (!block_prio_valid(prio))
		return -EINVAL;
	atomic_store(&block_prio, prio);
	return 0;
}

int umcg_block_priority(void)
{
	int p = atomic_load(&block_prio);

	if (p < 0) {
		const char *e = getenv("UMCG_BLOCK_PRIORITY");
		int want = e ? atoi(e) : 0;
		int unset = -1;

		if (!block_prio_valid(want))
			want = 0;
		atomic_compare_exchange_strong(&block_prio, &unset, want);
		p = atomic_load(&block_prio);
	}
	return p;
}

/* Raise the caller for its block; its own policy is kept to restore. */
static void block_boost(struct umcg_thread *self)
{
	struct umcg_sched_attr_raw rt = {
		.size = sizeof(rt), .policy = SCHED_FIFO,
	};
	int prio = umcg_block_priority();

	if (!prio)
		return;
	rt.priority = (uint32_t)prio;
	if (umcg_sys_sched_getattr(&self->saved_attr) == 0 &&
	    self->saved_attr.policy != SCHED_FIFO &&
	    self->saved_attr.policy != SCHED_RR &&
	    self->saved_attr.policy != SCHED_DEADLINE &&
	    umcg_sys_sched_setattr(&rt) == 0)
		self->boosted = 1;
}

static void block_unboost(struct umcg_thread *self)
{
	if (!self->boosted)
		return;
	self->boosted = 0;
	umcg_sys_sched_setattr(&self->saved_attr);
}

void umcg_sys_enter(void)
{
	struct umcg_thread *self = umcg_tls_worker;
	struct umcg_task *t;
	int prev;

	if (!self || self->in_bracket++)
		return;
	t = self->task;
	prev = enter_library(self);
	block_boost(self);
	self->blocked_here = mark_blocked(t, self->clock);
	if (!self->blocked_here) {
		block_unboost(self);
	} else {
		wake_server_of(t);
		/*
		 * Mask the preemption signal only when a kick may be on its
		 * way: the cmpxchg to BLOCKED above, then this load, pair with
		 * umcg_kick()'s increment, then its state check.  Either the
		 * kick saw us BLOCKED and sends nothing, or we see it counted.
		 */
		if (atomic_load(&self->kicks_pending) > 0 &&
		    !self->hook_guarded) {
			mask_preempt_signal(SIG_BLOCK);
			self->sig_masked = 1;
		}
	}
	/* Not RUNNING now, so a preemption noted meanwhile is moot. */
	if (!prev)
		self->preempt_pending = 0;
	leave_library(self, prev);
}

void umcg_sys_exit(void)
{
	struct umcg_thread *self = umcg_tls_worker;
	int prev, saved;

	if (!self || !self->in_bracket || --self->in_bracket)
		return;
	umcg_bpf_ignore(self, self->in_library);
	if (!self->blocked_here)
		return;
	saved = errno;
	prev = enter_library(self);
	self->blocked_here = 0;
	if (self->sig_masked) {
		self->sig_masked = 0;
		mask_preempt_signal(SIG_UNBLOCK);
	}
	return_from_block(self);
	block_unboost(self);
	leave_library(self, prev);
	errno = saved;
}

/* ---- BPF block detection (src/bpf.c) ------------------------------------------- */

/* The detector saw @w sleep; @w's registry bucket is locked. */
bool umcg_emul_mark_blocked(struct umcg_thread *w)
{
	return mark_blocked(w->task, w->clock);
}

void umcg_emul_wake_server_of(struct umcg_task *w)
{
	wake_server_of(w);
}

/* The programs carry the signal number: fix it now, as a registration would. */
int umcg_emul_preempt_signal(void)
{
	int r = install_preempt_handler();

	return r < 0 ? r : preempt_sig;
}

int umcg_set_detection(int mode)
{
	if (umcg_backend() == UMCG_BACKEND_KERNEL)
		return mode == UMCG_DETECT_HOOKS || mode == UMCG_DETECT_BPF ||
		       mode == UMCG_DETECT_KERNEL ? 0 : -EINVAL;
	switch (mode) {
	case UMCG_DETECT_HOOKS:
		umcg_bpf_disable();
		return 0;
	case UMCG_DETECT_BPF:
		return umcg_bpf_enable();
	default:
		return -EINVAL;
	}
}

int umcg_detection(void)
{
	if (umcg_backend() == UMCG_BACKEND_KERNEL)
		return UMCG_DETECT_KERNEL;
	return umcg_bpf_active() ? UMCG_DETECT_BPF : UMCG_DETECT_HOOKS;
}
