/* SPDX-License-Identifier: MIT */
/*
 * What the files of the emul backend share (src/emul/), and what the libc
 * interposition above it (src/hooks/) needs to know of it.  Nothing here is
 * exported.  The backend's design: emul.c's opening comment and
 * docs/design.md.
 *
 *	emul.c		the state machine: state words, waking, queueing,
 *			sleeping, umcg_wait(), umcg_kick()
 *	ctl.c		registration, unregistration, thread exit: umcg_ctl()
 *	preempt.c	the preemption signal and its handler
 *	block.c		block brackets (umcg_sys_enter/exit), block priority,
 *			the choice of detection
 *	registry.c	tid -> registered task
 *	bpf.c		BPF block detection (through bpf.h only)
 */
#ifndef UMCG_EMUL_H
#define UMCG_EMUL_H

#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>
#include <umcg.h>
#include "backend.h"
#include "bpf.h"
#include "sys.h"

#define STATE_BITS	(UMCG_TASK_MASK | UMCG_TF_MASK)
#define USER_BITS	(~STATE_BITS)

enum umcg_role { UMCG_ROLE_SERVER = 1, UMCG_ROLE_WORKER = 2 };

/*
 * parked: how a worker's timed sleep in umcg_wait() ends; the states and
 * their protocol are the kernel backend's (docs/design.md, "Vocabulary").
 * UMCG_PARKED while it sleeps on no list.  Whoever moves it away first
 * decides: a next_tid claim (-> UMCG_UNPARKED) runs it directly, its own
 * timeout (-> UMCG_QUEUING) queues it.  UMCG_QUEUED once it is on its
 * server's list, until its wait returns.  A namer never acts on QUEUING: it
 * waits for QUEUED (see may_run_worker()).
 */
enum {
	UMCG_UNPARKED = 0,
	UMCG_PARKED = 1,
	UMCG_QUEUING = 2,	/* timeout won, being pushed */
	UMCG_QUEUED = 3,	/* timeout won, on its server's list */
};

/*
 * One registered task of the emul backend.  Allocated at registration,
 * reachable from other threads only through the registry (under its bucket
 * lock), freed after it left the registry.
 */
struct umcg_thread {
	struct umcg_task *task;
	pid_t tid;
	clockid_t clock;
	enum umcg_role role;
	atomic_int parked;
	atomic_int sleepers;	/* in FUTEX_WAIT on its state: wakers skip FUTEX_WAKE at 0 */
	int in_bracket;		/* inside umcg_sys_enter/exit: hooks pass through */
	atomic_int kicks_pending;	/* kicks whose signal may still arrive */
	int sig_masked;		/* this bracket masked the preemption signal */
	int hook_guarded;	/* TSan builds: a hook blocked the signal */
	struct umcg_sched_attr_raw saved_attr;	/* see block_boost() in block.c */
	int boosted;		/* SCHED_FIFO for a block: restore saved_attr */
	/* servers: see server_wait() in emul.c */
	unsigned int waits;
	bool spin_policy_ok;
	uint64_t last_wait_ns;
	int blocked_here;	/* this bracket did the RUNNING -> BLOCKED move */
	volatile sig_atomic_t in_library;	/* preemption must wait */
	volatile sig_atomic_t preempt_pending;
	struct umcg_bpf_watch bpf;	/* BPF detection; bpf.slot NULL if off */
	struct umcg_thread *hash_next;
};

/*
 * Non-NULL exactly while the calling thread is a registered worker of the
 * emul backend.  The libc hooks test it first: outside a worker a hooked
 * call costs this one thread-local load.
 */
extern __thread struct umcg_thread *umcg_tls_worker UMCG_HIDDEN;
/* The calling thread's record while it is registered (server or worker). */
extern __thread struct umcg_thread *emul_self UMCG_HIDDEN;

/* True when a hook must manage a possible block around its call. */
static inline bool umcg_hook_active(void)
{
	struct umcg_thread *w = umcg_tls_worker;

	return __builtin_expect(w != NULL, 0) && !w->in_bracket;
}

/*
 * ThreadSanitizer builds only.  TSan's own interceptor for a blocking call
 * (nanosleep, pthread_join, sem_wait, ...) sits above our hook: it marks
 * the thread "in a blocking function" and then runs any signal that
 * arrives at once, on the assumption that no user code runs until the
 * call returns.  Our hook is user code: a preemption signal landing while
 * TSan's runtime holds its per-thread lock for one of our atomics
 * deadlocks the thread inside TSan.  So in those builds each hook runs
 * with the preemption signal blocked (UMCG_HOOK_GUARD() as its first
 * line); a kick that lands meanwhile is handled when the hook returns.
 * Other builds have no such interceptor and the guard is empty.
 */
#if defined(__SANITIZE_THREAD__)
#define UMCG_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UMCG_TSAN 1
#endif
#endif

#ifdef UMCG_TSAN
struct umcg_thread *umcg_hook_guard(void) UMCG_HIDDEN;
void umcg_hook_unguard(struct umcg_thread **guarded) UMCG_HIDDEN;
#define UMCG_HOOK_GUARD()						\
	struct umcg_thread *umcg_guard_					\
	__attribute__((cleanup(umcg_hook_unguard), unused)) =		\
		umcg_hook_guard()
#else
#define UMCG_HOOK_GUARD() do { } while (0)
#endif

/* ---- State words (emul.c's opening comment) ------------------------------ */

static inline _Atomic uint32_t *state_word(struct umcg_task *t)
{
	return (_Atomic uint32_t *)&t->state;
}

static inline uint32_t load_state(struct umcg_task *t)
{
	return atomic_load(state_word(t));
}

/* @old with its state and kernel flags replaced by @st; user bits kept. */
static inline uint32_t with_state(uint32_t old, uint32_t st)
{
	return (old & USER_BITS) | st;
}

static inline void store_u64(__u64 *p, uint64_t v)
{
	atomic_store_explicit((_Atomic __u64 *)p, v, memory_order_relaxed);
}

static inline pid_t load_server_tid(struct umcg_task *t)
{
	return (pid_t)atomic_load_explicit((_Atomic uint32_t *)&t->server_tid,
					   memory_order_relaxed);
}

static inline uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* emul.c: the protocol steps the other files take */
void emul_wake_server_of(struct umcg_task *w) UMCG_HIDDEN;
void emul_enqueue_self(struct umcg_thread *self) UMCG_HIDDEN;
int emul_sleep_until_running(struct umcg_thread *self) UMCG_HIDDEN;
bool emul_mark_blocked(struct umcg_task *t, clockid_t clock) UMCG_HIDDEN;
void emul_return_from_block(struct umcg_thread *self) UMCG_HIDDEN;
int emul_wait(uint32_t flags, uint64_t abs_timeout) UMCG_HIDDEN;
int emul_kick(uint32_t flags, pid_t tid) UMCG_HIDDEN;
/* see server_wait(); set from UMCG_SERVER_SPIN_NS at the first registration */
extern uint64_t emul_server_spin_ns UMCG_HIDDEN;

/* preempt.c */
void emul_handle_preempt(struct umcg_thread *self) UMCG_HIDDEN;
void emul_bpf_settle(struct umcg_thread *self) UMCG_HIDDEN;
int emul_install_preempt_handler(void) UMCG_HIDDEN;
int emul_installed_preempt_signal(void) UMCG_HIDDEN;
void emul_mask_preempt_signal(void) UMCG_HIDDEN;
void emul_unmask_preempt_signal(void) UMCG_HIDDEN;

/* ctl.c */
int emul_ctl(uint32_t flags, struct umcg_task *task, clockid_t clock) UMCG_HIDDEN;

/* block.c */
int emul_enable_bpf(void) UMCG_HIDDEN;

/*
 * Sections that change the caller's own state or hold a registry lock run
 * "in the library": the preemption handler only notes a request there (it
 * would otherwise take the same locks and race with the section), and the
 * section's end performs it.  Sections nest (a signal handler may call a
 * hooked function), so each returns the previous mark to leave_library().
 */
static inline int enter_library(struct umcg_thread *self)
{
	int prev = self->in_library;

	self->in_library = 1;
	atomic_signal_fence(memory_order_seq_cst);
	umcg_bpf_ignore(&self->bpf, 1);
	return prev;
}

static inline void leave_library(struct umcg_thread *self, int prev)
{
	atomic_signal_fence(memory_order_seq_cst);
	umcg_bpf_ignore(&self->bpf, prev || self->in_bracket);
	self->in_library = prev;
	atomic_signal_fence(memory_order_seq_cst);
	while (!prev && self->preempt_pending) {
		self->preempt_pending = 0;
		emul_handle_preempt(self);
	}
}

#endif /* UMCG_EMUL_H */
