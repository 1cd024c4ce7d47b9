/* SPDX-License-Identifier: MIT */
/*
 * libumcg scheduler toolkit: servers per CPU, workers, policies, worker-side
 * primitives and statistics, built on the three UMCG calls only (so it runs
 * unchanged on the kernel backend and on the user-space "emul" backend).
 *
 * A scheduler owns N server threads (one per CPU by default, each pinned to
 * its CPU) and the workers spawned into it.  Each server runs the loop
 * described in docs/toolkit.md: collect the workers that became runnable,
 * hand them to the policy, look at the worker it runs, wake idle servers or
 * preempt, pick the next worker, wait.  A policy (struct umcg_policy_ops)
 * decides only where a runnable worker goes and which one a server runs next.
 *
 * Every call returns 0 or a negative errno and leaves errno alone, unless
 * its comment says otherwise.
 *
 * Lifetime rules (see docs/toolkit.md, "Lifetime"):
 *  1. The toolkit owns every struct umcg_task (servers' and workers'): a
 *     server reads a worker's final NONE state after the worker thread has
 *     gone, so the memory lives until umcg_sched_destroy().
 *  2. A worker is an ordinary thread; it may block anywhere (read, fsync,
 *     nanosleep, ...), its server then runs another worker.
 *  3. umcg_sched_destroy() waits for every worker to return: tell your
 *     workers to finish first (umcg_sched_stopping() helps).
 *  4. umcg_mutex_* / umcg_cond_* / umcg_worker_yield/sleep are for workers
 *     of a scheduler only (-EPERM elsewhere).
 */
#ifndef UMCG_SCHED_H
#define UMCG_SCHED_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <umcg.h>

#ifdef __cplusplus
extern "C" {
#endif

struct umcg_sched;
struct umcg_server;
struct umcg_worker;
struct umcg_policy_ops;

/* ---- The scheduler ----------------------------------------------------- */

struct umcg_sched_attr {
	/* CPUs to run servers on; NULL: the caller's affinity (online CPUs). */
	const cpu_set_t *cpus;
	/* Number of servers; 0: one per CPU of @cpus.  Servers go round-robin
	 * over @cpus when there are more servers than CPUs. */
	int nr_servers;
	/* Pin each server to its CPU; default 1. */
	int pin;
	/*
	 * Pin workers to the CPU of the server that runs them
	 * (UMCG_SCHED_PIN_*); default UMCG_SCHED_PIN_HOLD.  Pinned, a wake-up
	 * between a server and its worker stays on one CPU (a few
	 * microseconds instead of a cross-CPU wake-up); unpinned, the kernel
	 * can move a worker off a CPU that another process takes.  HOLD pins
	 * a worker while it holds its server's CPU (yields, mutex and condvar
	 * handoffs keep it there, so the steady state makes no system call)
	 * and releases it to the process's CPUs when it blocks in the kernel.
	 */
	int pin_workers;
	/* Default worker stack size in bytes; 0: UMCG_SCHED_DEFAULT_STACK. */
	size_t stack_size;
	/* The policy; NULL: umcg_policy_fifo (per-server FIFO + stealing). */
	const struct umcg_policy_ops *policy;
	/* Handed to policy->init(); policies document what they take. */
	const void *policy_arg;
	/*
	 * How the host kernel schedules the toolkit's own threads (best
	 * effort, silently skipped where not permitted).  A server, or a
	 * worker whose blocking call just returned, needs its CPU for a few
	 * microseconds while another worker computes there; with the kernel's
	 * default slice it may wait milliseconds for it.
	 * server_rt: run servers SCHED_FIFO (priority 1); default 1.  Servers
	 * only run briefly between sleeps.
	 * host_slice_ns: the EEVDF slice (sched_attr.sched_runtime, Linux
	 * 6.12+) of servers and workers; default UMCG_SCHED_HOST_SLICE_NS;
	 * -1 leaves the kernel's default.
	 */
	int server_rt;
	int64_t host_slice_ns;
	/*
	 * With server_rt: a worker that blocks runs SCHED_FIFO at the
	 * servers' priority until it runs again (umcg_set_block_priority(3)
	 * with 1, when the process setting is still 0 and the environment
	 * does not set UMCG_BLOCK_PRIORITY); default 1.  0 leaves the process
	 * setting alone.
	 */
	int block_rt;
	/*
	 * Priority inheritance (docs/toolkit.md, "Priority inheritance"): a
	 * worker waiting for a umcg_mutex, or for a pthread mutex held by a
	 * worker of this scheduler, lends its effective priority to the
	 * owner until the owner lets go; default 1.  0: owners keep their own.
	 */
	int priority_inherit;
	/* Room for later members: umcg_sched_attr_init() zeroes it, so a
	 * program built against this header keeps working. */
	uint64_t __reserved[7];
};

#define UMCG_SCHED_HOST_SLICE_NS	100000

/* umcg_sched_attr.pin_workers */
#define UMCG_SCHED_PIN_NEVER	0	/* the kernel places workers */
#define UMCG_SCHED_PIN_ALWAYS	1	/* re-pinned when it migrates, never released */
#define UMCG_SCHED_PIN_HOLD	2	/* pinned while it holds the CPU (default) */

#define UMCG_SCHED_DEFAULT_STACK	(64 * 1024)

/* Fill @attr with the defaults above. */
void umcg_sched_attr_init(struct umcg_sched_attr *attr);

/*
 * Start a scheduler: create and register its servers, each idle until a
 * worker is spawned.  @attr may be NULL (defaults).  -EINVAL (bad attr),
 * -ENOMEM, or what umcg_ctl()/pthread_create() failed with.
 */
int umcg_sched_create(struct umcg_sched **out, const struct umcg_sched_attr *attr);

/*
 * Join every worker not joined yet (waiting for each to return), stop and
 * join the servers, free everything.  Call from a thread that is not one of
 * its workers.  Sets the stopping flag first (see umcg_sched_stopping()).
 */
int umcg_sched_destroy(struct umcg_sched *s);

/* True once umcg_sched_destroy() or umcg_sched_stop() was called. */
bool umcg_sched_stopping(const struct umcg_sched *s);
void umcg_sched_stop(struct umcg_sched *s);

int umcg_sched_nr_servers(const struct umcg_sched *s);
struct umcg_server *umcg_sched_server(struct umcg_sched *s, int i);
/* The policy's private data (what policy->init() stored). */
void *umcg_sched_policy_data(const struct umcg_sched *s);

/* ---- Workers ------------------------------------------------------------ */

struct umcg_worker_attr {
	size_t stack_size;	/* 0: the scheduler's default; else at least
				 * PTHREAD_STACK_MIN, or -EINVAL */
	int priority;		/* policy-defined; 0 is the default class */
	int server;		/* initial server index, < nr_servers, or
				 * -1: round-robin; else -EINVAL */
	uint64_t __reserved[4];	/* zeroed by umcg_worker_attr_init() */
};

void umcg_worker_attr_init(struct umcg_worker_attr *attr);

/*
 * Start @fn(@arg) as a worker (an ordinary pthread registered as a UMCG
 * worker).  The worker first runs when a server picks it.  @attr may be
 * NULL.  *@out (may be NULL) stays valid until umcg_sched_destroy().
 */
int umcg_worker_spawn(struct umcg_sched *s, struct umcg_worker **out,
		      void *(*fn)(void *), void *arg,
		      const struct umcg_worker_attr *attr);

/* Wait for @w to return; *@ret (may be NULL) gets its return value. */
int umcg_worker_join(struct umcg_worker *w, void **ret);

/* The calling worker, or NULL when the caller is not a toolkit worker. */
struct umcg_worker *umcg_worker_self(void);

/*
 * Give the CPU back to the server: the policy sees the worker again with
 * reason UMCG_ENQ_YIELDED.  -EPERM outside a worker.
 */
int umcg_worker_yield(void);

/*
 * Leave the CPU for @ns nanoseconds without a system call that blocks: the
 * worker is parked (on no list) and, at expiry, queued with reason
 * UMCG_ENQ_TIMEDOUT.  An ordinary nanosleep() also works (as a block).
 */
int umcg_worker_sleep(uint64_t ns);

/* Set @w's (NULL: the caller's) priority; used at its next enqueue. */
int umcg_worker_set_priority(struct umcg_worker *w, int prio);
int umcg_worker_priority(const struct umcg_worker *w);
/*
 * The priority a policy should schedule @w at: its own, or the highest one
 * lent to it by workers waiting for a lock it holds (priority inheritance),
 * whichever is higher.  Lock-free; a policy reads it at enqueue and in
 * boosted().
 */
int umcg_worker_effective_priority(const struct umcg_worker *w);
/* True while @w holds a umcg_mutex (what lock-holder preemption deferral
 * looks at; pthread mutexes are not counted). */
bool umcg_worker_holds_lock(const struct umcg_worker *w);
int umcg_worker_id(const struct umcg_worker *w);
/* The server @w last ran on (or was queued for). */
struct umcg_server *umcg_worker_server(const struct umcg_worker *w);

/* For policies: one word per worker that the policy may use freely. */
uint64_t *umcg_worker_policy_word(struct umcg_worker *w);

/* ---- Servers (for policies) --------------------------------------------- */

int umcg_server_id(const struct umcg_server *srv);
int umcg_server_cpu(const struct umcg_server *srv);
struct umcg_sched *umcg_server_sched(const struct umcg_server *srv);
/* Per-server policy data: a pointer slot the policy owns. */
void **umcg_server_policy_slot(struct umcg_server *srv);
/* The worker this server runs now (racy from other servers), or NULL. */
struct umcg_worker *umcg_server_current(struct umcg_server *srv);
/* True while the server sleeps with nothing to run. */
bool umcg_server_idle(const struct umcg_server *srv);

/* ---- Policies ------------------------------------------------------------ */

/* Why a worker is handed to policy->enqueue(). */
enum umcg_enqueue_reason {
	UMCG_ENQ_NEW = 0,	/* just spawned, never ran */
	UMCG_ENQ_WOKEN,		/* its blocking call (or a park) returned */
	UMCG_ENQ_YIELDED,	/* umcg_worker_yield(), or gave the CPU away */
	UMCG_ENQ_PREEMPTED,	/* the server preempted it (slice, priority) */
	UMCG_ENQ_TIMEDOUT,	/* umcg_worker_sleep() expired */
	UMCG_ENQ__COUNT
};

const char *umcg_policy_reason_name(enum umcg_enqueue_reason why);

/*
 * A FIFO of workers for policies: intrusive (no allocation) and not locked;
 * guard it with a struct umcg_policy_lock when several servers touch it.
 * A worker is on at most one policy queue at a time.
 */
struct umcg_policy_queue {
	struct umcg_worker *head, *tail;
	size_t len;
};

void umcg_policy_queue_init(struct umcg_policy_queue *q);
void umcg_policy_queue_push(struct umcg_policy_queue *q, struct umcg_worker *w);
void umcg_policy_queue_push_front(struct umcg_policy_queue *q, struct umcg_worker *w);
struct umcg_worker *umcg_policy_queue_pop(struct umcg_policy_queue *q);
/* Remove and return the last worker (stealers take the cold end). */
struct umcg_worker *umcg_policy_queue_pop_tail(struct umcg_policy_queue *q);
/* Take @w, which is on @q, off it (boosted() moves a worker between queues). */
void umcg_policy_queue_remove(struct umcg_policy_queue *q, struct umcg_worker *w);

/* A spin lock that yields the CPU after a short spin (no system call while
 * it is free).  Policy callbacks run on server threads only. */
struct umcg_policy_lock {
	UMCG_ATOMIC(int) locked;
};
void umcg_policy_lock(struct umcg_policy_lock *l);
void umcg_policy_unlock(struct umcg_policy_lock *l);

/*
 * The policy interface.  Every callback runs on a server thread (the one
 * named @srv), never on a worker, and must not block.  A worker handed to
 * enqueue() is RUNNABLE and on no list: the policy owns it until it returns
 * it from pick() or steal().  Several servers call in concurrently: shared
 * state needs a lock.
 */
struct umcg_policy_ops {
	/* Shown in statistics and dumps. */
	const char *name;

	/*
	 * init: called once by umcg_sched_create() after the servers exist and
	 * before any worker; store private data with *@data (read it back with
	 * umcg_sched_policy_data()).  @arg is umcg_sched_attr.policy_arg.
	 * Returns 0 or -errno (creation fails).  If NULL: no private data.
	 */
	int (*init)(struct umcg_sched *s, const void *arg, void **data);

	/* exit: called by umcg_sched_destroy() after every server stopped.
	 * If NULL: nothing (init's data must then need no freeing). */
	void (*exit)(struct umcg_sched *s, void *data);

	/*
	 * enqueue (required): @w became runnable on @srv for reason @why.
	 * Put it where pick() or steal() will find it; it may go to another
	 * server's queue (the toolkit migrates it when that server picks it).
	 */
	void (*enqueue)(struct umcg_server *srv, struct umcg_worker *w,
			enum umcg_enqueue_reason why);

	/*
	 * pick (required): the worker @srv runs next, taken off the policy's
	 * queue, or NULL to let @srv go idle (after trying steal()).
	 */
	struct umcg_worker *(*pick)(struct umcg_server *srv);

	/*
	 * steal: @srv is idle and pick() found nothing: take a worker queued
	 * for another server (it migrates to @srv).  Also called when another
	 * server kicked @srv because it had more work than it could run.
	 * If NULL: idle servers never take other servers' work.
	 */
	struct umcg_worker *(*steal)(struct umcg_server *srv);

	/*
	 * should_preempt: new work was just queued and @srv is busy running
	 * @curr (on this server or another, where no server was idle to take
	 * the work).  Return true to preempt @curr (it comes back through
	 * enqueue() with UMCG_ENQ_PREEMPTED).  If NULL: never on wake-up.
	 */
	bool (*should_preempt)(struct umcg_server *srv, struct umcg_worker *curr);

	/*
	 * slice_ns: how long @w may run once @srv starts it before tick() is
	 * called; 0 means no limit.  If NULL: no limit (no tick).
	 */
	uint64_t (*slice_ns)(struct umcg_server *srv, struct umcg_worker *w);

	/*
	 * tick: @curr used up its slice on @srv (it has run @ran_ns since it
	 * started).  Return true to preempt it; false lets it run another
	 * slice.  If NULL: the toolkit preempts it when queued() says @srv has
	 * other work, else lets it run on.
	 */
	bool (*tick)(struct umcg_server *srv, struct umcg_worker *curr,
		     uint64_t ran_ns);

	/* running: @srv starts @w (statistics, vruntime...).  If NULL: nothing. */
	void (*running)(struct umcg_server *srv, struct umcg_worker *w);

	/* blocked: @w, which @srv ran, blocked in the kernel.  It comes back
	 * through enqueue(UMCG_ENQ_WOKEN).  If NULL: nothing. */
	void (*blocked)(struct umcg_server *srv, struct umcg_worker *w);

	/* exited: @w, which @srv ran, returned or exited.  It never comes
	 * back.  If NULL: nothing. */
	void (*exited)(struct umcg_server *srv, struct umcg_worker *w);

	/*
	 * queued: how many workers wait for @srv (what statistics and the
	 * progress line show).  Must not take a lock: the async-signal-safe
	 * dump calls it.  A queue shared by all servers should be reported on
	 * one server only, so that sums stay right.  If NULL: the toolkit
	 * reports 0 (and tick's default never preempts).
	 */
	size_t (*queued)(struct umcg_server *srv);

	/*
	 * boosted: umcg_worker_effective_priority(@w) rose because a worker
	 * of a higher priority waits for a lock @w holds (priority
	 * inheritance).  @w may be in any state: if the policy has it queued,
	 * it should move it to where its new priority runs it next (the
	 * toolkit then kicks an idle server, or asks should_preempt() as for
	 * new work); running, blocked or parked, nothing is needed (enqueue
	 * reads the effective priority).  Called on the server of the waiter,
	 * which just left its CPU.  The priority falls back at the owner's
	 * unlock without a call: the owner is running then, and its next
	 * enqueue sees it.  If NULL: a queued owner keeps its place.
	 */
	void (*boosted)(struct umcg_server *srv, struct umcg_worker *w);

	/*
	 * holder_grace_ns: @curr holds a lock and tick() (or the default)
	 * decided to preempt it at the end of its slice: how long it may run
	 * on instead, once per slice, so that it can release the lock first
	 * (it gives the CPU back at its last unlock).  0: preempt now.
	 * If NULL: no deferral.
	 */
	uint64_t (*holder_grace_ns)(struct umcg_server *srv, struct umcg_worker *curr);
};

/* The built-in policies (toolkit/policies/<name>.c, table <name>_ops). */
extern const struct umcg_policy_ops *const umcg_policy_fifo;	/* per-server FIFO, stealing */
extern const struct umcg_policy_ops *const umcg_policy_global;	/* one global FIFO */
extern const struct umcg_policy_ops *const umcg_policy_prio;	/* strict priority classes */
extern const struct umcg_policy_ops *const umcg_policy_slice;	/* round-robin time slices */

/* A built-in policy by name ("fifo", "global", "prio", "slice"), or NULL. */
const struct umcg_policy_ops *umcg_policy_by_name(const char *name);

/* Arguments of the built-in policies, through umcg_sched_attr.policy_arg. */
struct umcg_policy_prio_arg {
	int nr_classes;		/* priorities 0..nr_classes-1; higher runs first */
	uint64_t slice_ns;	/* 0: a worker runs until it blocks or yields */
	bool preempt_on_wake;	/* a higher class preempts a running lower one */
	/* A slice preemption of a lock holder waits up to this long for
	 * its last unlock; 0: none. */
	uint64_t holder_grace_ns;
};
struct umcg_policy_slice_arg {
	uint64_t slice_ns;	/* default 2 ms */
};

/* ---- Worker-side primitives --------------------------------------------- */

/*
 * A mutex whose unlock hands the CPU to the first waiter (FIFO): the waiter
 * runs at once on the unlocker's server, the unlocker is queued (yielded).
 * Zero-initialised memory (or UMCG_MUTEX_INITIALIZER) is an unlocked mutex.
 */
struct umcg_mutex {
	UMCG_ATOMIC(uint32_t) __state;	/* 0 free, 1 locked, 2 locked + waiters */
	struct umcg_policy_lock __qlock;
	struct umcg_worker *__head, *__tail;
	UMCG_ATOMIC(struct umcg_worker *) __owner;
};
#ifdef __cplusplus
#define UMCG_MUTEX_INITIALIZER {}	/* every member value-initialised */
#else
#define UMCG_MUTEX_INITIALIZER { 0 }
#endif

int umcg_mutex_init(struct umcg_mutex *m);
int umcg_mutex_lock(struct umcg_mutex *m);
int umcg_mutex_trylock(struct umcg_mutex *m);	/* -EBUSY when held */
int umcg_mutex_unlock(struct umcg_mutex *m);	/* -EPERM if not the owner */

/*
 * A condition variable: signal hands the CPU straight to the first waiter,
 * or, when the signaller holds the waiter's mutex, moves the waiter onto
 * the mutex queue so that the unlock hands over (no ping-pong).
 * Zero-initialised memory is a valid condition variable.
 */
struct umcg_cond {
	struct umcg_policy_lock __qlock;
	struct umcg_worker *__head, *__tail;
};
#ifdef __cplusplus
#define UMCG_COND_INITIALIZER {}
#else
#define UMCG_COND_INITIALIZER { { 0 }, 0, 0 }
#endif

int umcg_cond_init(struct umcg_cond *c);
int umcg_cond_wait(struct umcg_cond *c, struct umcg_mutex *m);
int umcg_cond_signal(struct umcg_cond *c);
int umcg_cond_broadcast(struct umcg_cond *c);

/* ---- Observability ------------------------------------------------------ */

struct umcg_server_stats {
	uint64_t switches;	/* workers started on this server (incl. handoffs) */
	uint64_t blocks;	/* its worker blocked in the kernel */
	uint64_t wakes;		/* workers queued back after a block or park */
	uint64_t preemptions;	/* preemptions this server asked for */
	uint64_t steals;	/* workers this server took from another */
	uint64_t kicks;		/* idle servers this server woke */
	uint64_t idle_ns;	/* time asleep with nothing to run */
	uint64_t busy_ns;	/* time with a worker to run */
	uint64_t queued;	/* workers waiting now (policy->queued) */
};

/* Counters of server @i (a consistent-enough snapshot; never blocks). */
int umcg_sched_server_stats(struct umcg_sched *s, int i,
			    struct umcg_server_stats *out);
/* Sum over servers. */
int umcg_sched_stats(struct umcg_sched *s, struct umcg_server_stats *out);

/*
 * Write one line per server and per worker (id, tid, state, server,
 * priority, time in state) to @fd.  Async-signal-safe (no locks, no
 * allocation, raw write(2)): call it from a signal handler or a debugger
 * (`call umcg_sched_dump(s, 2)`).
 */
int umcg_sched_dump(struct umcg_sched *s, int fd);

/* Dump every live scheduler of the process (what SIGQUIT prints when the
 * environment has UMCG_DUMP_ON_SIGQUIT=1 at the first umcg_sched_create()). */
int umcg_sched_dump_all(int fd);

#ifdef __cplusplus
}
#endif

#endif /* UMCG_SCHED_H */
