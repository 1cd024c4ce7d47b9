/* SPDX-License-Identifier: MIT */
/*
 * Test helpers of the UMCG conformance suite (t_*).
 *
 * The suite talks only to the ABI: umcg_ctl(), umcg_wait(), umcg_kick(), the
 * inline helpers of <umcg.h> over struct umcg_task, and plain libc calls
 * (sleep, read, ...) that the backend's block detection sees.  So the same
 * binaries run on libumcg's emul backend and on the kernel backend.
 *
 * What is here:
 *  - exit codes, failure macros that print file:line, case and mismatch;
 *  - a watchdog: alarm()-based, prints the test and case that hung, exit 1;
 *  - task memory that outlives its thread: every struct umcg_task is the
 *    first member of a heap t_worker / t_server, freed only by t_server_fini();
 *  - worker threads (t_worker_spawn): register, run a function, unregister;
 *  - worker-side moves (t_yield, t_park, t_switch_to) that set the state the
 *    way docs/semantics.md asks (RUNNABLE | COND_WAIT, user bits kept);
 *  - a minimal server loop (t_server_run): take the runnable list, run one
 *    worker through next_tid, observe blocks / yields / exits, optionally
 *    preempt after a time slice (TF_PREEMPT + umcg_kick), log what it saw,
 *    and check at every observation that at most one worker runs;
 *  - an event log (t_log) that any thread may append to, lock-free.
 *
 *  - each case runs on a fresh thread (T_RUN), so a case that fails half
 *    way cannot leave the next one registered.
 *
 * Limits and races: a worker belongs to the server it was spawned on
 * (migrate.c moves one by hand).  With follow_switches the loop follows
 * direct worker->worker switches through next_tid but skips its
 * one-RUNNING scan, which is not a snapshot and would see both sides of a
 * switch.  A parked worker is queued nowhere: the loop learns of it only
 * when woken (t_park() names the server; t_park_quiet() needs a slice).
 */
#ifndef T_HELPERS_H
#define T_HELPERS_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <umcg.h>

/* T_TSAN: built with ThreadSanitizer (gcc or clang). */
#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif

#define T_EXIT_PASS	0
#define T_EXIT_FAIL	1
#define T_EXIT_SKIP	77

#define T_MAX_WORKERS	256
#define T_FOREVER	UINT64_MAX
#define T_MS		1000000ULL
#define T_SEC		1000000000ULL

/* ---- reporting ---------------------------------------------------------- */

extern const char *t_prog;
extern const char *_Atomic t_case;

void t_report(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define T_FAIL(...) do {						\
	t_report(__FILE__, __LINE__, __VA_ARGS__);			\
	return T_EXIT_FAIL;						\
} while (0)

/* Check @cond; on failure print the mismatch and return 1 from the caller. */
#define T_CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		t_report(__FILE__, __LINE__, "check '%s' failed", #cond); \
		T_FAIL(__VA_ARGS__);					\
	}								\
} while (0)

/* @call must return -1 with errno @err. */
#define T_CHECK_ERR(call, err) do {					\
	errno = 0;							\
	int t_r_ = (call);						\
	int t_e_ = errno;						\
	if (t_r_ != -1 || t_e_ != (err))				\
		T_FAIL("%s: got %d errno %d (%s), want -1 errno %d (%s)", \
		       #call, t_r_, t_e_, strerror(t_e_), (err),	\
		       strerror(err));					\
} while (0)

/* @call must return 0. */
#define T_CHECK_OK(call) do {						\
	errno = 0;							\
	int t_r_ = (call);						\
	int t_e_ = errno;						\
	if (t_r_ != 0)							\
		T_FAIL("%s: got %d errno %d (%s), want 0", #call, t_r_,	\
		       t_e_, strerror(t_e_));				\
} while (0)

/*
 * Run one static int test_<case>(void) on a fresh thread (so a case that
 * fails half-way cannot leave the next one registered); count failures.
 */
#define T_RUN(fn, nfail) do {						\
	if (t_run_case(#fn, fn) != 0) {					\
		fprintf(stderr, "FAIL %s: %s\n", t_prog, #fn);		\
		(nfail)++;						\
	}								\
} while (0)

int t_run_case(const char *name, int (*fn)(void));

/*
 * Start a test program: name it, arm the watchdog (@watchdog_s seconds for
 * the whole program), make stderr unbuffered, and skip (exit 77, reason
 * printed) when no UMCG backend answers.
 */
void t_init(const char *prog, unsigned int watchdog_s);
void t_case_begin(const char *name);
/*
 * A case that cannot run here: print "SKIP <prog>: <case>: <reason>" and
 * have t_finish() exit 77 (SKIP) unless some case failed.
 */
void t_skip(const char *case_name, const char *reason);
/* Print "CASES <n>" (the T_RUN cases run) and return the exit status. */
int t_finish(int nfail);

/* ---- time, tids, raw task words ----------------------------------------- */

pid_t t_gettid(void);
uint64_t t_now(clockid_t clock);
/* An absolute timeout @ns from now on @clock. */
uint64_t t_after(clockid_t clock, uint64_t ns);
/* Sleep without UMCG: only for threads that are not workers. */
void t_msleep(unsigned int ms);

static inline uint32_t t_state(struct umcg_task *t)
{
	return umcg_task_state(t) & UMCG_TASK_MASK;
}

/* Relaxed accessors for the words other threads write (TSan-clean). */
static inline uint32_t t_load32(uint32_t *p)
{
	return atomic_load((_Atomic uint32_t *)p);
}

static inline void t_store32(uint32_t *p, uint32_t v)
{
	atomic_store((_Atomic uint32_t *)p, v);
}

static inline uint64_t t_load64(void *p)
{
	return atomic_load((_Atomic uint64_t *)p);
}

/* A zeroed, 64-byte aligned struct umcg_task on the heap (free()). */
struct umcg_task *t_task_alloc(void);

/* Name of a state word, for messages ("RUNNABLE|COND_WAIT|0x10000"). */
const char *t_state_str(uint32_t state, char buf[64]);

/*
 * Move the caller's own state from RUNNING (any flags) to
 * RUNNABLE | UMCG_TF_COND_WAIT, keeping the user bits.  -EINVAL when the
 * state was not RUNNING.
 */
int t_set_cond_wait(struct umcg_task *self);

/* ---- the event log ------------------------------------------------------- */

enum t_ev {
	T_EV_NONE = 0,
	T_EV_QUEUED,	/* the server took the worker off its runnable list */
	T_EV_RUN,	/* the server named the worker in next_tid */
	T_EV_BLOCKED,	/* the server saw its current worker BLOCKED */
	T_EV_RUNNABLE,	/* ... RUNNABLE (yielded, preempted or parked) */
	T_EV_EXIT,	/* ... NONE (unregistered or exited) */
	T_EV_PREEMPT,	/* the server set TF_PREEMPT and kicked it */
	T_EV_USER,	/* logged by test code */
};

struct t_event {
	int kind;
	int who;	/* worker index, or -1 */
	long arg;
};

struct t_log {
	atomic_int n;
	int cap;
	struct t_event *ev;
};

void t_log_init(struct t_log *log, int cap);
void t_log_free(struct t_log *log);
void t_log_add(struct t_log *log, int kind, int who, long arg);
int t_log_len(struct t_log *log);
/* Index of the first event (kind, who) at or after @from, or -1. */
int t_log_find(struct t_log *log, int from, int kind, int who);
int t_log_count(struct t_log *log, int kind, int who);
void t_log_dump(struct t_log *log, const char *title);
const char *t_ev_name(int kind);

/* ---- workers and servers ------------------------------------------------- */

struct t_server;
struct t_worker;

typedef int (*t_worker_fn)(struct t_worker *w);

/*
 * One worker.  @task comes first: 64-byte aligned and owned by this heap
 * object, so it outlives the thread and the server can read its final NONE.
 */
struct t_worker {
	struct umcg_task task;
	struct t_server *srv;
	int idx;
	atomic_int tid;
	pthread_t thread;
	int started;
	t_worker_fn fn;
	void *arg;
	int no_unregister;	/* return without UMCG_CTL_UNREGISTER */
	atomic_int reg_errno;	/* errno of a failed registration */
	atomic_int result;	/* fn's return value */
	atomic_int done;	/* fn returned */
	atomic_int running_on;	/* server id + 1 while a server runs it */
	atomic_long park_eagains;	/* t_park()'s retries */
	/* The server loop's private view. */
	int queued;
	int exited;
	/* Free for the test. */
	atomic_long data[8];
};

typedef void (*t_server_hook)(struct t_server *s, int ev, struct t_worker *w);

struct t_server {
	struct umcg_task task;
	pid_t tid;
	int id;
	clockid_t clock;
	struct t_worker *w[T_MAX_WORKERS];
	atomic_int nw;
	int nexited;
	int rq[T_MAX_WORKERS];	/* FIFO of worker indices */
	int rq_head, rq_len;
	uint64_t slice_ns;	/* > 0: preempt the current worker after it */
	uint64_t idle_ns;	/* fail when not woken for this long */
	int follow_switches;	/* workers switch directly: skip the
				   one-RUNNING scan and running_on checks */
	t_server_hook hook;	/* called for every logged server event */
	struct t_log log;
	uint64_t slice_start;
	long observations;
	atomic_long violations;	/* also counted by t_worker_check() */
	long preempts;
	long eagains;		/* EAGAINs retried (see T_STRAY_WAKES) */
	int stray;		/* ... in a row, naming an unstarted worker */
	char why[256];		/* the first violation */
};

/*
 * Register the calling thread as a server on @clock (0 on success, else
 * -errno).  @id tells servers apart in logs.
 */
int t_server_init(struct t_server *s, int id, clockid_t clock);

/* Join every worker; the number whose function failed (each printed). */
int t_workers_failed(struct t_server *s);

/* Unregister (if still registered), join every worker, free them. */
void t_server_fini(struct t_server *s);

/*
 * Spawn a worker thread of @s that registers, runs @fn and unregisters
 * (unless @no_unregister).  The server must run its loop for the
 * registration to return.  NULL when the thread cannot be created.
 */
struct t_worker *t_worker_spawn(struct t_server *s, t_worker_fn fn, void *arg);
struct t_worker *t_worker_spawn_opt(struct t_server *s, t_worker_fn fn,
				    void *arg, int no_unregister);

/*
 * In two steps: t_worker_new() allocates and fills the task (BLOCKED,
 * server_tid) so a test can change it; t_worker_start() creates the thread.
 */
struct t_worker *t_worker_new(struct t_server *s, t_worker_fn fn, void *arg);
int t_worker_start(struct t_worker *w);

/* Join every spawned worker thread (they must have finished). */
void t_server_join(struct t_server *s);

/* The worker the calling thread is, or NULL. */
struct t_worker *t_self(void);
struct t_worker *t_find(struct t_server *s, pid_t tid);

/*
 * Run until every spawned worker has exited (or the server saw a
 * violation).  Returns 0, or 1 with the reason printed.
 */
int t_server_run(struct t_server *s);

/*
 * One step by hand: name @next_tid (0 for none), set RUNNABLE|COND_WAIT,
 * wait.  Returns 0 or -errno.  Does not re-check the runnable list.
 */
int t_server_wait(struct t_server *s, uint32_t next_tid, uint64_t abs_timeout);

/*
 * EAGAIN from a server's umcg_wait() that names its own RUNNABLE worker,
 * taken off its list, is legal only at step 4: a wake-up landed between
 * RUNNABLE|COND_WAIT and the call.  Every wake-up needs an event (a push
 * on the list, a block, an exit, a park or kick naming the server), and an
 * event wakes at most once.  So more than T_STRAY_WAKES EAGAINs in a row
 * with an empty list are no race: step 5 refused a worker it must run.
 * The helpers below count every EAGAIN they retry (t_server.eagains) and
 * fail past this bound; with a non-empty list, each queued worker (at most
 * one push each before it is run) adds one.
 */
#define T_STRAY_WAKES	4

/*
 * By hand: sleep until the runnable list is non-empty (the protocol: set
 * RUNNABLE|COND_WAIT, re-check the list, wait; EAGAIN means woken before
 * the wait, bounded as above).  Returns the list taken with one exchange.
 * NULL on timeout (errno ETIMEDOUT), or on any other failure (printed,
 * errno set): check errno, or use t_server_stays_idle().
 */
struct umcg_task *t_server_wait_list(struct t_server *s, uint64_t abs_timeout);

/*
 * By hand: nothing is queued on @s for @ns (its wait times out with an
 * empty list).  1 if so; 0 with the reason printed if a worker was queued
 * or the wait failed otherwise.
 */
int t_server_stays_idle(struct t_server *s, uint64_t ns);

/*
 * By hand: run worker @w (it must be RUNNABLE and off every list) until it
 * stops being RUNNING (blocked, yielded, parked or exited); its state word
 * then goes to *@state.  Returns 0, or -errno of a wait that failed
 * (-ETIMEDOUT after the server's idle_ns; -EAGAIN, printed, past the
 * bound above).
 */
int t_server_run_one(struct t_server *s, struct t_worker *w, uint32_t *state);

/*
 * The setup most cases start with: register the calling thread as server
 * @s (CLOCK_MONOTONIC), spawn one worker running @fn, and wait until it is
 * queued (taken off the list).  The worker, or NULL with the reason
 * printed.
 */
struct t_worker *t_setup_queued(struct t_server *s, t_worker_fn fn, void *arg);

/*
 * Wait until @w is queued on @s (alone: the list taken must be exactly
 * @w).  1 if so, 0 with the reason printed.
 */
int t_queued(struct t_server *s, struct t_worker *w);

/*
 * Wait (up to 20 s, polling) until @w heads @s's runnable list, without
 * taking the list: for a case that acts on a worker while it is queued.
 * 1 if so, 0 with the reason printed.
 */
int t_listed(struct t_server *s, struct t_worker *w);

/*
 * Run @w once with t_server_run_one(); 1 if that returned 0 and @w then
 * was in state @want (user bits and flags included: exact), 0 with the
 * reason printed.
 */
int t_run_expect(struct t_server *s, struct t_worker *w, uint32_t want);

/* Worker side.  Each returns 0 or -errno of umcg_wait(). */
int t_yield(void);
/*
 * Timed sleep / park (@abs_timeout non-zero): t_park() names our server in
 * next_tid so it is woken and sees us RUNNABLE on no list (retrying while
 * it is not in its wait: EAGAIN); t_park_quiet() names nobody, so nothing
 * wakes the server (a server loop with a time slice finds out at the end
 * of the slice).
 *
 * Use t_park() only while the server surely sleeps: a wait that fails at
 * step 5 (EAGAIN: the server was awake) was RUNNABLE after step 4, and an
 * awake server that saw that may already run another worker when this one
 * is RUNNING again.  t_park_quiet() cannot fail after step 4.
 */
int t_park(uint64_t abs_timeout);
int t_park_quiet(uint64_t abs_timeout);
/*
 * Direct switch to @to: tell the server (its next_tid = @to | RUNNING),
 * name @to in our next_tid, and wait with @abs_timeout (0: we are queued
 * on our server; T_FOREVER: we park until someone names us).
 */
int t_switch_to(struct t_worker *to, uint64_t abs_timeout);

/*
 * Invariant from the worker's side: the caller's state is RUNNING and no
 * other worker of its server is RUNNING.  0 or 1 (reason stored in the
 * server's why[] and counted in its violations).
 */
int t_worker_check(void);

/* Count the workers of @s whose state is RUNNING. */
int t_count_running(struct t_server *s, struct t_worker **which);

/* Fork helper: run @fn in a child, return its exit status (or -1). */
int t_fork_run(int (*fn)(void *), void *arg);

/* Record a violation of @s (the first reason is kept in why[]). */
void t_violation(struct t_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A child process whose main thread is a registered server (for "a task
 * of another process"): its pid, or -1.  t_foreign_server_end() lets it
 * exit and returns its exit status (0: fine).
 */
pid_t t_foreign_server(int *done_fd);
int t_foreign_server_end(pid_t pid, int done_fd);

/* Spin for about @iters without any system call. */
void t_spin(unsigned long iters);

#endif /* T_HELPERS_H */
