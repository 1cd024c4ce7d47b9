// SPDX-License-Identifier: MIT
/*
 * The scheduler object and the server loop.
 *
 * A server is a thread pinned to a CPU that stands for it: it sleeps in
 * umcg_wait() while one of its workers runs, and wakes when that worker
 * blocks, exits or leaves the CPU, when a worker is queued on its runnable
 * list, when it is kicked, or when its timeout (a time slice) passes.  Each
 * time it wakes it runs six phases in order, one function each below:
 * collect, current, balance, pick, wait, tick.  What each does, and why in
 * this order: docs/toolkit.md, "The server loop" (the one description).
 *
 * Implements: umcg_sched_create/destroy/stop, umcg_worker_spawn/join and
 * the server loop.  A worker's own side (its thread, leaving the CPU,
 * sleeping) is in worker.c; the queue and lock helpers that policies use
 * are in policy.c.
 *
 * Limits: worker memory is kept until umcg_sched_destroy() (servers may
 * still read a worker another server ran), so a program that spawns a
 * worker per request grows until then; a server that finds its owner in
 * flight polls (sched_yield(), or 20 us sleeps when it runs SCHED_FIFO)
 * until the handoff lands.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "trace.h"
#include "tk.h"

#define TK_STACK_MIN (16 * 1024)

/* Sanitizers need much bigger stacks than the code they watch. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TK_STACK_SCALE 8
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TK_STACK_SCALE 8
#endif
#endif
#ifndef TK_STACK_SCALE
#define TK_STACK_SCALE 1
#endif

static void *worker_start(void *arg);

/* ---- Small helpers ------------------------------------------------------ */

static struct umcg_worker *task_worker(struct umcg_task *t)
{
	/* The task is the first member of a toolkit worker. */
	return (struct umcg_worker *)(void *)t;
}

void tk_pin_worker(struct umcg_worker *w, int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || w->cpu == cpu)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* Best effort: a worker that cannot be pinned still runs correctly,
	 * only its wake-ups may cross CPUs. */
	if (sched_setaffinity(atomic_load(&w->tid), sizeof(set), &set) == 0)
		w->cpu = cpu;
}

/*
 * UMCG_SCHED_PIN_HOLD: @w blocked in the kernel, so it no longer holds its
 * server's CPU.  Let the kernel run it anywhere until a server runs it
 * again: its call may return while another process occupies that CPU, and
 * a SCHED_OTHER worker pinned there would wait for that process's slice
 * to queue itself.  One system call per block, one more at the next pick.
 */
static void release_worker(struct umcg_worker *w)
{
	struct umcg_sched *s = w->sched;

	if (s->pin_workers != UMCG_SCHED_PIN_HOLD || w->cpu < 0 ||
	    !s->release_any)
		return;
	if (sched_setaffinity(atomic_load(&w->tid), sizeof(s->release_cpus),
			      &s->release_cpus) == 0)
		w->cpu = -1;
}

/* The SCHED_FIFO priority of servers (attr.server_rt), and of blocked workers. */
#define TK_SERVER_RT_PRIO 1

/*
 * Host scheduling of the calling toolkit thread (see umcg_sched_attr):
 * servers SCHED_FIFO so that a wake-up reaches them at once, everyone a
 * short EEVDF slice so that a worker whose call returned gets to queue
 * itself without waiting for the computing worker's slice to end.
 */
void tk_host_sched(struct umcg_sched *s, bool server)
{
	if (server && s->server_rt) {
		struct sched_param p = { .sched_priority = TK_SERVER_RT_PRIO };

		if (!sched_setscheduler(0, SCHED_FIFO, &p))
			return;
	}
	if (s->host_slice_ns > 0) {
		struct umcg_sched_attr_raw a = {
			.size = sizeof(a),
			.policy = SCHED_OTHER,
			.runtime = (uint64_t)s->host_slice_ns,
		};
		int saved = errno;

		/* Older kernels ignore or refuse the slice: both are fine. */
		umcg_sys_sched_setattr(&a);
		errno = saved;
	}
}

static void account(struct umcg_server *srv, bool busy)
{
	uint64_t now = tk_now();

	tk_stat_add(busy ? &srv->st.busy_ns : &srv->st.idle_ns,
		    now - srv->mark_ns);
	srv->mark_ns = now;
}

/*
 * Ask @w (running on some server) to leave the CPU: set UMCG_TF_PREEMPT by
 * cmpxchg from RUNNING, then kick it.  The worker comes back on its
 * server's list, where collect() sees preempt_req and says PREEMPTED.
 */
static bool preempt_worker(struct umcg_server *srv, struct umcg_worker *w)
{
	uint32_t old = umcg_task_state(&w->task);

	if ((old & (UMCG_TASK_MASK | UMCG_TF_MASK)) != UMCG_TASK_RUNNING)
		return false;
	atomic_store(&w->preempt_req, 1);
	if (!umcg_task_cas_state(&w->task, old, old | UMCG_TF_PREEMPT)) {
		atomic_store(&w->preempt_req, 0);
		return false;
	}
	umcg_kick(0, atomic_load(&w->tid));
	tk_stat_add(&srv->st.preemptions, 1);
	UMCG_TRACE(tk_preempt, srv->id, atomic_load(&w->tid));
	return true;
}

/* Wake one idle server (not @self); true if one was kicked. */
static bool kick_one_idle(struct umcg_sched *s, struct umcg_server *self)
{
	for (int i = 0; i < s->nr; i++) {
		struct umcg_server *o = &s->srv[(self->id + 1 + i) % s->nr];
		int one = 1;

		if (o == self)
			continue;
		/* 1 -> 2: each idle server is kicked once per sleep. */
		if (atomic_compare_exchange_strong(&o->idle, &one, 2)) {
			umcg_kick(0, atomic_load(&o->tid));
			tk_stat_add(&self->st.kicks, 1);
			return true;
		}
	}
	return false;
}

bool tk_idle_server_kicked(struct umcg_sched *s, struct umcg_server *self)
{
	return kick_one_idle(s, self);
}

/* ---- Phase 1: collect ---------------------------------------------------- */

static enum umcg_enqueue_reason classify(struct umcg_worker *w)
{
	int leave = atomic_exchange(&w->leave, TK_LEAVE_NONE);
	int preempt = atomic_exchange(&w->preempt_req, 0);
	uint64_t rs = atomic_load(&w->run_start);

	if (!w->started) {
		w->started = true;
		return UMCG_ENQ_NEW;
	}
	/* A block during its last run wins over whatever it asked for. */
	if (rs && atomic_load((_Atomic uint64_t *)&w->task.blocked_ts) >= rs)
		return UMCG_ENQ_WOKEN;
	if (leave == TK_LEAVE_YIELD)
		return UMCG_ENQ_YIELDED;
	if (leave == TK_LEAVE_SLEEP)
		return UMCG_ENQ_TIMEDOUT;
	if (preempt)
		return UMCG_ENQ_PREEMPTED;
	return UMCG_ENQ_WOKEN;
}

/*
 * Workers that handed their CPU to another worker (worker.c, switch_to())
 * and wait parked for a server to queue them: any server may take them,
 * the first one to wake.  LIFO like the runnable list: prepend each to
 * @list so that the oldest comes first.
 */
static struct umcg_worker *take_handoffs(struct umcg_sched *s,
					 struct umcg_worker *list)
{
	struct umcg_worker *w, *next, *rev = NULL;

	if (!atomic_load_explicit(&s->handoffs, memory_order_relaxed))
		return list;
	for (w = atomic_exchange(&s->handoffs, NULL); w; w = next) {
		next = w->h_next;
		w->h_next = NULL;
		w->q_next = rev;
		rev = w;
	}
	/* rev is oldest first: append @list after it. */
	for (w = rev; w && w->q_next; w = w->q_next)
		;
	if (!w)
		return list;
	w->q_next = list;
	return rev;
}

static int phase_collect(struct umcg_server *srv)
{
	struct umcg_sched *s = srv->sched;
	struct umcg_task *t = umcg_runnable_take_all(&srv->task);
	struct umcg_worker *list = NULL, *w;
	int n = 0;

	/* The list is LIFO; read every link before touching any worker. */
	for (; t; t = umcg_runnable_next(t)) {
		w = task_worker(t);
		w->q_next = list;
		list = w;
	}
	list = take_handoffs(s, list);
	while ((w = list)) {
		enum umcg_enqueue_reason why;

		list = w->q_next;
		w->q_next = NULL;
		why = classify(w);
		/* On our list means off our CPU: it no longer holds it. */
		if (atomic_load(&srv->owner) == w) {
			atomic_store(&srv->owner, NULL);
			atomic_store((_Atomic uint32_t *)&srv->task.next_tid, 0);
		}
		if (why == UMCG_ENQ_WOKEN || why == UMCG_ENQ_TIMEDOUT)
			tk_stat_add(&srv->st.wakes, 1);
		UMCG_TRACE(tk_enqueue, srv->id, atomic_load(&w->tid), (int)why);
		atomic_store(&w->server, srv);
		tk_pi_collected(w);
		tk_set_wstate(w, TK_W_QUEUED);
		s->ops->enqueue(srv, w, why);
		n++;
	}
	return n;
}

/* ---- Phase 2: the current worker ---------------------------------------- */

enum cur_state { CUR_FREE, CUR_BUSY, CUR_PENDING };

static void reap(struct umcg_server *srv, struct umcg_worker *w)
{
	struct umcg_sched *s = srv->sched;

	tk_set_wstate(w, TK_W_EXITED);
	if (s->ops->exited)
		s->ops->exited(srv, w);
	pthread_mutex_lock(&s->lock);
	atomic_store(&w->reaped, true);
	atomic_fetch_sub(&s->live, 1);
	pthread_cond_broadcast(&s->reaped_cv);
	pthread_mutex_unlock(&s->lock);
}

static enum cur_state phase_current(struct umcg_server *srv)
{
	struct umcg_worker *w = atomic_load(&srv->owner);
	uint32_t nt, st;

	if (!w)
		return CUR_FREE;
	nt = atomic_load((_Atomic uint32_t *)&srv->task.next_tid);
	/* Picked but the wait that starts it was interrupted: start it now. */
	if ((nt & UMCG_TID_MASK) == (uint32_t)atomic_load(&w->tid) &&
	    !(nt & UMCG_TID_RUNNING))
		return CUR_BUSY;
	st = umcg_task_state(&w->task) & UMCG_TASK_MASK;
	switch (st) {
	case UMCG_TASK_RUNNING:
		return CUR_BUSY;
	case UMCG_TASK_BLOCKED:
		/* It cannot run user code now, so the CPU is ours to give. */
		atomic_store(&srv->owner, NULL);
		atomic_store((_Atomic uint32_t *)&srv->task.next_tid, 0);
		release_worker(w);
		tk_stat_add(&srv->st.blocks, 1);
		UMCG_TRACE(tk_block, srv->id, atomic_load(&w->tid));
		tk_set_wstate(w, TK_W_BLOCKED);
		if (srv->sched->ops->blocked)
			srv->sched->ops->blocked(srv, w);
		return CUR_FREE;
	case UMCG_TASK_NONE:
		atomic_store(&srv->owner, NULL);
		atomic_store((_Atomic uint32_t *)&srv->task.next_tid, 0);
		reap(srv, w);
		return CUR_FREE;
	default:
		/*
		 * RUNNABLE and not on our list yet: a yield, preemption or wake
		 * whose push is in flight, or a worker it handed the CPU to that
		 * is not RUNNING yet.  Either finishes in a few instructions.
		 */
		return CUR_PENDING;
	}
}

/* ---- Phase 3: balance ------------------------------------------------------ */

static void phase_balance(struct umcg_server *srv, enum cur_state cs, int n)
{
	struct umcg_sched *s = srv->sched;

	/* A free CPU here takes one of the new workers itself. */
	if (cs == CUR_FREE)
		n--;
	/* Queued (policy) before reading idle: pairs with go_idle(). */
	atomic_thread_fence(memory_order_seq_cst);
	while (n > 0 && kick_one_idle(s, srv))
		n--;
	if (n <= 0 || !s->ops->should_preempt)
		return;
	/* Nobody idle: maybe a running worker should give way (this server's
	 * first, then the others'). */
	for (int i = 0; i < s->nr && n > 0; i++) {
		struct umcg_server *o = &s->srv[(srv->id + i) % s->nr];
		struct umcg_worker *c = atomic_load(&o->owner);

		if (c && s->ops->should_preempt(o, c) && preempt_worker(srv, c))
			n--;
	}
}

/* ---- Phase 4: pick -------------------------------------------------------- */

static void start_slice(struct umcg_server *srv, struct umcg_worker *w)
{
	const struct umcg_policy_ops *ops = srv->sched->ops;
	uint64_t ns = ops->slice_ns ? ops->slice_ns(srv, w) : 0;

	srv->slice_owner = w;
	srv->slice_end = ns ? tk_now() + ns : 0;
	srv->grace_used = false;
	if (w)
		atomic_store(&w->yield_at_unlock, 0);
}

static struct umcg_worker *phase_pick(struct umcg_server *srv)
{
	const struct umcg_policy_ops *ops = srv->sched->ops;
	struct umcg_worker *w = ops->pick(srv);

	if (!w && ops->steal && (w = ops->steal(srv))) {
		tk_stat_add(&srv->st.steals, 1);
		UMCG_TRACE(tk_steal, srv->id, atomic_load(&w->tid));
	}
	if (!w)
		return NULL;
	if (w->server != srv ||
	    atomic_load((_Atomic uint32_t *)&w->task.server_tid) != (uint32_t)srv->tid) {
		/* Legal: it is RUNNABLE and on no runnable list (policy queue). */
		atomic_store((_Atomic uint32_t *)&w->task.server_tid, (uint32_t)srv->tid);
		atomic_store(&w->server, srv);
	}
	if (srv->sched->pin_workers != UMCG_SCHED_PIN_NEVER)
		tk_pin_worker(w, srv->cpu);
	atomic_store(&w->preempt_req, 0);
	atomic_store(&w->run_start, tk_now());
	tk_set_wstate(w, TK_W_RUNNING);
	atomic_store(&srv->owner, w);
	/* No UMCG_TID_RUNNING: our umcg_wait() makes it run. */
	atomic_store((_Atomic uint32_t *)&srv->task.next_tid,
		     (uint32_t)atomic_load(&w->tid));
	tk_stat_add(&srv->st.switches, 1);
	UMCG_TRACE(tk_run, srv->id, atomic_load(&w->tid));
	if (ops->running)
		ops->running(srv, w);
	start_slice(srv, w);
	return w;
}

/* ---- Phases 5 and 6: wait, tick ------------------------------------------ */

static bool servers_must_exit(struct umcg_server *srv)
{
	return atomic_load(&srv->sched->servers_exit);
}

static void phase_tick(struct umcg_server *srv, struct umcg_worker *cur)
{
	const struct umcg_policy_ops *ops = srv->sched->ops;
	uint64_t now = tk_now();
	bool preempt;

	if (!cur || atomic_load(&srv->owner) != cur ||
	    (umcg_task_state(&cur->task) & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)
		return;
	if (ops->tick)
		preempt = ops->tick(srv, cur, now - atomic_load(&cur->run_start));
	else
		preempt = ops->queued && ops->queued(srv) > 0;
	/* A lock holder may get a grace to unlock first (toolkit/pi.c). */
	if (preempt && tk_pi_defer(srv, cur, now))
		return;
	if (preempt)
		preempt_worker(srv, cur);
	start_slice(srv, cur);
}

/*
 * Sleep until something happens.  The re-checks after announcing
 * RUNNABLE|COND_WAIT pair with every waker: a push on our list (then
 * wake), a parking worker (owner = NULL, then umcg_kick), a kicker (reads
 * idle, then umcg_kick) and destroy (servers_exit, then umcg_kick).  A wake
 * that lands after the announcement turns our wait into EAGAIN.
 */
static void phase_wait(struct umcg_server *srv, struct umcg_worker *cur)
{
	uint32_t waiting = UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT;
	uint64_t deadline = cur ? srv->slice_end : 0;
	int r;

	account(srv, true);
	if (!cur)
		atomic_store(&srv->idle, 1);
	if (!umcg_task_cas_state(&srv->task, UMCG_TASK_RUNNING, waiting))
		goto out;
	if (atomic_load((_Atomic uint64_t *)&srv->task.runnable_workers_ptr) ||
	    atomic_load(&srv->sched->handoffs) ||
	    atomic_load(&srv->owner) != cur ||
	    (!cur && servers_must_exit(srv))) {
		/* Fails only if a waker already made us RUNNING. */
		umcg_task_cas_state(&srv->task, waiting, UMCG_TASK_RUNNING);
		goto out;
	}
	r = umcg_wait(0, deadline);
	if (r && errno == ETIMEDOUT) {
		account(srv, cur != NULL);
		atomic_store(&srv->idle, 0);
		phase_tick(srv, cur);
		return;
	}
out:
	account(srv, cur != NULL);
	atomic_store(&srv->idle, 0);
}

/*
 * The owner is in flight (phase 2): it needs a CPU for a few instructions.
 * If it runs on another CPU a short spin sees it land; on ours it needs us
 * off the CPU: sched_yield() is enough between SCHED_OTHER threads, a
 * SCHED_FIFO server must really sleep.
 */
static void wait_pending(struct umcg_server *srv, unsigned n)
{
	struct timespec ts = { 0, 20000 };

	if (n < 8) {
		for (int i = 0; i < 64; i++)
			umcg_cpu_relax();
		return;
	}
	if (n < 16 && !srv->sched->server_rt) {
		sched_yield();
		return;
	}
	clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
}

/*
 * Nothing to run: say so (idle = 1), then look once more.  A busy server
 * queues work and then reads idle (phase_balance): either it sees us idle
 * and kicks us, or we see its work here.
 */
static struct umcg_worker *go_idle(struct umcg_server *srv)
{
	struct umcg_worker *w;

	atomic_store(&srv->idle, 1);
	atomic_thread_fence(memory_order_seq_cst);
	w = phase_pick(srv);
	if (w)
		atomic_store(&srv->idle, 0);
	return w;
}

static void server_loop(struct umcg_server *srv)
{
	unsigned pending = 0;

	srv->mark_ns = tk_now();
	for (;;) {
		/* 1, and owners that inherited a priority (toolkit/pi.c) */
		int n = phase_collect(srv) + tk_pi_process(srv);
		enum cur_state cs = phase_current(srv);		/* 2 */
		struct umcg_worker *cur;

		if (cs == CUR_PENDING) {
			wait_pending(srv, ++pending);
			continue;
		}
		pending = 0;
		if (n)
			phase_balance(srv, cs, n);		/* 3 */
		cur = atomic_load(&srv->owner);
		if (cs == CUR_FREE && !(cur = phase_pick(srv)))	/* 4 */
			cur = go_idle(srv);
		else if (srv->slice_owner != cur)
			start_slice(srv, cur);	/* handed to us by a worker */
		if (!cur && servers_must_exit(srv))
			return;
		phase_wait(srv, cur);				/* 5, 6 */
	}
}

struct server_boot {
	struct umcg_server *srv;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int done;
};

static void *server_main(void *arg)
{
	struct server_boot *b = arg;
	struct umcg_server *srv = b->srv;
	int err = 0;

	atomic_store(&srv->tid, umcg_gettid());
	umcg_task_init_server(&srv->task);
	if (umcg_ctl(UMCG_CTL_REGISTER, &srv->task, TK_CLOCK))
		err = -errno;
	pthread_mutex_lock(&b->lock);
	srv->start_err = err;
	b->done = 1;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->lock);
	if (err)
		return NULL;
	tk_host_sched(srv->sched, true);
	server_loop(srv);
	umcg_ctl(UMCG_CTL_UNREGISTER, &srv->task, 0);
	return NULL;
}

/* ---- The scheduler object ------------------------------------------------ */

void umcg_sched_attr_init(struct umcg_sched_attr *attr)
{
	*attr = (struct umcg_sched_attr){
		.pin = 1,
		.pin_workers = UMCG_SCHED_PIN_HOLD,
		.server_rt = 1,
		.host_slice_ns = UMCG_SCHED_HOST_SLICE_NS,
		.block_rt = 1,
		.priority_inherit = 1,
	};
}

static int start_server(struct umcg_sched *s, struct umcg_server *srv)
{
	struct server_boot b = { .srv = srv };
	pthread_attr_t pa;
	int r;

	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.cv, NULL);
	pthread_attr_init(&pa);
	pthread_attr_setstacksize(&pa, 64 * 1024 * TK_STACK_SCALE);
	if (s->pin && srv->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(srv->cpu, &set);
		pthread_attr_setaffinity_np(&pa, sizeof(set), &set);
	}
	r = -pthread_create(&srv->thread, &pa, server_main, &b);
	pthread_attr_destroy(&pa);
	if (!r) {
		pthread_mutex_lock(&b.lock);
		while (!b.done)
			pthread_cond_wait(&b.cv, &b.lock);
		pthread_mutex_unlock(&b.lock);
		r = srv->start_err;
		if (r)
			pthread_join(srv->thread, NULL);
	}
	pthread_mutex_destroy(&b.lock);
	pthread_cond_destroy(&b.cv);
	return r;
}

static void stop_servers(struct umcg_sched *s, int started)
{
	atomic_store(&s->servers_exit, true);
	for (int i = 0; i < started; i++)
		umcg_kick(0, atomic_load(&s->srv[i].tid));
	for (int i = 0; i < started; i++)
		pthread_join(s->srv[i].thread, NULL);
}

int umcg_sched_create(struct umcg_sched **out, const struct umcg_sched_attr *attr)
{
	struct umcg_sched_attr def;
	struct umcg_sched *s;
	cpu_set_t cpus;
	int cpu_list[CPU_SETSIZE], ncpu = 0, i, r;

	if (!out)
		return -EINVAL;
	if (!attr) {
		umcg_sched_attr_init(&def);
		attr = &def;
	}
	if (attr->nr_servers < 0 || attr->pin_workers < UMCG_SCHED_PIN_NEVER ||
	    attr->pin_workers > UMCG_SCHED_PIN_HOLD)
		return -EINVAL;
	if (attr->cpus)
		cpus = *attr->cpus;
	else if (sched_getaffinity(0, sizeof(cpus), &cpus))
		return -errno;
	for (i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &cpus))
			cpu_list[ncpu++] = i;
	if (!ncpu)
		return -EINVAL;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->nr = attr->nr_servers ? attr->nr_servers : ncpu;
	s->srv = aligned_alloc(64, sizeof(*s->srv) * (size_t)s->nr);
	if (!s->srv) {
		free(s);
		return -ENOMEM;
	}
	memset(s->srv, 0, sizeof(*s->srv) * (size_t)s->nr);
	s->ops = attr->policy ? attr->policy : umcg_policy_fifo;
	s->pin = attr->pin;
	s->pin_workers = attr->pin_workers;
	if (sched_getaffinity(0, sizeof(s->release_cpus), &s->release_cpus))
		s->release_cpus = cpus;
	s->release_any = CPU_COUNT(&s->release_cpus) > 1;
	s->server_rt = attr->server_rt;
	s->priority_inherit = attr->priority_inherit;
	s->host_slice_ns = attr->host_slice_ns;
	s->stack_size = attr->stack_size ? attr->stack_size : UMCG_SCHED_DEFAULT_STACK;
	if (s->stack_size < TK_STACK_MIN)
		s->stack_size = TK_STACK_MIN;
	s->stack_size *= TK_STACK_SCALE;
	tk_stacks_init(&s->stacks, s->stack_size);
	atomic_init(&s->slot, -1);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->reaped_cv, NULL);
	for (i = 0; i < s->nr; i++) {
		s->srv[i].sched = s;
		s->srv[i].id = i;
		s->srv[i].cpu = cpu_list[i % ncpu];
	}
	/*
	 * SCHED_FIFO servers preempt a worker the moment it wakes them, even
	 * one on its way into a blocking call, and a worker whose call
	 * returned waits for the host's next tick to get its CPU back from the
	 * one computing there.  Blocked workers at the servers' priority avoid
	 * both (umcg_set_block_priority(3)), unless the program chose already
	 * (attr.block_rt 0, the environment, or a priority set).
	 */
	if (s->server_rt && attr->block_rt && !getenv("UMCG_BLOCK_PRIORITY") &&
	    umcg_block_priority() == 0)
		umcg_set_block_priority(TK_SERVER_RT_PRIO);
	/* The policy sees the servers (their slots) before they run. */
	if (s->ops->init && (r = s->ops->init(s, attr->policy_arg, &s->policy_data)))
		goto fail;
	for (i = 0; i < s->nr; i++) {
		r = start_server(s, &s->srv[i]);
		if (r) {
			stop_servers(s, i);
			if (s->ops->exit)
				s->ops->exit(s, s->policy_data);
			goto fail;
		}
	}
	tk_dump_register(s);
	if (s->priority_inherit)
		atomic_fetch_add(&tk_pi_scheds, 1);
	*out = s;
	return 0;
fail:
	tk_stacks_destroy(&s->stacks);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->reaped_cv);
	free(s->srv);
	free(s);
	return r;
}

void umcg_sched_stop(struct umcg_sched *s)
{
	atomic_store(&s->stopping, true);
}

bool umcg_sched_stopping(const struct umcg_sched *s)
{
	return atomic_load(&s->stopping);
}

int umcg_sched_destroy(struct umcg_sched *s)
{
	struct umcg_worker *w, *next;

	if (!s)
		return -EINVAL;
	if (tk_self && tk_self->sched == s)
		return -EDEADLK;
	umcg_sched_stop(s);
	for (w = atomic_load(&s->all); w; w = atomic_load(&w->all_next))
		if (!w->joined)
			umcg_worker_join(w, NULL);
	if (s->priority_inherit)
		atomic_fetch_sub(&tk_pi_scheds, 1);
	tk_dump_unregister(s);
	stop_servers(s, s->nr);
	if (s->ops->exit)
		s->ops->exit(s, s->policy_data);
	for (w = atomic_load(&s->all); w; w = next) {
		next = atomic_load(&w->all_next);
		free(w);
	}
	tk_stacks_destroy(&s->stacks);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->reaped_cv);
	free(s->srv);
	free(s);
	return 0;
}

int umcg_sched_nr_servers(const struct umcg_sched *s)
{
	return s->nr;
}

struct umcg_server *umcg_sched_server(struct umcg_sched *s, int i)
{
	return i >= 0 && i < s->nr ? &s->srv[i] : NULL;
}

void *umcg_sched_policy_data(const struct umcg_sched *s)
{
	return s->policy_data;
}

/* ---- Spawning and joining -------------------------------------------------- */

#ifndef PR_FUTEX_HASH
#define PR_FUTEX_HASH 78
#define PR_FUTEX_HASH_SET_SLOTS 1
#endif

/* Workers of every scheduler of the process, and the futex hash size set. */
static _Atomic long tk_workers;
static _Atomic long tk_hash_slots;

/*
 * Every parked or waiting worker sleeps on a futex of its own, and since
 * Linux 6.16 a threaded process gets a private futex hash of 16 slots: with
 * 30,000 workers each wake and wait walked a chain of ~1,900 sleepers
 * (scale_30k: 0.87 ms per switch).  Grow it with the workers, to a slot
 * per worker, in powers of two from 1024 (a few rehashes in all).  Best
 * effort: older kernels have no private hash (EINVAL), and stop us trying.
 */
static void fit_futex_hash(long workers)
{
	long want = 1024, have = atomic_load(&tk_hash_slots);

	if (workers < 512 || have < 0)
		return;
	while (want < workers)
		want *= 2;
	if (want <= have ||
	    !atomic_compare_exchange_strong(&tk_hash_slots, &have, want))
		return;
	if (prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_SET_SLOTS, want, 0, 0))
		atomic_store(&tk_hash_slots, -1);
}

void umcg_worker_attr_init(struct umcg_worker_attr *attr)
{
	*attr = (struct umcg_worker_attr){ .server = -1 };
}

int umcg_worker_spawn(struct umcg_sched *s, struct umcg_worker **out,
		      void *(*fn)(void *), void *arg,
		      const struct umcg_worker_attr *attr)
{
	struct umcg_worker_attr def;
	struct umcg_worker *w;
	struct umcg_server *srv;
	pthread_attr_t pa;
	size_t stack_size;
	int idx, r;

	if (!s || !fn)
		return -EINVAL;
	if (atomic_load(&s->servers_exit))
		return -ESHUTDOWN;
	if (!attr) {
		umcg_worker_attr_init(&def);
		attr = &def;
	}
	if (attr->server < -1 || attr->server >= s->nr)
		return -EINVAL;
	idx = attr->server >= 0 ? attr->server
				: atomic_fetch_add(&s->next_srv, 1) % s->nr;
	srv = &s->srv[idx];
	pthread_attr_init(&pa);
	stack_size = attr->stack_size ? attr->stack_size * TK_STACK_SCALE
				      : s->stack_size;
	/* The size the thread library would refuse (before any mapping). */
	r = -pthread_attr_setstacksize(&pa, stack_size);
	if (r) {
		pthread_attr_destroy(&pa);
		return r;
	}
	w = aligned_alloc(64, sizeof(*w));
	if (!w) {
		pthread_attr_destroy(&pa);
		return -ENOMEM;
	}
	memset(w, 0, sizeof(*w));
	r = tk_stack_get(&s->stacks, stack_size, &w->stack, &w->stack_len);
	if (!r)
		r = -pthread_attr_setstack(&pa, w->stack, w->stack_len);
	if (r) {
		if (w->stack)
			tk_stack_put(&s->stacks, w->stack, w->stack_len);
		pthread_attr_destroy(&pa);
		free(w);
		return r;
	}
	w->sched = s;
	w->id = atomic_fetch_add(&s->next_id, 1);
	atomic_init(&w->prio, attr->priority);
	atomic_init(&w->server, srv);
	w->fn = fn;
	w->arg = arg;
	w->cpu = -1;
	tk_pi_worker_init(w);
	/* Filled before the thread exists: the dump may read it any time. */
	umcg_task_init_worker(&w->task, atomic_load(&srv->tid));
	w->stack_size = stack_size;
	tk_set_wstate(w, TK_W_NEW);

	if (s->pin_workers != UMCG_SCHED_PIN_NEVER) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(srv->cpu, &set);
		if (!pthread_attr_setaffinity_np(&pa, sizeof(set), &set))
			w->cpu = srv->cpu;
	}
	atomic_fetch_add(&s->live, 1);
	fit_futex_hash(atomic_fetch_add(&tk_workers, 1) + 1);
	r = -pthread_create(&w->thread, &pa, worker_start, w);
	pthread_attr_destroy(&pa);
	if (r) {
		atomic_fetch_sub(&s->live, 1);
		atomic_fetch_sub(&tk_workers, 1);
		tk_stack_put(&s->stacks, w->stack, w->stack_len);
		free(w);
		return r;
	}
	/* Publish for dumps and destroy; never unlinked before destroy. */
	w->all_next = atomic_load(&s->all);
	while (!atomic_compare_exchange_weak(&s->all, (struct umcg_worker **)&w->all_next, w))
		;
	if (out)
		*out = w;
	return 0;
}

/* The thread of a worker: register (returns once a server runs us), run
 * the function, unregister (our server sees NONE and reaps us). */
static void *worker_start(void *arg)
{
	struct umcg_worker *w = arg;
	struct umcg_sched *s = w->sched;

	atomic_store(&w->tid, umcg_gettid());
	if (umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, &w->task, TK_CLOCK)) {
		w->start_err = -errno;
		pthread_mutex_lock(&s->lock);
		tk_set_wstate(w, TK_W_EXITED);
		atomic_store(&w->reaped, true);
		atomic_fetch_sub(&s->live, 1);
		pthread_cond_broadcast(&s->reaped_cv);
		pthread_mutex_unlock(&s->lock);
		return NULL;
	}
	tk_self = w;
	tk_host_sched(s, false);
	atomic_store(&w->leave, TK_LEAVE_NONE);
	w->ret = w->fn(w->arg);
	tk_self = NULL;
	umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, &w->task, 0);
	return NULL;
}

int umcg_worker_join(struct umcg_worker *w, void **ret)
{
	struct umcg_sched *s;

	if (!w || w->joined)
		return -EINVAL;
	if (w == tk_self)
		return -EDEADLK;
	s = w->sched;
	pthread_join(w->thread, NULL);
	atomic_fetch_sub(&tk_workers, 1);
	tk_stack_put(&s->stacks, w->stack, w->stack_len);
	w->stack = NULL;
	/* The thread is gone; wait until its server has seen it go too. */
	pthread_mutex_lock(&s->lock);
	while (!atomic_load(&w->reaped))
		pthread_cond_wait(&s->reaped_cv, &s->lock);
	pthread_mutex_unlock(&s->lock);
	w->joined = true;
	if (ret)
		*ret = w->ret;
	return w->start_err;
}
