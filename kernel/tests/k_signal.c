// SPDX-License-Identifier: MIT
/*
 * Signals are unmanaged time: a worker parked in umcg_wait() runs a signal
 * handler while it is not RUNNING, and its wait goes on afterwards (it
 * returns only once it is named).  A worker blocked in a syscall that a
 * signal interrupts runs its handler and comes back through its server.
 */
#include "kt.h"

static struct kt_server *s;
static struct kt_worker *w;
static _Atomic int handled, handler_state, returned;

static void handler(int sig)
{
	(void)sig;
	atomic_store(&handler_state, (int)(KT_STATE(&w->task) & UMCG_TASK_MASK));
	atomic_fetch_add(&handled, 1);
}

static void *parker(struct kt_worker *self)
{
	struct timespec ts = { 5, 0 };
	int r;

	/* Park, naming the server so that it wakes and sees us RUNNABLE. */
	do {
		self->task.next_tid = (uint32_t)s->tid;
		kt_set_state(&self->task, UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT);
		r = umcg_wait(0, UINT64_MAX);
	} while (r && errno == EAGAIN);
	if (r)
		KT_FAIL("park: %s", strerror(errno));
	atomic_store(&returned, 1);
	/* Now block in a sleep that a signal cuts short. */
	r = nanosleep(&ts, NULL);
	KT_CHECK(r == -1 && errno == EINTR);
	KT_CHECK((KT_STATE(&self->task) & UMCG_TASK_MASK) == UMCG_TASK_RUNNING);
	atomic_store(&returned, 2);
	return NULL;
}

static void server_wait(uint32_t next)
{
	for (;;) {
		kt_set_state(&s->task, UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT);
		s->task.next_tid = next;
		if (umcg_wait(0, kt_now() + 5000000000ull) == 0)
			return;
		if (errno == ETIMEDOUT)
			KT_FAIL("server timed out");
		if (errno != EAGAIN)
			KT_FAIL("server wait: %s", strerror(errno));
		if (next && !(s->task.next_tid & UMCG_TID_RUNNING))
			continue;
		return;
	}
}

int main(void)
{
	struct sigaction sa;
	uint64_t t0;
	int i;

	kt_init();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigaction(SIGUSR1, &sa, NULL);
	s = aligned_alloc(64, sizeof(*s));
	memset(s, 0, sizeof(*s));
	w = kt_start_workers(s, 1, parker, NULL);
	kt_server_register(s);
	/* Take the new worker off the list and run it until it parks. */
	while (!s->task.runnable_workers_ptr)
		usleep(1000);
	kt_server_drain(s);
	server_wait((uint32_t)atomic_load(&w->tid));
	for (t0 = kt_now(); (KT_STATE(&w->task) & UMCG_TASK_MASK) != UMCG_TASK_RUNNABLE;) {
		if (kt_now() - t0 > 10000000000ull)
			KT_FAIL("worker did not park");
		server_wait((uint32_t)atomic_load(&w->tid) | UMCG_TID_RUNNING);
	}
	/* The parked worker takes a signal: the handler runs, the wait goes on. */
	pthread_kill(w->thread, SIGUSR1);
	for (t0 = kt_now(); !atomic_load(&handled);) {
		if (kt_now() - t0 > 10000000000ull)
			KT_FAIL("handler of a parked worker did not run");
		usleep(1000);
	}
	KT_CHECK(atomic_load(&handler_state) == UMCG_TASK_RUNNABLE);
	usleep(50000);
	KT_CHECK(!atomic_load(&returned));
	KT_CHECK((KT_STATE(&w->task) & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE);
	/* Name it: its wait returns 0. */
	server_wait((uint32_t)atomic_load(&w->tid));
	/* It blocks in nanosleep: we are woken, it is BLOCKED. */
	for (t0 = kt_now(); (KT_STATE(&w->task) & UMCG_TASK_MASK) != UMCG_TASK_BLOCKED;) {
		if (kt_now() - t0 > 10000000000ull)
			KT_FAIL("worker did not block (state %#x)", KT_STATE(&w->task));
		server_wait((uint32_t)atomic_load(&w->tid) | UMCG_TID_RUNNING);
	}
	KT_CHECK(atomic_load(&returned) == 1);
	pthread_kill(w->thread, SIGUSR1);
	/* It comes back through our list; run it to its end. */
	s->cur = NULL;
	s->nworkers = 1;
	kt_server_loop(s);
	pthread_join(w->thread, NULL);
	KT_CHECK(atomic_load(&returned) == 2);
	i = atomic_load(&handled);
	KT_CHECK(i == 2);
	printf("k_signal: ok\n");
	return 0;
}
