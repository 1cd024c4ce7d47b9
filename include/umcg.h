/* SPDX-License-Identifier: MIT */
/*
 * libumcg: User Managed Concurrency Groups for Linux.
 *
 * The three ABI calls behave exactly as the system calls of the kernel
 * implementation would (return 0, or -1 with errno set), whichever backend
 * runs them: the kernel's (a patched kernel) or libumcg's own user-space
 * state machine over futexes ("emul").  Everything else returns 0 or a
 * negative errno and leaves errno alone.
 *
 * See umcg(7) for the state machine and umcg_ctl(2), umcg_wait(2) and
 * umcg_kick(2) for the calls.
 */
#ifndef UMCG_H
#define UMCG_H

#include <linux/umcg.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The public headers compile as C11 and as C++ (17 and later).  Members
 * that libumcg updates atomically are _Atomic in C; C++ has no _Atomic, so
 * there they are the plain type, which has the same size and alignment on
 * every target libumcg builds for (checked in the library).  The inline
 * helpers below use the __atomic builtins, which both languages accept.
 */
#ifdef __cplusplus
#define UMCG_ATOMIC(type) type
#else
#define UMCG_ATOMIC(type) _Atomic(type)
_Static_assert(sizeof(_Atomic(uint32_t)) == sizeof(uint32_t) &&
	       _Alignof(_Atomic(uint32_t)) == _Alignof(uint32_t) &&
	       sizeof(_Atomic(void *)) == sizeof(void *) &&
	       _Alignof(_Atomic(void *)) == _Alignof(void *),
	       "C and C++ would see different layouts of libumcg's structs");
#endif

/* ---- The ABI ---------------------------------------------------------- */

/*
 * Register the caller as a server (flags UMCG_CTL_REGISTER, @self->state
 * RUNNING, @self->server_tid the caller's tid) or as a worker
 * (UMCG_CTL_REGISTER | UMCG_CTL_WORKER, @self->state BLOCKED,
 * @self->server_tid a registered server of this process); a new worker
 * returns only once its server has run it.  UMCG_CTL_UNREGISTER (with
 * UMCG_CTL_WORKER for a worker) undoes it; @clock is then ignored.
 */
int umcg_ctl(uint32_t flags, struct umcg_task *self, clockid_t clock);

/*
 * Wait until the caller's state is RUNNING, after running @self->next_tid
 * if it names a RUNNABLE task.  The caller must have set its state to
 * RUNNABLE | UMCG_TF_COND_WAIT.  @abs_timeout is on the registration clock;
 * 0 means none (and, for a worker, "yield": it is queued at once).
 */
int umcg_wait(uint32_t flags, uint64_t abs_timeout);

/*
 * Kick @tid: a RUNNING worker with UMCG_TF_PREEMPT set is preempted (queued
 * on its server and waiting); a server sleeping in umcg_wait() is woken.
 */
int umcg_kick(uint32_t flags, pid_t tid);

/* ---- Backends ---------------------------------------------------------- */

enum umcg_backend {
	UMCG_BACKEND_EMUL = 1,		/* user-space state machine, any kernel */
	UMCG_BACKEND_KERNEL = 2,	/* the UMCG system calls of our patch */
};

/*
 * The backend this process uses, chosen once at the first call: the kernel's
 * when /sys/kernel/umcg/abi_version announces UMCG_ABI_VERSION, else emul.
 * UMCG_BACKEND=emul|kernel in the environment forces one (forcing "kernel"
 * on a kernel without UMCG makes every call fail with ENOSYS).
 */
enum umcg_backend umcg_backend(void);
const char *umcg_backend_name(void);

/* ---- Block detection for the user-space backend ----------------------- */

/*
 * Bracket a call that may block.  In a RUNNING worker on the emul backend,
 * umcg_sys_enter() marks the worker BLOCKED and wakes its server;
 * umcg_sys_exit() marks it RUNNABLE, queues it on its server and waits
 * until it is RUNNING again.  Anywhere else (not a worker, kernel backend,
 * already inside a bracket) both cost one thread-local load.
 * umcg_sys_exit() preserves errno.  Brackets do not nest: the inner pair is
 * a no-op.
 */
void umcg_sys_enter(void);
void umcg_sys_exit(void);

/*
 * The signal the emul backend uses to preempt a worker (default
 * SIGRTMIN + 4, or UMCG_PREEMPT_SIGNAL=<n> in the environment).  It may be
 * changed only before the first registration: -EBUSY after, -EINVAL for a
 * signal that cannot be caught.
 */
int umcg_preempt_signal(void);
int umcg_set_preempt_signal(int sig);

/*
 * Emul backend: run a worker SCHED_FIFO at @prio from the moment it declares
 * a block until it is RUNNING again, so that the few microseconds it needs
 * the CPU meanwhile (entering its call, queueing itself when the call
 * returns, resuming when its server runs it) are granted at once instead of
 * at the host's next tick.  Its own policy is restored when it runs again.
 * 0 (the default, or UMCG_BLOCK_PRIORITY=<n> in the environment) turns it
 * off; -EINVAL outside 0..sched_get_priority_max(SCHED_FIFO).  Best effort:
 * a thread not allowed SCHED_FIFO is left alone.  The kernel backend has no
 * use for it and ignores it.  The toolkit sets its servers' priority.
 */
int umcg_set_block_priority(int prio);
int umcg_block_priority(void);

/*
 * How the emul backend learns that a worker blocks.  UMCG_DETECT_HOOKS (the
 * default): only in the calls the hooks wrap and in umcg_sys_enter()
 * brackets.  UMCG_DETECT_BPF: also anywhere else -- page faults, raw
 * system calls, libc-internal locks -- from BPF programs on the host
 * scheduler's tracepoints (needs CAP_BPF and CAP_PERFMON, or root); workers
 * registered from then on are watched.  umcg_set_detection() returns 0,
 * -EINVAL for an unknown mode, or the error that kept BPF from loading
 * (-EPERM, -ENOSYS, ...).  UMCG_DETECT=bpf in the environment asks for BPF
 * at the first registration.  On the kernel backend every block is seen
 * anyway: any mode is accepted and umcg_detection() says
 * UMCG_DETECT_KERNEL.  See umcg_set_detection(3).
 */
enum umcg_detection {
	UMCG_DETECT_HOOKS = 1,
	UMCG_DETECT_BPF = 2,
	UMCG_DETECT_KERNEL = 3,
};
int umcg_set_detection(int mode);
int umcg_detection(void);

/* ---- Helpers over the shared memory ------------------------------------ */

/* The caller's kernel thread id. */
pid_t umcg_gettid(void);

/* Read the state word (acquire: what the writer did before is visible). */
static inline uint32_t umcg_task_state(struct umcg_task *t)
{
	return __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
}

/*
 * Write the caller's own state word, e.g. RUNNABLE | UMCG_TF_COND_WAIT
 * right before umcg_wait() (release: what the caller did before is visible
 * to whoever sees the new state).  Use umcg_task_cas_state() for another
 * task's word: it may change under you.
 */
static inline void umcg_task_set_state(struct umcg_task *t, uint32_t state)
{
	__atomic_store_n(&t->state, state, __ATOMIC_RELEASE);
}

/* Atomically move @t's state word from @old to @new. */
static inline int umcg_task_cas_state(struct umcg_task *t, uint32_t old,
				      uint32_t new_state)
{
	return __atomic_compare_exchange_n(&t->state, &old, new_state, 0,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/*
 * Take every worker that became runnable off @server's list at once.  The
 * result is a LIFO chain through runnable_workers_ptr (most recent first);
 * walk it with umcg_runnable_next() before changing any worker's state.
 */
static inline struct umcg_task *umcg_runnable_take_all(struct umcg_task *server)
{
	uint64_t head = __atomic_exchange_n(&server->runnable_workers_ptr, 0,
					    __ATOMIC_SEQ_CST);
	return (struct umcg_task *)(uintptr_t)head;
}

static inline struct umcg_task *umcg_runnable_next(struct umcg_task *worker)
{
	return (struct umcg_task *)(uintptr_t)worker->runnable_workers_ptr;
}

/* Fill @t for registration as a server of the calling thread. */
static inline void umcg_task_init_server(struct umcg_task *t)
{
	memset(t, 0, sizeof(*t));
	t->state = UMCG_TASK_RUNNING;
	t->server_tid = (uint32_t)umcg_gettid();
}

/* Fill @t for registration as a worker of @server_tid. */
static inline void umcg_task_init_worker(struct umcg_task *t, pid_t server_tid)
{
	memset(t, 0, sizeof(*t));
	t->state = UMCG_TASK_BLOCKED;
	t->server_tid = (uint32_t)server_tid;
}

/* The time now on @clock, in ns: what umcg_wait() timeouts are made of. */
uint64_t umcg_clock_ns(clockid_t clock);

#ifdef __cplusplus
}
#endif

#endif /* UMCG_H */
