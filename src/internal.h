/* SPDX-License-Identifier: MIT */
/*
 * libumcg internals shared by the backends, the registry and the libc
 * interposition in src/hooks/.  Nothing here is exported.
 */
#ifndef UMCG_INTERNAL_H
#define UMCG_INTERNAL_H

#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>
#include <umcg.h>

#define UMCG_HIDDEN __attribute__((visibility("hidden")))

enum umcg_role { UMCG_ROLE_SERVER = 1, UMCG_ROLE_WORKER = 2 };

/* struct sched_attr of sched_setattr(2) (version 0); glibc has no wrapper. */
struct umcg_sched_attr_raw {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

/*
 * One registered task of the emul backend.  Allocated at registration,
 * reachable from other threads only through the registry (under its bucket
 * lock), freed after it left the registry.
 *
 * parked: PARK_PARKED while a worker sleeps in umcg_wait() with a timeout
 * and is on no list; whoever moves it away first (a next_tid claim to
 * PARK_NONE, or the worker's own timeout to PARK_TIMED_OUT) decides whether
 * it is run directly or enqueued.  PARK_TIMED_OUT lasts until the timed-out
 * worker is on its server's list.
 */
enum { PARK_NONE = 0, PARK_PARKED = 1, PARK_TIMED_OUT = 2 };

/*
 * A worker's slot in the BPF detector's shared array (src/bpf.c); its
 * layout is compiled into the BPF programs.
 */
struct umcg_bpf_slot {
	uint32_t ignore;	/* user: inside libumcg or a hook bracket */
	uint32_t seq;		/* BPF: sleeps seen */
	uint32_t signaled;	/* BPF: seq the last signal was sent for */
	uint32_t in_syscall;	/* BPF: between sys_enter and sys_exit */
	uint32_t done;		/* detector: seq handled up to */
	uint32_t marked;	/* detector: seq at which it marked BLOCKED */
	uint32_t pad[2];
};

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
	struct umcg_sched_attr_raw saved_attr;	/* see block_boost() in emul.c */
	int boosted;		/* SCHED_FIFO for a block: restore saved_attr */
	/* servers: see server_wait() in emul.c */
	unsigned int waits;
	bool spin_policy_ok;
	uint64_t last_wait_ns;
	int blocked_here;	/* this bracket did the RUNNING -> BLOCKED move */
	volatile sig_atomic_t in_library;	/* preemption must wait */
	volatile sig_atomic_t preempt_pending;
	struct umcg_bpf_slot *bpf_slot;	/* BPF detection, or NULL */
	uint32_t bpf_settled;	/* slot seq handled by this worker */
	struct umcg_thread *hash_next;
};

/*
 * The worker's BPF slot says whether a sleep of its thread is a block to
 * report: not inside libumcg (its own waits) nor inside a hook bracket
 * (already declared).  The programs run on this thread's own context
 * (sched_switch of current), so ordering against them is a compiler
 * barrier.
 */
static inline void umcg_bpf_ignore(struct umcg_thread *t, int ignore)
{
	if (t->bpf_slot) {
		atomic_signal_fence(memory_order_seq_cst);
		atomic_store_explicit((_Atomic uint32_t *)&t->bpf_slot->ignore,
				      (uint32_t)ignore, memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst);
	}
}

/* src/bpf.c */
int umcg_bpf_enable(void) UMCG_HIDDEN;
void umcg_bpf_disable(void) UMCG_HIDDEN;
bool umcg_bpf_active(void) UMCG_HIDDEN;
void umcg_bpf_forget(void) UMCG_HIDDEN;
void umcg_bpf_attach(struct umcg_thread *w) UMCG_HIDDEN;
void umcg_bpf_detach(struct umcg_thread *w) UMCG_HIDDEN;
bool umcg_bpf_settle_wait(struct umcg_thread *w) UMCG_HIDDEN;

/* src/emul.c, for the detector */
bool umcg_emul_mark_blocked(struct umcg_thread *w) UMCG_HIDDEN;
void umcg_emul_wake_server_of(struct umcg_task *w) UMCG_HIDDEN;
int umcg_emul_preempt_signal(void) UMCG_HIDDEN;

/*
 * Non-NULL exactly while the calling thread is a registered worker of the
 * emul backend.  The libc hooks test it first: outside a worker a hooked
 * call costs this one thread-local load.
 */
extern __thread struct umcg_thread *umcg_tls_worker UMCG_HIDDEN;

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

/* The operations one backend provides; each returns 0 or -errno. */
struct umcg_backend_ops {
	const char *name;
	int (*ctl)(uint32_t flags, struct umcg_task *self, clockid_t clock);
	int (*wait)(uint32_t flags, uint64_t abs_timeout);
	int (*kick)(uint32_t flags, pid_t tid);
};

extern const struct umcg_backend_ops umcg_emul_ops UMCG_HIDDEN;
extern const struct umcg_backend_ops umcg_kernel_ops UMCG_HIDDEN;

/* src/kernel.c: true when the running kernel announces our ABI version. */
bool umcg_kernel_available(void) UMCG_HIDDEN;

#endif /* UMCG_INTERNAL_H */
