/* SPDX-License-Identifier: MIT */
/*
 * Description: signals run as unmanaged time.  A handler runs in a worker
 * that is parked (RUNNABLE, on no list), queued, RUNNING or BLOCKED, and in
 * a server sleeping in umcg_wait(); afterwards the task goes back to what
 * it was doing: a waiting task keeps waiting (its wait later returns 0,
 * not EINTR), is not queued by the signal, and its state is not corrupted.
 */
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "t_helpers.h"

static struct t_server s;
static struct umcg_task *_Atomic sig_task;
static atomic_int sig_count;
static atomic_uint sig_state;
static atomic_int sig_tid;

static void on_usr1(int sig)
{
	struct umcg_task *t = atomic_load(&sig_task);

	(void)sig;
	if (t)
		atomic_store(&sig_state, umcg_task_state(t));
	atomic_store(&sig_tid, (int)syscall(SYS_gettid));
	atomic_fetch_add(&sig_count, 1);
}

static int install(int restart)	/* restart: SA_RESTART */
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	atomic_store(&sig_count, 0);
	atomic_store(&sig_state, 0xdead);
	atomic_store(&sig_tid, 0);
	T_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
	return 0;
}

/*
 * ThreadSanitizer delivers an asynchronous signal only when the thread
 * passes one of its interceptors, never while it sleeps in the futex of
 * umcg_wait(): there the handler runs only once the task resumed (and
 * called t_signal_point()), so "the handler ran while it waited" and the
 * state the handler saw are checked only without TSan.
 */
#ifdef T_TSAN
#define STRICT 0
#else
#define STRICT 1
#endif

/* A point where TSan runs pending handlers (pthread_sigmask is one). */
static void t_signal_point(void)
{
	sigset_t old;

	pthread_sigmask(SIG_BLOCK, NULL, &old);
}

/* Signal @tid; wait (not as a worker) until the handler ran. */
static int signal_and_wait(pid_t tid, struct umcg_task *t)
{
	int before = atomic_load(&sig_count);

	atomic_store(&sig_task, t);
	T_CHECK(syscall(SYS_tgkill, getpid(), tid, SIGUSR1) == 0, "tgkill: %s",
		strerror(errno));
	for (int i = 0; i < (STRICT ? 20000 : 100) &&
			atomic_load(&sig_count) == before; i++)
		t_msleep(1);
	if (!STRICT)
		return 0;
	T_CHECK(atomic_load(&sig_count) == before + 1,
		"handler ran %d times, want 1", atomic_load(&sig_count) - before);
	T_CHECK(atomic_load(&sig_tid) == tid, "handler ran on tid %d, want %d",
		atomic_load(&sig_tid), tid);
	return 0;
}

/* After the task resumed: exactly one handler run, on @tid. */
static int handler_ran_once(pid_t tid)
{
	T_CHECK(atomic_load(&sig_count) == 1, "handler ran %d times, want 1",
		atomic_load(&sig_count));
	T_CHECK(atomic_load(&sig_tid) == tid, "handler ran on tid %d, want %d",
		atomic_load(&sig_tid), tid);
	return 0;
}

/* The state the handler saw, when it ran during the wait. */
static int handler_saw(uint32_t want)
{
	char b[64];

	if (!STRICT)
		return 0;
	T_CHECK((atomic_load(&sig_state) & UMCG_TASK_MASK) == want,
		"handler saw state %s, want %u",
		t_state_str(atomic_load(&sig_state), b), want);
	return 0;
}

static int parker(struct t_worker *w)
{
	int r = t_park(T_FOREVER);

	t_signal_point();
	atomic_store(&w->data[1], 1);
	atomic_store(&w->data[2], r);
	return r != 0 || t_state(&w->task) != UMCG_TASK_RUNNING;
}

static int test_parked_worker(void)
{
	struct t_worker *w;
	uint32_t st = 0;
	char b[64];

	if (install(0))
		return 1;
	w = t_setup_queued(&s, parker, NULL);
	T_CHECK(w, "setup");
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_RUNNABLE),
		"did not park");
	if (signal_and_wait(w->tid, &w->task) || handler_saw(UMCG_TASK_RUNNABLE))
		return 1;
	T_CHECK(t_server_stays_idle(&s, 100 * T_MS),
		"the signal queued the parked worker");
	st = umcg_task_state(&w->task);
	T_CHECK(st == UMCG_TASK_RUNNABLE, "state %s after the handler",
		t_state_str(st, b));
	T_CHECK(atomic_load(&w->data[1]) == 0, "the wait returned (%ld) after "
		"a signal", atomic_load(&w->data[2]));
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE),
		"did not finish");
	T_CHECK(atomic_load(&w->data[2]) == 0, "park returned %ld",
		atomic_load(&w->data[2]));
	if (handler_ran_once(w->tid))
		return 1;
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

static int yielder(struct t_worker *w)
{
	int r = t_yield();

	t_signal_point();
	atomic_store(&w->data[2], r);
	return r != 0 || t_state(&w->task) != UMCG_TASK_RUNNING;
}

static int test_queued_worker(void)
{
	struct t_worker *w;
	uint32_t st = 0;
	char b[64];

	if (install(0))
		return 1;
	w = t_setup_queued(&s, yielder, NULL);
	T_CHECK(w, "setup");
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_RUNNABLE),
		"did not yield");
	T_CHECK(t_queued(&s, w),
		"yielded worker not queued");
	if (signal_and_wait(w->tid, &w->task) || handler_saw(UMCG_TASK_RUNNABLE))
		return 1;
	T_CHECK(t_server_stays_idle(&s, 100 * T_MS),
		"the signal queued the worker a second time");
	st = umcg_task_state(&w->task);
	T_CHECK(st == UMCG_TASK_RUNNABLE, "state %s after the handler",
		t_state_str(st, b));
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE),
		"did not finish");
	T_CHECK(atomic_load(&w->data[2]) == 0, "yield returned %ld",
		atomic_load(&w->data[2]));
	if (handler_ran_once(w->tid))
		return 1;
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

static int spinner(struct t_worker *w)
{
	(void)w;
	while (atomic_load(&sig_count) == 0)
		t_signal_point();
	return t_state(&w->task) != UMCG_TASK_RUNNING;
}

static atomic_int helper_err;

static void *signal_running(void *arg)
{
	struct t_worker *w = arg;

	while (t_state(&w->task) != UMCG_TASK_RUNNING)
		;
	atomic_store(&sig_task, &w->task);
	if (syscall(SYS_tgkill, getpid(), w->tid, SIGUSR1) != 0)
		atomic_store(&helper_err, errno);
	return NULL;
}

static int test_running_worker(void)
{
	struct t_worker *w;
	pthread_t th;
	char b[64];

	if (install(0))
		return 1;
	w = t_setup_queued(&s, spinner, NULL);
	T_CHECK(w, "setup");
	T_CHECK(pthread_create(&th, NULL, signal_running, w) == 0, "thread");
	T_CHECK(t_run_expect(&s, w, UMCG_TASK_NONE),
		"did not finish");
	pthread_join(th, NULL);
	T_CHECK(!atomic_load(&helper_err), "tgkill failed");
	T_CHECK(atomic_load(&sig_count) == 1, "handler ran %d times",
		atomic_load(&sig_count));
	T_CHECK((atomic_load(&sig_state) & UMCG_TASK_MASK) == UMCG_TASK_RUNNING,
		"handler saw %s", t_state_str(atomic_load(&sig_state), b));
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return 0;
}

/* A BLOCKED reader is signalled; once the handler ran, a worker writes. */
static int pipe_fds[2];

static int reader(struct t_worker *w)
{
	char c = 0;

	ssize_t n;

	atomic_store(&w->data[0], 1);
	/* No SA_RESTART: EINTR, then read again (TSan delivers only then). */
	while ((n = read(pipe_fds[0], &c, 1)) < 0 && errno == EINTR)
		atomic_fetch_add(&w->data[3], 1);
	if (n != 1 || c != 'y')
		return 1;
	return t_worker_check();
}

static int writer(struct t_worker *w)
{
	(void)w;
	while (atomic_load(&sig_count) == 0)
		if (t_yield() != 0)
			return 1;
	return write(pipe_fds[1], "y", 1) != 1;
}

static void *signal_blocked(void *arg)
{
	struct t_worker *w = arg;

	while (!atomic_load(&w->data[0]) || t_state(&w->task) != UMCG_TASK_BLOCKED)
		t_msleep(1);
	t_msleep(5);
	atomic_store(&sig_task, &w->task);
	if (syscall(SYS_tgkill, getpid(), w->tid, SIGUSR1) != 0)
		atomic_store(&helper_err, errno);
	return NULL;
}

static int test_blocked_worker(void)
{
	struct t_worker *r;
	pthread_t th;

	if (install(0))
		return 1;
	T_CHECK(pipe(pipe_fds) == 0, "pipe");
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	r = t_worker_spawn(&s, reader, NULL);
	T_CHECK(t_worker_spawn(&s, writer, NULL), "spawn");
	T_CHECK(pthread_create(&th, NULL, signal_blocked, r) == 0, "thread");
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	pthread_join(th, NULL);
	T_CHECK(!atomic_load(&helper_err), "tgkill failed");
	T_CHECK(atomic_load(&sig_count) == 1, "handler ran %d times",
		atomic_load(&sig_count));
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	return 0;
}

/* A server sleeping in umcg_wait(): the handler runs, the wait goes on. */
static void *signal_then_kick(void *arg)
{
	(void)arg;
	while (umcg_task_state(&s.task) != UMCG_TASK_RUNNABLE)
		;
	if (signal_and_wait(s.tid, &s.task))
		atomic_store(&helper_err, 1);
	else if (umcg_kick(0, s.tid) != 0)
		atomic_store(&helper_err, errno);
	return NULL;
}

static int test_waiting_server(void)
{
	pthread_t th;
	int r;

	if (install(0))
		return 1;
	atomic_store(&helper_err, 0);
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	T_CHECK(pthread_create(&th, NULL, signal_then_kick, NULL) == 0, "thread");
	r = t_server_wait(&s, 0, t_after(s.clock, 20 * T_SEC));
	t_signal_point();
	pthread_join(th, NULL);
	T_CHECK(!atomic_load(&helper_err), "helper failed");
	T_CHECK(r == 0, "server wait returned %d after signal + kick, want 0", r);
	if (handler_saw(UMCG_TASK_RUNNABLE) || handler_ran_once(s.tid))
		return 1;
	T_CHECK(umcg_task_state(&s.task) == UMCG_TASK_RUNNING, "state %#x",
		umcg_task_state(&s.task));
	t_server_fini(&s);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 90);
	T_RUN(test_parked_worker, nfail);
	T_RUN(test_queued_worker, nfail);
	T_RUN(test_running_worker, nfail);
	T_RUN(test_blocked_worker, nfail);
	T_RUN(test_waiting_server, nfail);
	return t_finish(nfail);
}
