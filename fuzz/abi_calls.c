// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: sequences of umcg_ctl(), umcg_wait() and umcg_kick()
 * from three threads at once, with arbitrary flags, task pointers (valid,
 * NULL, misaligned, unmapped, read-only, another thread's), clocks,
 * next_tid values, timeouts and tids, on the emul backend.  A real server
 * thread (serve()) runs whatever registers as its worker, so that worker
 * registration, yields, parks, switches and blocks happen for real.
 *
 * Bounded per input: at most OPS_PER_THREAD calls per thread; a thread
 * registered as a server never waits without a deadline of a few ms; a
 * parked worker is named by the server until it runs (serve()), so no wait
 * outlives the input.  Every thread is created and joined per input, and
 * every task it registered is unregistered before it returns.
 *
 * What counts as a bug: a crash or sanitizer report, a call that returns
 * something other than 0 or -1, an errno outside the documented set, or a
 * hang (libFuzzer's -timeout).  docs/reliability.md says how to run it.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <umcg.h>

#define NR_FUZZ_THREADS	3
#define OPS_PER_THREAD	12
#define BOGUS_TID	0x3ffffff0

struct fthread {
	struct umcg_task task;		/* first: the server maps task -> us */
	struct umcg_task spare;		/* a second aligned task */
	_Atomic pid_t tid;
	pthread_t thread;
	const uint8_t *prog;
	size_t len;
	int role;			/* 0 none, 1 server, 2 worker */
};

static struct fthread *ft[NR_FUZZ_THREADS];
static struct umcg_task *srv_task;
static _Atomic pid_t srv_tid, main_tid;
static atomic_bool stop_serving;
static void *ro_page, *gone_page;

static void fail(const char *what, long v)
{
	fprintf(stderr, "abi_calls: %s: %ld (errno %d)\n", what, v, errno);
	abort();
}

/* Every call returns 0 or -1 with one of the errnos the ABI documents. */
static void check(const char *call, int r)
{
	if (r == 0)
		return;
	if (r != -1)
		fail(call, r);
	switch (errno) {
	case EINVAL: case EFAULT: case ESRCH: case EAGAIN: case ETIMEDOUT:
	case EBUSY: case EPERM: case EINTR:
		return;
	default:
		fail(call, errno);
	}
}

/* ---- the input ------------------------------------------------------------ */

struct cursor { const uint8_t *p; size_t left; };

static uint8_t take8(struct cursor *c)
{
	if (!c->left)
		return 0;
	c->left--;
	return *c->p++;
}

static uint32_t take32(struct cursor *c)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | take8(c);
	return v;
}

static pid_t pick_tid(struct cursor *c, struct fthread *self, bool for_server)
{
	uint8_t k = take8(c);

	switch (k % (for_server ? 5 : 9)) {
	case 0: return atomic_load(&srv_tid);
	case 1: return atomic_load(&self->tid);
	case 2: return atomic_load(&main_tid);
	case 3: return BOGUS_TID;
	case 4: return 0;
	case 5: return atomic_load(&ft[k / 9 % NR_FUZZ_THREADS]->tid);
	case 6: return -1;
	case 7: return 1;		/* init: a thread of another process */
	default: return (pid_t)take32(c);
	}
}

static struct umcg_task *pick_task(struct cursor *c, struct fthread *self,
				   bool others)
{
	uint8_t k = take8(c);

	switch (k % (others ? 7 : 6)) {
	case 0: case 1: return &self->task;
	case 2: return NULL;
	case 3: return (struct umcg_task *)((char *)&self->spare + 8);
	case 4: return gone_page;
	case 5: return ro_page;
	default: return &ft[k / 7 % NR_FUZZ_THREADS]->task;
	}
}

static void fill_task(struct cursor *c, struct fthread *self, struct umcg_task *t)
{
	if (t != &self->task)
		return;
	switch (take8(c) % 4) {
	case 0: umcg_task_init_server(t); break;
	case 1: case 2: umcg_task_init_worker(t, pick_tid(c, self, true)); break;
	default:
		umcg_task_init_server(t);
		t->state = take32(c);
		t->next_tid = take32(c);
		t->server_tid = take32(c);
		t->__zero0 = take8(c) < 16 ? take32(c) : 0;
		break;
	}
}

static uint64_t pick_timeout(struct cursor *c, struct fthread *self)
{
	uint64_t now = umcg_clock_ns(CLOCK_MONOTONIC), t;

	switch (take8(c) % 6) {
	case 0: t = 0; break;
	case 1: t = 1; break;			/* long past */
	case 2: t = now + take8(c) * 10000ULL; break;
	case 3: t = UINT64_MAX; break;
	case 4: t = now + 2000000ULL; break;
	default: t = (uint64_t)take32(c) << 32 | take32(c); break;
	}
	/* A server's wait must end by itself (nobody serves a fuzz server). */
	if (self->role == 1 && (t == 0 || t > now + 5000000ULL))
		t = now + 1000000ULL;
	return t;
}

static const uint32_t ctl_flags[] = {
	UMCG_CTL_REGISTER, UMCG_CTL_REGISTER | UMCG_CTL_WORKER,
	UMCG_CTL_UNREGISTER, UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER,
};
static const clockid_t clocks[] = {
	CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME, CLOCK_TAI,
	CLOCK_PROCESS_CPUTIME_ID, -1,
};

/* ---- the calls ------------------------------------------------------------ */

static void op_ctl(struct cursor *c, struct fthread *self)
{
	uint8_t k = take8(c);
	uint32_t flags = k < 240 ? ctl_flags[k % 4] : take32(c);
	bool reg = flags & UMCG_CTL_REGISTER;
	/* registering another thread's task would share it: a caller bug */
	struct umcg_task *t = pick_task(c, self, !reg);
	clockid_t clk = clocks[take8(c) % 6];
	int r;

	if (reg && self->role)
		t = t == &self->task ? &self->spare : t;	/* EINVAL: already */
	else if (reg)
		fill_task(c, self, t);
	r = umcg_ctl(flags, t, clk);
	check("umcg_ctl", r);
	if (r == 0 && reg)
		self->role = flags & UMCG_CTL_WORKER ? 2 : 1;
	if (r == 0 && !reg)
		self->role = 0;
	if (r == 0 && reg && t != &self->task)
		fail("registered a bad task pointer", (long)(uintptr_t)t);
}

static void op_wait(struct cursor *c, struct fthread *self)
{
	uint8_t k = take8(c);
	uint32_t flags = k < 224 ? 0 : take32(c);
	pid_t next = pick_tid(c, self, false);
	uint64_t timeout = pick_timeout(c, self);

	if (self->role) {
		atomic_store((_Atomic uint32_t *)&self->task.next_tid,
			     (uint32_t)next & UMCG_TID_MASK);
		/* mostly the documented RUNNABLE|COND_WAIT, sometimes not */
		if (take8(c) < 220)
			umcg_task_set_state(&self->task, UMCG_TASK_RUNNABLE |
					    UMCG_TF_COND_WAIT);
	}
	check("umcg_wait", umcg_wait(flags, timeout));
	if (self->role &&
	    (umcg_task_state(&self->task) & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)
		fail("umcg_wait returned, not RUNNING", umcg_task_state(&self->task));
}

static void op_kick(struct cursor *c, struct fthread *self)
{
	uint8_t k = take8(c);

	check("umcg_kick", umcg_kick(k < 224 ? 0 : take32(c),
				     pick_tid(c, self, false)));
}

static void op_block(struct cursor *c)
{
	usleep(take8(c) % 64);		/* a block the hooks see */
}

static atomic_int nr_ready;

static void *fuzz_thread(void *arg)
{
	struct fthread *self = arg;
	struct cursor c = { self->prog, self->len };

	/* Every tid is known before any thread runs its program. */
	atomic_store(&self->tid, umcg_gettid());
	atomic_fetch_add(&nr_ready, 1);
	while (atomic_load(&nr_ready) < NR_FUZZ_THREADS)
		sched_yield();

	for (int i = 0; i < OPS_PER_THREAD && c.left; i++) {
		switch (take8(&c) % 4) {
		case 0: op_ctl(&c, self); break;
		case 1: op_wait(&c, self); break;
		case 2: op_kick(&c, self); break;
		default: op_block(&c); break;
		}
	}
	if (self->role == 2)
		check("unregister worker",
		      umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, &self->task, 0));
	else if (self->role == 1)
		check("unregister server", umcg_ctl(UMCG_CTL_UNREGISTER, &self->task, 0));
	return NULL;
}

/* ---- the server ----------------------------------------------------------- */

static struct fthread *of_task(struct umcg_task *t)
{
	return (struct fthread *)t;	/* only fthread.task registers as worker */
}

static void run_worker(pid_t tid)
{
	atomic_store((_Atomic uint32_t *)&srv_task->next_tid, (uint32_t)tid);
	umcg_task_set_state(srv_task, UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT);
	umcg_wait(0, umcg_clock_ns(CLOCK_MONOTONIC) + 1000000ULL);
}

/*
 * Run every worker that queues itself; when none does, name each fuzz
 * thread in turn: that claims a parked one (which nobody else would
 * name), and fails harmlessly for the rest.
 */
static void *serve(void *arg)
{
	pid_t queue[64];
	unsigned n = 0, rr = 0;

	(void)arg;
	atomic_store(&srv_tid, umcg_gettid());
	umcg_task_init_server(srv_task);
	if (umcg_ctl(UMCG_CTL_REGISTER, srv_task, CLOCK_MONOTONIC))
		fail("server register", errno);
	while (!atomic_load(&stop_serving)) {
		for (struct umcg_task *t = umcg_runnable_take_all(srv_task); t;
		     t = umcg_runnable_next(t))
			if (n < 64)
				queue[n++] = atomic_load(&of_task(t)->tid);
		if (n) {
			run_worker(queue[--n]);
			continue;
		}
		run_worker(atomic_load(&ft[rr++ % NR_FUZZ_THREADS]->tid));
	}
	if (umcg_ctl(UMCG_CTL_UNREGISTER, srv_task, 0))
		fail("server unregister", errno);
	return NULL;
}

/* ---- libFuzzer ------------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	long pg = sysconf(_SC_PAGESIZE);

	(void)argc;
	(void)argv;
	ro_page = mmap(NULL, (size_t)pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gone_page = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro_page == MAP_FAILED || gone_page == MAP_FAILED)
		abort();
	munmap(gone_page, (size_t)pg);
	atomic_store(&main_tid, umcg_gettid());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pthread_t server;
	size_t part = size / NR_FUZZ_THREADS;

	srv_task = aligned_alloc(64, sizeof(*srv_task));
	for (int i = 0; i < NR_FUZZ_THREADS; i++) {
		ft[i] = aligned_alloc(64, sizeof(*ft[i]));
		memset(ft[i], 0, sizeof(*ft[i]));
		ft[i]->prog = data + part * (size_t)i;
		ft[i]->len = part;
	}
	atomic_store(&stop_serving, false);
	atomic_store(&srv_tid, 0);
	if (pthread_create(&server, NULL, serve, NULL))
		abort();
	while (!atomic_load(&srv_tid))
		sched_yield();
	atomic_store(&nr_ready, 0);
	for (int i = 0; i < NR_FUZZ_THREADS; i++)
		atomic_store(&ft[i]->tid, BOGUS_TID - 1 - i);	/* until it runs */
	for (int i = 0; i < NR_FUZZ_THREADS; i++)
		if (pthread_create(&ft[i]->thread, NULL, fuzz_thread, ft[i]))
			abort();
	for (int i = 0; i < NR_FUZZ_THREADS; i++)
		pthread_join(ft[i]->thread, NULL);
	atomic_store(&stop_serving, true);
	umcg_kick(0, atomic_load(&srv_tid));
	pthread_join(server, NULL);
	/* The server has seen every worker's final NONE: free the tasks. */
	for (int i = 0; i < NR_FUZZ_THREADS; i++)
		free(ft[i]);
	free(srv_task);
	return 0;
}
