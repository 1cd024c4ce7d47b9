/* SPDX-License-Identifier: MIT */
/*
 * Test helpers of the UMCG conformance suite: reporting, watchdog, event
 * log, worker threads and a minimal server loop.  See t_helpers.h.
 *
 * The server loop (t_server_run), one iteration:
 *  1. take the runnable list with one exchange, reverse it to FIFO, queue
 *     each worker locally (each must be RUNNABLE and queued only once);
 *  2. observe the current worker (next_tid with UMCG_TID_RUNNING): still
 *     RUNNING, or BLOCKED / RUNNABLE / NONE: log it and clear next_tid;
 *  3. check the invariant: at most one worker of this server is RUNNING,
 *     and only the one next_tid names;
 *  4. if nothing runs, name the next queued worker in next_tid;
 *  5. set RUNNABLE | COND_WAIT, re-check the list (non-empty: back to
 *     RUNNING, loop), umcg_wait() until woken or the slice / idle timeout;
 *     EAGAIN means a wake-up came first.  On a slice timeout, set
 *     UMCG_TF_PREEMPT on the running worker and umcg_kick() it.
 * After every umcg_wait() the server's state must be RUNNING, flags clear.
 *
 * Races: a worker's state can change right after the loop read it; every
 * decision is re-validated by the next umcg_wait() (EAGAIN) or by the next
 * iteration, never by time.
 */
#include "t_helpers.h"
#include <umcg_sched.h>

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

const char *t_prog = "test";
const char *_Atomic t_case = "(setup)";
static __thread struct t_worker *t_me;
static unsigned int t_watchdog_s;

/* ---- reporting and watchdog --------------------------------------------- */

void t_report(const char *file, int line, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s:%d: %s: %s: %s\n", file, line, t_prog,
		atomic_load(&t_case), buf);
}

/* Raw write: the handler may run in a worker, where write() is hooked. */
static void t_raw_puts(const char *s)
{
	long r = syscall(SYS_write, 2, s, strlen(s));

	(void)r;
}

static void t_watchdog_fire(int sig)
{
	char num[16];
	unsigned int v = t_watchdog_s;
	int i = sizeof(num) - 1;

	(void)sig;
	num[i] = '\0';
	do {
		num[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i > 0);
	t_raw_puts("TIMEOUT: ");
	t_raw_puts(t_prog);
	t_raw_puts(": case ");
	t_raw_puts(atomic_load(&t_case));
	t_raw_puts(" hung; watchdog fired after ");
	t_raw_puts(&num[i]);
	t_raw_puts(" s\n");
	/* What every toolkit scheduler's servers and workers were doing. */
	umcg_sched_dump_all(2);
	_exit(T_EXIT_FAIL);
}

void t_init(const char *prog, unsigned int watchdog_s)
{
	struct sigaction sa;
	struct umcg_task *t;
	const char *slash = strrchr(prog, '/');

	t_prog = slash ? slash + 1 : prog;
	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = t_watchdog_fire;
	sigaction(SIGALRM, &sa, NULL);
	t_watchdog_s = watchdog_s;
	alarm(watchdog_s);

	/* Probe: can this thread register a server at all? */
	t = t_task_alloc();
	umcg_task_init_server(t);
	if (umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC) != 0) {
		int e = errno;

		if (e == ENOSYS) {
			printf("SKIP: %s: no UMCG backend (umcg_ctl: ENOSYS)\n",
			       t_prog);
			exit(T_EXIT_SKIP);
		}
		fprintf(stderr, "%s: cannot register a server: %s\n", t_prog,
			strerror(e));
		exit(T_EXIT_FAIL);
	}
	if (umcg_ctl(UMCG_CTL_UNREGISTER, t, 0) != 0) {
		fprintf(stderr, "%s: cannot unregister the probe server: %s\n",
			t_prog, strerror(errno));
		exit(T_EXIT_FAIL);
	}
	free(t);
}

void t_case_begin(const char *name)
{
	atomic_store(&t_case, name);
	printf("== %s\n", name);
}

struct t_case_arg {
	int (*fn)(void);
	int result;
};

static void *t_case_main(void *arg)
{
	struct t_case_arg *c = arg;

	c->result = c->fn();
	return NULL;
}

/* Counted for the runner's "N cases" line and its tests/min_cases guard. */
static atomic_int t_cases_run;
static atomic_int t_cases_skipped;

void t_skip(const char *case_name, const char *reason)
{
	printf("SKIP %s: %s: %s\n", t_prog, case_name, reason);
	fflush(stdout);
	atomic_fetch_add(&t_cases_skipped, 1);
}

int t_run_case(const char *name, int (*fn)(void))
{
	struct t_case_arg c = { fn, T_EXIT_FAIL };
	pthread_t th;

	atomic_fetch_add(&t_cases_run, 1);
	t_case_begin(name);
	if (pthread_create(&th, NULL, t_case_main, &c) != 0) {
		fprintf(stderr, "%s: %s: pthread_create failed\n", t_prog, name);
		return T_EXIT_FAIL;
	}
	pthread_join(th, NULL);
	return c.result;
}

int t_finish(int nfail)
{
	alarm(0);
	atomic_store(&t_case, "(done)");
	printf("CASES %d\n", atomic_load(&t_cases_run));
	fflush(stdout);
	if (nfail)
		fprintf(stderr, "%s: %d case(s) failed\n", t_prog, nfail);
	if (nfail)
		return T_EXIT_FAIL;
	return atomic_load(&t_cases_skipped) ? T_EXIT_SKIP : T_EXIT_PASS;
}

/* ---- time, tids, task words --------------------------------------------- */

pid_t t_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

uint64_t t_now(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * T_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t t_after(clockid_t clock, uint64_t ns)
{
	return t_now(clock) + ns;
}

void t_msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

struct umcg_task *t_task_alloc(void)
{
	struct umcg_task *t = aligned_alloc(64, sizeof(*t));

	if (!t)
		abort();
	memset(t, 0, sizeof(*t));
	return t;
}

const char *t_state_str(uint32_t state, char buf[64])
{
	static const char *const names[] = { "NONE", "RUNNING", "RUNNABLE",
					     "BLOCKED" };
	uint32_t st = state & UMCG_TASK_MASK;
	int n;

	if (st < 4)
		n = snprintf(buf, 64, "%s", names[st]);
	else
		n = snprintf(buf, 64, "state%u", st);
	if (state & UMCG_TF_PREEMPT)
		n += snprintf(buf + n, 64 - n, "|PREEMPT");
	if (state & UMCG_TF_COND_WAIT)
		n += snprintf(buf + n, 64 - n, "|COND_WAIT");
	if (state & ~(UMCG_TASK_MASK | UMCG_TF_PREEMPT | UMCG_TF_COND_WAIT))
		snprintf(buf + n, 64 - n, "|0x%x",
			 state & ~(UMCG_TASK_MASK | UMCG_TF_PREEMPT |
				   UMCG_TF_COND_WAIT));
	return buf;
}

int t_set_cond_wait(struct umcg_task *self)
{
	for (;;) {
		uint32_t s = umcg_task_state(self);
		uint32_t n = (s & ~(UMCG_TASK_MASK | UMCG_TF_MASK)) |
			     UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT;

		if ((s & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)
			return -EINVAL;
		/* RUNNING -> RUNNABLE|COND_WAIT; a racing TF_PREEMPT retries. */
		if (umcg_task_cas_state(self, s, n))
			return 0;
	}
}

/* ---- event log ------------------------------------------------------------ */

void t_log_init(struct t_log *log, int cap)
{
	atomic_store(&log->n, 0);
	log->cap = cap;
	log->ev = calloc((size_t)cap, sizeof(*log->ev));
	if (!log->ev)
		abort();
}

void t_log_free(struct t_log *log)
{
	free(log->ev);
	log->ev = NULL;
}

void t_log_add(struct t_log *log, int kind, int who, long arg)
{
	int i = atomic_fetch_add(&log->n, 1);

	if (i < log->cap)
		log->ev[i] = (struct t_event){ kind, who, arg };
}

int t_log_len(struct t_log *log)
{
	int n = atomic_load(&log->n);

	return n < log->cap ? n : log->cap;
}

int t_log_find(struct t_log *log, int from, int kind, int who)
{
	int n = t_log_len(log);

	for (int i = from < 0 ? 0 : from; i < n; i++)
		if (log->ev[i].kind == kind && log->ev[i].who == who)
			return i;
	return -1;
}

int t_log_count(struct t_log *log, int kind, int who)
{
	int n = t_log_len(log), c = 0;

	for (int i = 0; i < n; i++)
		c += log->ev[i].kind == kind && log->ev[i].who == who;
	return c;
}

const char *t_ev_name(int kind)
{
	static const char *const names[] = { "none", "QUEUED", "RUN",
		"BLOCKED", "RUNNABLE", "EXIT", "PREEMPT", "USER" };

	return kind >= 0 && kind <= T_EV_USER ? names[kind] : "?";
}

void t_log_dump(struct t_log *log, const char *title)
{
	int n = t_log_len(log), all = atomic_load(&log->n);

	fprintf(stderr, "-- event log %s (%d events%s)\n", title, all,
		all > n ? ", log overflowed: later ones lost" : "");
	for (int i = 0; i < n; i++) {
		if (i == 60 && n > 120) {
			fprintf(stderr, "  ... %d more ...\n", n - 120);
			i = n - 60;
		}
		fprintf(stderr, "  %3d %-8s w%d %ld\n", i,
			t_ev_name(log->ev[i].kind), log->ev[i].who,
			log->ev[i].arg);
	}
}

/* ---- workers --------------------------------------------------------------- */

void t_violation(struct t_server *s, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&s->violations, 1) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

struct t_worker *t_self(void)
{
	return t_me;
}

static void *t_worker_main(void *arg)
{
	struct t_worker *w = arg;
	int r;

	t_me = w;
	atomic_store(&w->tid, t_gettid());
	if (umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, &w->task,
		     w->srv->clock) != 0) {
		atomic_store(&w->reg_errno, errno ? errno : -1);
		atomic_store(&w->result, 1);
		atomic_store(&w->done, 1);
		return NULL;
	}
	r = w->fn ? w->fn(w) : 0;
	atomic_store(&w->result, r);
	/* Before unregistering: the server that sees NONE also sees done. */
	atomic_store(&w->done, 1);
	if (!w->no_unregister &&
	    umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, &w->task, 0) != 0) {
		fprintf(stderr, "%s: worker %d: unregister: %s\n", t_prog,
			w->idx, strerror(errno));
		atomic_store(&w->result, 1);
	}
	return NULL;
}

struct t_worker *t_worker_new(struct t_server *s, t_worker_fn fn, void *arg)
{
	int n = atomic_load(&s->nw);
	struct t_worker *w;

	if (n >= T_MAX_WORKERS)
		return NULL;
	w = aligned_alloc(64, sizeof(*w));
	if (!w)
		return NULL;
	memset(w, 0, sizeof(*w));
	umcg_task_init_worker(&w->task, s->tid);
	w->srv = s;
	w->idx = n;
	w->fn = fn;
	w->arg = arg;
	s->w[n] = w;
	/* Publish w[n] before the count: readers index below nw only. */
	atomic_store(&s->nw, n + 1);
	return w;
}

int t_worker_start(struct t_worker *w)
{
	pthread_attr_t attr;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	r = pthread_create(&w->thread, &attr, t_worker_main, w);
	pthread_attr_destroy(&attr);
	w->started = r == 0;
	return r;
}

struct t_worker *t_worker_spawn_opt(struct t_server *s, t_worker_fn fn,
				    void *arg, int no_unregister)
{
	struct t_worker *w = t_worker_new(s, fn, arg);

	if (!w)
		return NULL;
	w->no_unregister = no_unregister;
	if (t_worker_start(w) != 0) {
		fprintf(stderr, "%s: pthread_create failed\n", t_prog);
		exit(T_EXIT_FAIL);
	}
	return w;
}

struct t_worker *t_worker_spawn(struct t_server *s, t_worker_fn fn, void *arg)
{
	return t_worker_spawn_opt(s, fn, arg, 0);
}

struct t_worker *t_find(struct t_server *s, pid_t tid)
{
	int n = atomic_load(&s->nw);

	for (int i = 0; i < n; i++)
		if (atomic_load(&s->w[i]->tid) == tid)
			return s->w[i];
	return NULL;
}

static struct t_worker *t_find_task(struct t_server *s, struct umcg_task *t)
{
	int n = atomic_load(&s->nw);

	for (int i = 0; i < n; i++)
		if (&s->w[i]->task == t)
			return s->w[i];
	return NULL;
}

int t_count_running(struct t_server *s, struct t_worker **which)
{
	int n = atomic_load(&s->nw), c = 0;

	for (int i = 0; i < n; i++) {
		if (t_state(&s->w[i]->task) == UMCG_TASK_RUNNING) {
			c++;
			if (which)
				*which = s->w[i];
		}
	}
	return c;
}

int t_worker_check(void)
{
	struct t_worker *w = t_me, *other = NULL;
	struct t_server *s = w->srv;
	uint32_t st = umcg_task_state(&w->task);
	int n = atomic_load(&s->nw);
	char b[64];

	if ((st & UMCG_TASK_MASK) != UMCG_TASK_RUNNING) {
		t_violation(s, "worker %d runs in state %s", w->idx,
			    t_state_str(st, b));
		return 1;
	}
	for (int i = 0; i < n; i++)
		if (s->w[i] != w && t_state(&s->w[i]->task) == UMCG_TASK_RUNNING)
			other = s->w[i];
	if (other) {
		t_violation(s, "worker %d runs while worker %d is RUNNING",
			    w->idx, other->idx);
		return 1;
	}
	return 0;
}

int t_yield(void)
{
	struct t_worker *w = t_me;

	t_store32(&w->task.next_tid, 0);
	if (t_set_cond_wait(&w->task))
		return -EINVAL;
	return umcg_wait(0, 0) ? -errno : 0;
}

int t_park(uint64_t abs_timeout)
{
	struct t_worker *w = t_me;
	uint32_t srv = (uint32_t)w->srv->tid;
	int r;

	uint64_t give_up = 0;

	/*
	 * Name our server so that it is woken and sees us RUNNABLE (a parked
	 * worker is queued nowhere; nothing else would wake it).  EAGAIN:
	 * the server was not in its wait yet (a stray wake-up had it up for a
	 * moment); we are RUNNING again, retry.  Counted, and bounded in time
	 * (a server that stays awake for seconds is a hang, not a race).
	 */
	for (;;) {
		t_store32(&w->task.next_tid, srv);
		if (t_set_cond_wait(&w->task))
			return -EINVAL;
		r = umcg_wait(0, abs_timeout) ? -errno : 0;
		if (r != -EAGAIN)
			return r;
		atomic_fetch_add(&w->park_eagains, 1);
		if (!give_up)
			give_up = t_after(CLOCK_MONOTONIC, 10 * T_SEC);
		else if (t_now(CLOCK_MONOTONIC) > give_up) {
			fprintf(stderr, "%s: worker %d: t_park: EAGAIN %ld times in 10 s: its server never waited\n",
				t_prog, w->idx, atomic_load(&w->park_eagains));
			return r;
		}
		sched_yield();
	}
}

int t_park_quiet(uint64_t abs_timeout)
{
	struct t_worker *w = t_me;

	t_store32(&w->task.next_tid, 0);
	if (t_set_cond_wait(&w->task))
		return -EINVAL;
	return umcg_wait(0, abs_timeout) ? -errno : 0;
}

int t_switch_to(struct t_worker *to, uint64_t abs_timeout)
{
	struct t_worker *w = t_me;
	uint32_t me = (uint32_t)atomic_load(&w->tid) | UMCG_TID_RUNNING;
	uint32_t next = (uint32_t)atomic_load(&to->tid);
	int r;

	if (next == 0)		/* not even started: surely not parked */
		return -EAGAIN;

	/* The server's view first: it must never miss who runs. */
	t_store32(&w->srv->task.next_tid, next | UMCG_TID_RUNNING);
	t_store32(&w->task.next_tid, next);
	if (t_set_cond_wait(&w->task))
		return -EINVAL;
	r = umcg_wait(0, abs_timeout) ? -errno : 0;
	if (r == -EAGAIN || r == -ESRCH)
		t_store32(&w->srv->task.next_tid, me);	/* we still run */
	return r;
}

/* ---- servers --------------------------------------------------------------- */

int t_server_init(struct t_server *s, int id, clockid_t clock)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->clock = clock;
	s->tid = t_gettid();
	s->idle_ns = 30 * T_SEC;
	t_log_init(&s->log, 1 << 20);
	umcg_task_init_server(&s->task);
	return umcg_ctl(UMCG_CTL_REGISTER, &s->task, clock) ? -errno : 0;
}

void t_server_join(struct t_server *s)
{
	int n = atomic_load(&s->nw);

	for (int i = 0; i < n; i++) {
		if (s->w[i] && s->w[i]->started) {
			pthread_join(s->w[i]->thread, NULL);
			s->w[i]->started = 0;
		}
	}
}

int t_workers_failed(struct t_server *s)
{
	int n = atomic_load(&s->nw), bad = 0;

	t_server_join(s);
	for (int i = 0; i < n; i++) {
		int r = atomic_load(&s->w[i]->result);
		int e = atomic_load(&s->w[i]->reg_errno);

		if (r == 0)
			continue;
		bad++;
		if (e)
			fprintf(stderr, "%s: worker %d: registration: %s\n",
				t_prog, i, strerror(e));
		else
			fprintf(stderr, "%s: worker %d returned %d\n", t_prog,
				i, r);
	}
	return bad;
}

void t_server_fini(struct t_server *s)
{
	int n = atomic_load(&s->nw);

	if (t_state(&s->task) != UMCG_TASK_NONE &&
	    umcg_ctl(UMCG_CTL_UNREGISTER, &s->task, 0) != 0)
		fprintf(stderr, "%s: server %d: unregister: %s\n", t_prog,
			s->id, strerror(errno));
	t_server_join(s);
	for (int i = 0; i < n; i++) {
		free(s->w[i]);
		s->w[i] = NULL;
	}
	atomic_store(&s->nw, 0);
	t_log_free(&s->log);
}

int t_server_wait(struct t_server *s, uint32_t next_tid, uint64_t abs_timeout)
{
	t_store32(&s->task.next_tid, next_tid);
	if (t_set_cond_wait(&s->task))
		return -EINVAL;
	return umcg_wait(0, abs_timeout) ? -errno : 0;
}

/* Back from RUNNABLE|COND_WAIT to RUNNING (no-op if a wake-up did it). */
static void t_undo_cond_wait(struct umcg_task *t)
{
	uint32_t s = umcg_task_state(t);

	if ((s & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE)
		umcg_task_cas_state(t, s, (s & ~(UMCG_TASK_MASK | UMCG_TF_MASK)) |
				    UMCG_TASK_RUNNING);
}

/*
 * Count an EAGAIN of @s's wait; 0 while it may be a stray wake-up (see
 * T_STRAY_WAKES), else 1 with the reason printed.  @in_a_row counts the
 * caller's EAGAINs since its last progress.
 */
static int t_eagain_past_bound(struct t_server *s, int *in_a_row,
			       const char *what)
{
	int bound = T_STRAY_WAKES;

	s->eagains++;
	if (t_load64(&s->task.runnable_workers_ptr))
		bound += atomic_load(&s->nw);
	if (++*in_a_row <= bound)
		return 0;
	t_report(__FILE__, __LINE__,
		 "server %d: umcg_wait() failed with EAGAIN %d times in a row %s; a wake-up before the wait explains at most %d",
		 s->id, *in_a_row, what, bound);
	return 1;
}

struct umcg_task *t_server_wait_list(struct t_server *s, uint64_t abs_timeout)
{
	int in_a_row = 0;

	for (;;) {
		struct umcg_task *head = umcg_runnable_take_all(&s->task);
		int e;

		if (head)
			return head;
		t_store32(&s->task.next_tid, 0);
		if (t_set_cond_wait(&s->task)) {
			t_report(__FILE__, __LINE__, "server %d not RUNNING",
				 s->id);
			errno = EINVAL;
			return NULL;
		}
		if (t_load64(&s->task.runnable_workers_ptr)) {
			t_undo_cond_wait(&s->task);
			continue;
		}
		if (umcg_wait(0, abs_timeout) == 0)
			continue;
		e = errno;
		if (e == EAGAIN &&
		    !t_eagain_past_bound(s, &in_a_row, "waiting for its list"))
			continue;
		if (e != ETIMEDOUT && e != EAGAIN)
			t_report(__FILE__, __LINE__,
				 "server %d: waiting for its list: %s", s->id,
				 strerror(e));
		errno = e;
		return NULL;
	}
}

int t_server_stays_idle(struct t_server *s, uint64_t ns)
{
	struct umcg_task *head = t_server_wait_list(s, t_after(s->clock, ns));

	if (head) {
		struct t_worker *w = t_find_task(s, head);

		t_report(__FILE__, __LINE__, "server %d: worker %d was queued",
			 s->id, w ? w->idx : -1);
		return 0;
	}
	if (errno != ETIMEDOUT) {
		t_report(__FILE__, __LINE__,
			 "server %d: its wait failed with %s, not ETIMEDOUT",
			 s->id, strerror(errno));
		return 0;
	}
	return 1;
}

int t_server_run_one(struct t_server *s, struct t_worker *w, uint32_t *state)
{
	uint32_t tid = (uint32_t)atomic_load(&w->tid);
	int in_a_row = 0, started = 0;
	char what[96];

	t_store32(&s->task.next_tid, tid);
	for (;;) {
		uint32_t nt, st;
		int r;

		if (t_set_cond_wait(&s->task))
			return -EINVAL;
		r = umcg_wait(0, t_after(s->clock, s->idle_ns)) ? -errno : 0;
		nt = t_load32(&s->task.next_tid);
		if (r == -EAGAIN && !(nt & UMCG_TID_RUNNING)) {
			/* Worker not started: only a stray wake-up excuses it. */
			snprintf(what, sizeof(what),
				 "naming its own RUNNABLE worker %d, off its list",
				 w->idx);
			if (t_eagain_past_bound(s, &in_a_row, what))
				return r;
		} else if (r == -EAGAIN && started) {
			/* Step 4 again (stray wake-up), or step 5: it stopped. */
			if ((t_state(&w->task) == UMCG_TASK_RUNNING) &&
			    t_eagain_past_bound(s, &in_a_row,
						"while its worker runs"))
				return r;
		} else if (r != 0 && r != -EAGAIN) {
			return r;
		}
		if (!(nt & UMCG_TID_RUNNING))
			continue;		/* woken before it ran */
		if (!started)
			in_a_row = 0;
		started = 1;
		st = umcg_task_state(&w->task);
		if ((st & UMCG_TASK_MASK) != UMCG_TASK_RUNNING) {
			t_store32(&s->task.next_tid, 0);
			*state = st;
			return 0;
		}
	}
}

int t_queued(struct t_server *s, struct t_worker *w)
{
	struct umcg_task *head = t_server_wait_list(s, t_after(s->clock,
							       20 * T_SEC));
	struct t_worker *got;

	if (head == &w->task && !umcg_runnable_next(head))
		return 1;
	if (!head) {
		t_report(__FILE__, __LINE__, "worker %d not queued: %s",
			 w->idx, strerror(errno));
		return 0;
	}
	got = t_find_task(s, head);
	t_report(__FILE__, __LINE__,
		 "want worker %d alone on the list, got worker %d%s", w->idx,
		 got ? got->idx : -1,
		 umcg_runnable_next(head) ? " and more" : "");
	return 0;
}

int t_listed(struct t_server *s, struct t_worker *w)
{
	uint64_t end = t_after(CLOCK_MONOTONIC, 20 * T_SEC);
	uint64_t head;

	/* A push wakes only a waiting server: ours is RUNNING, so it polls. */
	while (!(head = t_load64(&s->task.runnable_workers_ptr)) &&
	       t_now(CLOCK_MONOTONIC) < end)
		t_msleep(1);
	if (head == (uintptr_t)&w->task)
		return 1;
	t_report(__FILE__, __LINE__, "worker %d not listed: list head %#llx",
		 w->idx, (unsigned long long)head);
	return 0;
}

struct t_worker *t_setup_queued(struct t_server *s, t_worker_fn fn, void *arg)
{
	struct t_worker *w;
	int r = t_server_init(s, 0, CLOCK_MONOTONIC);

	if (r) {
		t_report(__FILE__, __LINE__, "server register: %s",
			 strerror(-r));
		return NULL;
	}
	w = t_worker_spawn(s, fn, arg);
	if (!w) {
		t_report(__FILE__, __LINE__, "no worker");
		return NULL;
	}
	return t_queued(s, w) ? w : NULL;
}

int t_run_expect(struct t_server *s, struct t_worker *w, uint32_t want)
{
	uint32_t st = 0;
	int r = t_server_run_one(s, w, &st);
	char b[64], b2[64];

	if (r) {
		t_report(__FILE__, __LINE__, "running worker %d: %s", w->idx,
			 strerror(-r));
		return 0;
	}
	if (st != want) {
		t_report(__FILE__, __LINE__,
			 "worker %d stopped in state %s, want %s", w->idx,
			 t_state_str(st, b), t_state_str(want, b2));
		return 0;
	}
	return 1;
}

/* Step 1: the runnable list, reversed to FIFO, into the local queue. */
static void t_srv_take(struct t_server *s)
{
	struct umcg_task *t = umcg_runnable_take_all(&s->task);
	struct t_worker *tmp[T_MAX_WORKERS];
	int n = 0;
	char b[64];

	for (; t; t = umcg_runnable_next(t)) {
		struct t_worker *w = t_find_task(s, t);

		if (!w) {
			t_violation(s, "server %d: unknown task %p on its list",
				    s->id, (void *)t);
			return;
		}
		if (n == T_MAX_WORKERS) {
			t_violation(s, "server %d: list longer than %d",
				    s->id, n);
			break;
		}
		tmp[n++] = w;
	}
	while (n-- > 0) {
		struct t_worker *w = tmp[n];
		uint32_t st = umcg_task_state(&w->task);

		if ((st & UMCG_TASK_MASK) != UMCG_TASK_RUNNABLE)
			t_violation(s, "worker %d on the list in state %s",
				    w->idx, t_state_str(st, b));
		if (w->queued) {
			t_violation(s, "worker %d queued twice", w->idx);
			continue;
		}
		w->queued = 1;
		s->rq[(s->rq_head + s->rq_len++) % T_MAX_WORKERS] = w->idx;
		t_log_add(&s->log, T_EV_QUEUED, w->idx, 0);
		if (s->hook)
			s->hook(s, T_EV_QUEUED, w);
	}
}

static void t_srv_event(struct t_server *s, int kind, struct t_worker *w)
{
	t_log_add(&s->log, kind, w->idx, 0);
	if (s->hook)
		s->hook(s, kind, w);
}

/*
 * Step 2: the current worker.  Returns 1 while it is RUNNING, 0 when
 * nothing runs, -1 when next_tid changed under us (look again).
 */
static int t_srv_observe(struct t_server *s)
{
	uint32_t nt = t_load32(&s->task.next_tid), st;
	struct t_worker *w;
	char b[64];
	int kind;

	if (!(nt & UMCG_TID_RUNNING))
		return 0;
	w = t_find(s, (pid_t)(nt & UMCG_TID_MASK));
	if (!w) {
		t_violation(s, "server %d: next_tid %#x is no worker of it",
			    s->id, nt);
		t_store32(&s->task.next_tid, 0);
		return 0;
	}
	st = umcg_task_state(&w->task);
	if ((st & UMCG_TASK_MASK) == UMCG_TASK_RUNNING)
		return 1;
	if (t_load32(&s->task.next_tid) != nt)
		return -1;
	/*
	 * A worker switching directly writes our next_tid before its switch:
	 * the one it names is RUNNABLE until the switch lands, and if the
	 * switch fails the switcher writes itself back.  While another of
	 * our workers is still RUNNING the CPU is not free: look again.
	 */
	if (s->follow_switches && (st & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE) {
		int n = atomic_load(&s->nw);

		for (int i = 0; i < n; i++)
			if (s->w[i] && s->w[i] != w &&
			    (umcg_task_state(&s->w[i]->task) & UMCG_TASK_MASK) ==
			    UMCG_TASK_RUNNING) {
				sched_yield();
				return -1;
			}
	}
	switch (st & UMCG_TASK_MASK) {
	case UMCG_TASK_BLOCKED:
		kind = T_EV_BLOCKED;
		break;
	case UMCG_TASK_RUNNABLE:
		kind = T_EV_RUNNABLE;
		break;
	case UMCG_TASK_NONE:
		kind = T_EV_EXIT;
		if (w->exited)
			t_violation(s, "worker %d exited twice", w->idx);
		w->exited = 1;
		s->nexited++;
		break;
	default:
		t_violation(s, "worker %d in state %s", w->idx,
			    t_state_str(st, b));
		kind = T_EV_NONE;
	}
	atomic_store(&w->running_on, 0);
	t_store32(&s->task.next_tid, 0);
	t_srv_event(s, kind, w);
	return 0;
}

/* Step 3: at most one worker RUNNING, and only the current one. */
static void t_srv_invariant(struct t_server *s, int running)
{
	struct t_worker *which = NULL;
	int n = t_count_running(s, &which);
	uint32_t nt = t_load32(&s->task.next_tid);

	s->observations++;
	if (s->follow_switches)
		return;
	if (n > 1)
		t_violation(s, "server %d: %d workers RUNNING at once",
			    s->id, n);
	else if (n == 1 && !running &&
		 (uint32_t)atomic_load(&which->tid) != (nt & UMCG_TID_MASK))
		t_violation(s, "server %d: worker %d RUNNING, next_tid %#x",
			    s->id, which->idx, nt);
}

/* Step 4: name the next queued worker. */
static void t_srv_pick(struct t_server *s)
{
	struct t_worker *w;
	int idx;

	if (t_load32(&s->task.next_tid) != 0 || s->rq_len == 0)
		return;
	idx = s->rq[s->rq_head];
	s->rq_head = (s->rq_head + 1) % T_MAX_WORKERS;
	s->rq_len--;
	w = s->w[idx];
	w->queued = 0;
	if (atomic_exchange(&w->running_on, s->id + 1) != 0 &&
	    !s->follow_switches)
		t_violation(s, "worker %d runs on two servers", w->idx);
	t_store32(&s->task.next_tid, (uint32_t)atomic_load(&w->tid));
	s->slice_start = t_now(s->clock);
	t_srv_event(s, T_EV_RUN, w);
}

/* On a slice timeout: TF_PREEMPT by CAS from RUNNING, then kick. */
static void t_srv_preempt(struct t_server *s)
{
	uint32_t nt = t_load32(&s->task.next_tid), st;
	struct t_worker *w;

	if (!(nt & UMCG_TID_RUNNING))
		return;
	w = t_find(s, (pid_t)(nt & UMCG_TID_MASK));
	if (!w)
		return;
	st = umcg_task_state(&w->task);
	if ((st & (UMCG_TASK_MASK | UMCG_TF_PREEMPT)) != UMCG_TASK_RUNNING ||
	    !umcg_task_cas_state(&w->task, st, st | UMCG_TF_PREEMPT))
		return;
	if (umcg_kick(0, atomic_load(&w->tid)) != 0) {
		/* It may have exited since we set TF_PREEMPT: that is no error. */
		if (errno == ESRCH && t_state(&w->task) == UMCG_TASK_NONE)
			return;
		t_violation(s, "umcg_kick(worker %d): %s", w->idx,
			    strerror(errno));
		return;
	}
	s->preempts++;
	t_srv_event(s, T_EV_PREEMPT, w);
}

static int t_srv_all_exited(struct t_server *s)
{
	int n = atomic_load(&s->nw), failed = 0;

	if (s->nexited == n)
		return 1;
	for (int i = 0; i < n; i++) {
		int e = atomic_load(&s->w[i]->reg_errno);

		if (e) {
			t_violation(s, "worker %d: registration failed: %s",
				    i, strerror(e));
			failed++;
		}
	}
	return failed && s->nexited + failed == n;
}

/* Step 5's timeout: the end of the slice, or the idle limit. */
static uint64_t t_srv_timeout(struct t_server *s, int running, int *slice)
{
	uint32_t nt = t_load32(&s->task.next_tid);

	*slice = 0;
	if (s->slice_ns && nt) {
		struct t_worker *w = t_find(s, (pid_t)(nt & UMCG_TID_MASK));

		if (!running || !w ||
		    !(umcg_task_state(&w->task) & UMCG_TF_PREEMPT)) {
			*slice = 1;
			return s->slice_start + s->slice_ns;
		}
	}
	return t_after(s->clock, s->idle_ns);
}

/* Has the worker next_tid names exited (state NONE)? */
static int t_srv_current_gone(struct t_server *s)
{
	uint32_t nt = t_load32(&s->task.next_tid);
	struct t_worker *w = t_find(s, (pid_t)(nt & UMCG_TID_MASK));

	return w && t_state(&w->task) == UMCG_TASK_NONE;
}

/* Step 5: sleep.  0 to go on, 1 on a failure (recorded). */
static int t_srv_sleep(struct t_server *s, int running)
{
	uint64_t timeout;
	uint32_t st, named;
	int slice, r, e;
	char b[64];

	if (t_set_cond_wait(&s->task)) {
		t_violation(s, "server %d: not RUNNING before its wait", s->id);
		return 1;
	}
	if (t_load64(&s->task.runnable_workers_ptr)) {
		t_undo_cond_wait(&s->task);
		return 0;
	}
	timeout = t_srv_timeout(s, running, &slice);
	named = t_load32(&s->task.next_tid);
	r = umcg_wait(0, timeout);
	e = errno;
	st = umcg_task_state(&s->task);
	if ((st & (UMCG_TASK_MASK | UMCG_TF_MASK)) != UMCG_TASK_RUNNING) {
		t_violation(s, "server %d: state %s after umcg_wait -> %d (%s)",
			    s->id, t_state_str(st, b), r, r ? strerror(e) : "");
		return 1;
	}
	if (r == 0) {
		s->stray = 0;
		return 0;
	}
	if (e == EAGAIN) {
		s->eagains++;
		/*
		 * Naming a worker it took off its list (no TID_RUNNING, no
		 * direct switch rewrote next_tid): see T_STRAY_WAKES.
		 */
		if (!named || (named & UMCG_TID_RUNNING) ||
		    t_load32(&s->task.next_tid) != named ||
		    t_load64(&s->task.runnable_workers_ptr)) {
			s->stray = 0;
			return 0;
		}
		if (++s->stray <= T_STRAY_WAKES)
			return 0;
		t_violation(s, "server %d: umcg_wait() failed with EAGAIN %d times in a row naming its own RUNNABLE worker %#x, off its list (a wake-up before the wait explains at most %d)",
			    s->id, s->stray, named, T_STRAY_WAKES);
		return 1;
	}
	if (e == ESRCH && t_srv_current_gone(s))
		return 0;	/* it exited while we went to sleep */
	if (e == ETIMEDOUT && slice) {
		t_srv_preempt(s);
		return 0;
	}
	if (e == ETIMEDOUT)
		t_violation(s, "server %d: nothing woke it for %llu ms "
			    "(lost wake-up, or a worker never stops)", s->id,
			    (unsigned long long)(s->idle_ns / T_MS));
	else
		t_violation(s, "server %d: umcg_wait: %s", s->id, strerror(e));
	return 1;
}

int t_server_run(struct t_server *s)
{
	while (atomic_load(&s->violations) == 0) {
		int running;

		t_srv_take(s);
		running = t_srv_observe(s);
		if (running < 0)
			continue;
		t_srv_invariant(s, running);
		if (!running && t_srv_all_exited(s))
			break;
		if (!running)
			t_srv_pick(s);
		if (t_srv_sleep(s, running))
			break;
	}
	if (atomic_load(&s->violations)) {
		fprintf(stderr, "%s: %s: server %d: %ld violation(s), first: %s\n",
			t_prog, atomic_load(&t_case), s->id,
			atomic_load(&s->violations), s->why);
		t_log_dump(&s->log, "of the failing server");
		return 1;
	}
	return 0;
}

/* ---- misc ------------------------------------------------------------------ */

int t_fork_run(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(fn(arg));
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

pid_t t_foreign_server(int *done_fd)
{
	int up[2], down[2];
	char c;
	pid_t pid;

	if (pipe(up) || pipe(down))
		return -1;
	pid = fork();
	if (pid == 0) {
		struct umcg_task *t = t_task_alloc();
		char r;

		close(up[0]);
		close(down[1]);
		umcg_task_init_server(t);
		r = umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC) ? 'n' : 'y';
		if (write(up[1], &r, 1) != 1 || read(down[0], &c, 1) < 0)
			_exit(1);
		_exit(r == 'y' ? 0 : 1);
	}
	close(up[1]);
	close(down[0]);
	if (pid < 0 || read(up[0], &c, 1) != 1 || c != 'y') {
		close(up[0]);
		close(down[1]);
		if (pid > 0)
			waitpid(pid, NULL, 0);
		return -1;
	}
	close(up[0]);
	*done_fd = down[1];
	return pid;
}

int t_foreign_server_end(pid_t pid, int done_fd)
{
	int status;

	close(done_fd);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void t_spin(unsigned long iters)
{
	for (volatile unsigned long i = 0; i < iters; i++)
		;
}
