/* SPDX-License-Identifier: MIT */
/*
 * Scheduler toolkit internals: the server, worker and scheduler objects
 * shared by toolkit/sched.c (the server loop), toolkit/worker.c (worker
 * side: spawn, yield, sleep, mutex, condvar) and toolkit/stats.c.
 *
 * Who owns a server's CPU: srv->owner.  It is the toolkit's view of "the
 * worker this server runs", kept next to the ABI's view (srv->task.next_tid,
 * which the kernel or libumcg reads when the server waits).  Both are
 * written only by whoever holds the CPU:
 *  - the server, while owner is NULL (it picks and names a worker), or when
 *    the owner can no longer run user code (BLOCKED, NONE, queued);
 *  - the owner worker itself, when it hands the CPU to another worker
 *    (owner = target, next_tid = target | UMCG_TID_RUNNING) or parks
 *    (owner = NULL, next_tid = 0, then umcg_kick(server)).
 * A worker leaving the CPU first moves its own state RUNNING ->
 * RUNNABLE|COND_WAIT (leave_begin() in worker.c): from then on a preemption kick
 * cannot take it off the CPU half-way through that bookkeeping.
 */
#ifndef UMCG_TOOLKIT_TK_H
#define UMCG_TOOLKIT_TK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <umcg.h>
#include <umcg_sched.h>
#include "sys.h"

#define TK_HIDDEN __attribute__((visibility("hidden")))
#define TK_CLOCK CLOCK_MONOTONIC

/* Why a worker left the CPU by itself (worker->leave), read by its server
 * when the worker shows up on the runnable list. */
enum tk_leave {
	TK_LEAVE_NONE = 0,
	TK_LEAVE_YIELD,		/* yield, or handed the CPU to another worker */
	TK_LEAVE_SLEEP,		/* umcg_worker_sleep(): parked with a deadline */
	TK_LEAVE_PARK,		/* mutex or condvar: parked until named */
};

/* The toolkit's view of a worker, for dumps (worker->tk_state). */
enum tk_wstate {
	TK_W_NEW = 0,		/* spawned, not registered yet */
	TK_W_QUEUED,		/* in a policy queue */
	TK_W_RUNNING,		/* a server made it run */
	TK_W_BLOCKED,		/* blocked in the kernel (as its server saw it) */
	TK_W_PARKED,		/* mutex, condvar or sleep */
	TK_W_EXITED,		/* returned; reaped by its server */
};

struct umcg_server;
struct tk_free_slot;
struct tk_slab;

/* Worker stacks of one scheduler (toolkit/stacks.c). */
struct tk_stacks {
	pthread_mutex_t lock;
	size_t slot;			/* guard page + stack, bytes */
	size_t next_slab_slots;
	struct tk_slab *slabs;
	struct tk_free_slot *free;
};

struct umcg_worker {
	struct umcg_task task;		/* first: 64-byte aligned */
	struct umcg_sched *sched;
	struct umcg_server *_Atomic server;	/* where it runs / is queued */
	pid_t _Atomic tid;
	int id;
	int _Atomic prio;
	int _Atomic tk_state;		/* enum tk_wstate, for dumps */
	uint64_t _Atomic since_ns;	/* when tk_state last changed */
	int _Atomic leave;		/* enum tk_leave */
	int _Atomic preempt_req;	/* its server asked for a preemption */
	bool started;			/* server side: seen on a list once */
	uint64_t _Atomic run_start;	/* when it was last made to run */
	int cpu;			/* CPU it is pinned to, -1 if none */
	/* Handoffs (worker.c, switch_to()): who handed us its CPU and is
	 * parked until a server queues it, and the link of s->handoffs. */
	struct umcg_worker *_Atomic handed_by;
	struct umcg_worker *h_next;
	/* Policy queue links and the policy's word. */
	struct umcg_worker *q_next, *q_prev;
	uint64_t policy_word;
	/* Mutex and condvar wait queues. */
	struct umcg_worker *wq_next;
	struct umcg_mutex *wait_mutex;	/* condvar: the mutex to take back */
	bool _Atomic got_mutex;		/* handed the mutex while parked */
	/* Priority inheritance (toolkit/pi.c). */
	struct umcg_policy_lock pi_lock;	/* guards blocked_on, pwait* */
	struct umcg_mutex *blocked_on;	/* the umcg_mutex it waits for */
	pthread_mutex_t *pwait;		/* the pthread mutex it waits for */
	struct umcg_worker *pwait_owner;	/* ... and its owner, a worker */
	uint64_t _Atomic pi_umcg;	/* generation << 32 | lent priority */
	int _Atomic pi_pthread;		/* lent through a pthread mutex */
	pthread_mutex_t *_Atomic ppi_mutex;	/* ... that one */
	struct umcg_worker *_Atomic ppi_waiter;	/* ... by that waiter */
	struct umcg_mutex *held[8];	/* umcg mutexes it holds (own thread) */
	int _Atomic nheld;		/* how many (more than 8: not listed) */
	int _Atomic yield_at_unlock;	/* a deferred preemption waits */
	int _Atomic pi_recompute;	/* a handover is under way */
	struct umcg_worker *pi_next;	/* on a server's pi_pending */
	bool _Atomic pi_queued;
	/* The thread. */
	void *(*fn)(void *);
	void *arg;
	void *ret;
	int start_err;
	pthread_t thread;
	size_t stack_size;
	void *stack;			/* from sched->stacks */
	size_t stack_len;
	bool joined;
	bool _Atomic reaped;		/* its server saw it exit */
	struct umcg_worker *_Atomic all_next;	/* every worker, for dumps */
} __attribute__((aligned(64)));

struct umcg_server {
	struct umcg_task task;		/* first: 64-byte aligned */
	struct umcg_sched *sched;
	int id, cpu;
	pid_t _Atomic tid;
	pthread_t thread;
	struct umcg_worker *_Atomic owner;	/* see the top of this file */
	int _Atomic idle;		/* 0 busy, 1 asleep idle, 2 kicked */
	void *policy_slot;
	uint64_t slice_end;		/* absolute ns; 0: none */
	struct umcg_worker *slice_owner;	/* whose slice slice_end is */
	bool grace_used;		/* this slice was extended for a lock */
	/* Owners whose effective priority rose, for policy->boosted. */
	struct umcg_worker *_Atomic pi_pending;
	uint64_t mark_ns;		/* last time accounting point */
	int start_err;
	/* Counters, relaxed: read by anyone at any time. */
	struct {
		uint64_t _Atomic switches, blocks, wakes, preemptions, steals,
			kicks, idle_ns, busy_ns;
	} st;
} __attribute__((aligned(64)));

struct umcg_sched {
	int nr;
	struct umcg_server *srv;	/* array of nr */
	const struct umcg_policy_ops *ops;
	void *policy_data;
	int pin;
	int pin_workers;
	int server_rt;
	int priority_inherit;
	int64_t host_slice_ns;
	size_t stack_size;
	bool _Atomic stopping;
	bool _Atomic servers_exit;	/* every worker is gone: servers leave */
	int _Atomic next_srv;		/* round-robin for new workers */
	int _Atomic next_id;
	int _Atomic live;		/* spawned and not reaped */
	struct umcg_worker *_Atomic all;	/* newest first */
	/* Workers that handed their CPU to another one and wait, parked, for
	 * any server to queue them (LIFO, pushed by the worker they ran). */
	struct umcg_worker *_Atomic handoffs;
	cpu_set_t release_cpus;		/* a released worker's affinity */
	bool release_any;		/* release_cpus has more than one CPU */
	struct tk_stacks stacks;
	pthread_mutex_t lock;		/* reaping notifications (non-workers) */
	pthread_cond_t reaped_cv;
	int _Atomic slot;		/* index in the dump registry, -1 none */
};

/* The calling thread's worker (NULL outside toolkit workers). */
extern __thread struct umcg_worker *tk_self TK_HIDDEN;

static inline uint64_t tk_now(void)
{
	return umcg_clock_ns(TK_CLOCK);
}

static inline void tk_set_wstate(struct umcg_worker *w, enum tk_wstate st)
{
	atomic_store_explicit(&w->since_ns, tk_now(), memory_order_relaxed);
	atomic_store_explicit(&w->tk_state, st, memory_order_release);
}

static inline void tk_stat_add(uint64_t _Atomic *c, uint64_t v)
{
	/* Mostly the server, sometimes a worker handing off: fetch_add. */
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

/* toolkit/sched.c */
void tk_pin_worker(struct umcg_worker *w, int cpu) TK_HIDDEN;
bool tk_idle_server_kicked(struct umcg_sched *s, struct umcg_server *self) TK_HIDDEN;
void tk_host_sched(struct umcg_sched *s, bool server) TK_HIDDEN;

/* toolkit/pi.c: priority inheritance, lock-holder preemption deferral */
void tk_pi_worker_init(struct umcg_worker *w) TK_HIDDEN;
void tk_pi_wait_begin(struct umcg_worker *self, struct umcg_mutex *m) TK_HIDDEN;
void tk_pi_wait_queued(struct umcg_worker *self, struct umcg_mutex *m) TK_HIDDEN;
void tk_pi_wait_end(struct umcg_worker *self) TK_HIDDEN;
void tk_pi_acquired(struct umcg_worker *self, struct umcg_mutex *m) TK_HIDDEN;
void tk_pi_passed(struct umcg_mutex *m, struct umcg_worker *to) TK_HIDDEN;
void tk_pi_morphed(struct umcg_worker *owner, struct umcg_worker *w) TK_HIDDEN;
void tk_pi_released(struct umcg_worker *self, struct umcg_mutex *m, bool handed) TK_HIDDEN;
int tk_pi_process(struct umcg_server *srv) TK_HIDDEN;
void tk_pi_settle(struct umcg_worker *w) TK_HIDDEN;
void tk_pi_collected(struct umcg_worker *w) TK_HIDDEN;
bool tk_pi_defer(struct umcg_server *srv, struct umcg_worker *cur, uint64_t now) TK_HIDDEN;
/* src/hooks/mutex.c calls these around a worker's contended pthread lock. */
void tk_pi_pthread_wait_begin(pthread_mutex_t *m) TK_HIDDEN;
void tk_pi_pthread_wait_end(pthread_mutex_t *m) TK_HIDDEN;
/* Live schedulers with priority_inherit: plain threads' locks are watched. */
extern int _Atomic tk_pi_scheds TK_HIDDEN;
/* toolkit/stacks.c */
void tk_stacks_init(struct tk_stacks *st, size_t stack_size) TK_HIDDEN;
int tk_stack_get(struct tk_stacks *st, size_t size, void **stack, size_t *len) TK_HIDDEN;
void tk_stack_put(struct tk_stacks *st, void *stack, size_t len) TK_HIDDEN;
void tk_stacks_destroy(struct tk_stacks *st) TK_HIDDEN;

/* toolkit/stats.c */
int tk_dump_register(struct umcg_sched *s) TK_HIDDEN;
void tk_dump_unregister(struct umcg_sched *s) TK_HIDDEN;
/* Every live scheduler, for a thread that is no worker (toolkit/pi.c):
 * between begin and end a scheduler found is not freed. */
#define TK_MAX_SCHEDS 16
void tk_registry_begin(void) TK_HIDDEN;
void tk_registry_end(void) TK_HIDDEN;
struct umcg_sched *tk_registry_get(int i) TK_HIDDEN;

#endif /* UMCG_TOOLKIT_TK_H */
