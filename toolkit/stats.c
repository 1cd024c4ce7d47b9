// SPDX-License-Identifier: MIT
/*
 * Observability: per-server counters and an async-signal-safe dump of every
 * server and worker, callable from a signal handler or a debugger.
 *
 * The dump takes no lock and allocates nothing: it walks the scheduler's
 * worker list (append-only until umcg_sched_destroy()), formats into a
 * stack buffer and writes with the raw write system call.  It bypasses
 * libumcg's interposed write(): from a worker the wrapper would move the
 * worker to BLOCKED and back, which a signal handler must not do.  A worker
 * may change state while it is printed: each line is a snapshot of one
 * worker, not of the whole scheduler.
 *
 * UMCG_DUMP_ON_SIGQUIT=1 in the environment at the first umcg_sched_create()
 * installs a SIGQUIT handler that dumps every live scheduler to stderr
 * (instead of the default quit-and-core-dump).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "tk.h"

static struct umcg_sched *_Atomic registry[TK_MAX_SCHEDS];
/* Threads looking through the registry (toolkit/pi.c) and using what they
 * found: unregistering waits for them before the scheduler is freed. */
static int _Atomic registry_readers;
static int _Atomic sigquit_installed;

/* ---- Counters ---------------------------------------------------------------- */

static void server_stats(struct umcg_server *srv, struct umcg_server_stats *o)
{
	const struct umcg_policy_ops *ops = srv->sched->ops;

	o->switches = atomic_load_explicit(&srv->st.switches, memory_order_relaxed);
	o->blocks = atomic_load_explicit(&srv->st.blocks, memory_order_relaxed);
	o->wakes = atomic_load_explicit(&srv->st.wakes, memory_order_relaxed);
	o->preemptions = atomic_load_explicit(&srv->st.preemptions, memory_order_relaxed);
	o->steals = atomic_load_explicit(&srv->st.steals, memory_order_relaxed);
	o->kicks = atomic_load_explicit(&srv->st.kicks, memory_order_relaxed);
	o->idle_ns = atomic_load_explicit(&srv->st.idle_ns, memory_order_relaxed);
	o->busy_ns = atomic_load_explicit(&srv->st.busy_ns, memory_order_relaxed);
	/* Racy by nature (another server's queue); a snapshot is all we want. */
	o->queued = ops->queued ? ops->queued(srv) : 0;
}

int umcg_sched_server_stats(struct umcg_sched *s, int i, struct umcg_server_stats *out)
{
	if (!s || !out || i < 0 || i >= s->nr)
		return -EINVAL;
	server_stats(&s->srv[i], out);
	return 0;
}

int umcg_sched_stats(struct umcg_sched *s, struct umcg_server_stats *out)
{
	struct umcg_server_stats one;

	if (!s || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < s->nr; i++) {
		server_stats(&s->srv[i], &one);
		out->switches += one.switches;
		out->blocks += one.blocks;
		out->wakes += one.wakes;
		out->preemptions += one.preemptions;
		out->steals += one.steals;
		out->kicks += one.kicks;
		out->idle_ns += one.idle_ns;
		out->busy_ns += one.busy_ns;
		out->queued += one.queued;
	}
	return 0;
}

/* ---- Async-signal-safe formatting --------------------------------------------- */

struct line {
	char buf[256];
	size_t len;
};

static void put_s(struct line *l, const char *s)
{
	while (*s && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = *s++;
}

static void put_u(struct line *l, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = tmp[--n];
}

static void put_i(struct line *l, int64_t v)
{
	if (v < 0) {
		put_s(l, "-");
		put_u(l, (uint64_t)-v);
	} else {
		put_u(l, (uint64_t)v);
	}
}

static int flush(struct line *l, int fd)
{
	size_t off = 0;

	l->buf[l->len++] = '\n';
	while (off < l->len) {
		long r = syscall(SYS_write, fd, l->buf + off, l->len - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		off += (size_t)r;
	}
	l->len = 0;
	return 0;
}

static const char *abi_state_name(uint32_t st)
{
	switch (st & UMCG_TASK_MASK) {
	case UMCG_TASK_NONE: return "NONE";
	case UMCG_TASK_RUNNING: return "RUNNING";
	case UMCG_TASK_RUNNABLE: return "RUNNABLE";
	case UMCG_TASK_BLOCKED: return "BLOCKED";
	}
	return "?";
}

static const char *tk_state_name(int st)
{
	static const char *const names[] = {
		"new", "queued", "running", "blocked", "parked", "exited",
	};

	return st >= 0 && st <= TK_W_EXITED ? names[st] : "?";
}

/* How long @w has been in its state, from the best clock we have. */
static uint64_t time_in_state(struct umcg_worker *w, uint64_t now)
{
	uint32_t st = umcg_task_state(&w->task) & UMCG_TASK_MASK;
	uint64_t since = atomic_load_explicit(&w->since_ns, memory_order_relaxed);
	/* Written by the backend at any time. */
	uint64_t bts = atomic_load_explicit((_Atomic uint64_t *)&w->task.blocked_ts,
					    memory_order_relaxed);
	uint64_t rts = atomic_load_explicit((_Atomic uint64_t *)&w->task.runnable_ts,
					    memory_order_relaxed);

	/* The ABI's own stamps, when they are newer than ours. */
	if (st == UMCG_TASK_BLOCKED && bts > since)
		since = bts;
	else if (st == UMCG_TASK_RUNNABLE && rts > since)
		since = rts;
	return now > since ? now - since : 0;
}

static int dump_worker(struct umcg_worker *w, int fd, uint64_t now)
{
	struct umcg_server *srv = atomic_load(&w->server);
	struct line l = { .len = 0 };
	uint32_t st = umcg_task_state(&w->task);

	put_s(&l, "  worker ");
	put_u(&l, (uint64_t)w->id);
	put_s(&l, " tid=");
	put_i(&l, atomic_load(&w->tid));
	put_s(&l, " state=");
	put_s(&l, abi_state_name(st));
	if (st & UMCG_TF_PREEMPT)
		put_s(&l, "|PREEMPT");
	if (st & UMCG_TF_COND_WAIT)
		put_s(&l, "|COND_WAIT");
	put_s(&l, " toolkit=");
	put_s(&l, tk_state_name(atomic_load(&w->tk_state)));
	put_s(&l, " server=");
	put_i(&l, srv ? srv->id : -1);
	put_s(&l, " prio=");
	put_i(&l, atomic_load(&w->prio));
	put_s(&l, " in_state_us=");
	put_u(&l, time_in_state(w, now) / 1000);
	return flush(&l, fd);
}

static int dump_server(struct umcg_server *srv, int fd)
{
	struct umcg_worker *cur = atomic_load(&srv->owner);
	struct umcg_server_stats st;
	struct line l = { .len = 0 };

	server_stats(srv, &st);
	put_s(&l, " server ");
	put_u(&l, (uint64_t)srv->id);
	put_s(&l, " tid=");
	put_i(&l, atomic_load(&srv->tid));
	put_s(&l, " cpu=");
	put_i(&l, srv->cpu);
	put_s(&l, " state=");
	put_s(&l, abi_state_name(umcg_task_state(&srv->task)));
	put_s(&l, atomic_load(&srv->idle) ? " idle" : " busy");
	put_s(&l, " current=");
	put_i(&l, cur ? cur->id : -1);
	put_s(&l, " queued=");
	put_u(&l, st.queued);
	put_s(&l, " switches=");
	put_u(&l, st.switches);
	put_s(&l, " blocks=");
	put_u(&l, st.blocks);
	put_s(&l, " wakes=");
	put_u(&l, st.wakes);
	put_s(&l, " preempt=");
	put_u(&l, st.preemptions);
	put_s(&l, " steals=");
	put_u(&l, st.steals);
	put_s(&l, " idle_ms=");
	put_u(&l, st.idle_ns / 1000000);
	put_s(&l, " busy_ms=");
	put_u(&l, st.busy_ns / 1000000);
	return flush(&l, fd);
}

int umcg_sched_dump(struct umcg_sched *s, int fd)
{
	struct line l = { .len = 0 };
	uint64_t now = tk_now();
	int r = 0;

	if (!s)
		return -EINVAL;
	put_s(&l, "umcg sched policy=");
	put_s(&l, s->ops->name);
	put_s(&l, " servers=");
	put_u(&l, (uint64_t)s->nr);
	put_s(&l, " live_workers=");
	put_i(&l, atomic_load(&s->live));
	put_s(&l, " backend=");
	put_s(&l, umcg_backend_name());
	r |= flush(&l, fd);
	for (int i = 0; i < s->nr; i++)
		r |= dump_server(&s->srv[i], fd);
	for (struct umcg_worker *w = atomic_load(&s->all); w;
	     w = atomic_load(&w->all_next))
		r |= dump_worker(w, fd, now);
	return r ? -EIO : 0;
}

int umcg_sched_dump_all(int fd)
{
	for (int i = 0; i < TK_MAX_SCHEDS; i++) {
		struct umcg_sched *s = atomic_load(&registry[i]);

		if (s)
			umcg_sched_dump(s, fd);
	}
	return 0;
}

/* ---- Registry and SIGQUIT ------------------------------------------------------ */

static void on_sigquit(int sig)
{
	int saved = errno;

	(void)sig;
	umcg_sched_dump_all(STDERR_FILENO);
	errno = saved;
}

static void maybe_install_sigquit(void)
{
	const char *e = getenv("UMCG_DUMP_ON_SIGQUIT");
	struct sigaction sa;
	int zero = 0;

	if (!e || !*e || !strcmp(e, "0"))
		return;
	if (!atomic_compare_exchange_strong(&sigquit_installed, &zero, 1))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigquit;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGQUIT, &sa, NULL);
}

int tk_dump_register(struct umcg_sched *s)
{
	maybe_install_sigquit();
	for (int i = 0; i < TK_MAX_SCHEDS; i++) {
		struct umcg_sched *none = NULL;

		if (atomic_compare_exchange_strong(&registry[i], &none, s)) {
			atomic_store(&s->slot, i);
			return 0;
		}
	}
	return -ENOSPC;	/* still works; just not in dump_all */
}

void tk_dump_unregister(struct umcg_sched *s)
{
	int i = atomic_load(&s->slot);

	if (i >= 0)
		atomic_store(&registry[i], NULL);
	/* Pairs with tk_registry_begin(): a reader either sees NULL or we
	 * see it and wait until it is done. */
	atomic_thread_fence(memory_order_seq_cst);
	while (atomic_load(&registry_readers))
		sched_yield();
}

void tk_registry_begin(void)
{
	atomic_fetch_add(&registry_readers, 1);
	atomic_thread_fence(memory_order_seq_cst);
}

void tk_registry_end(void)
{
	atomic_fetch_sub(&registry_readers, 1);
}

struct umcg_sched *tk_registry_get(int i)
{
	return i >= 0 && i < TK_MAX_SCHEDS ? atomic_load(&registry[i]) : NULL;
}
