/* SPDX-License-Identifier: MIT */
/*
 * Description: a worker that blocks in a hooked libc call gives its server
 * the CPU.  For each blocking family (pipe read with a delayed writer, a
 * write into a full pipe, recv, poll, select, epoll_wait, nanosleep, usleep,
 * a mutex held by another thread, a condition wait, a rwlock, a semaphore,
 * a barrier, pthread_join, waitpid): worker A makes the call; worker B,
 * run by the same server, must see A BLOCKED while A waits (so the server
 * saw the block and ran someone else); only then does a plain thread
 * release A, and A must come back through its server's runnable list
 * (QUEUED after BLOCKED in the server's log) with the call's normal result.
 *
 * Without the hooks A would hold the server's only CPU while it waits, B
 * would never run, and the case fails once the release timeout (5 s) has
 * passed.
 */
#include <fcntl.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_helpers.h"

/* Everything one case shares between A, B, the releaser and main. */
struct ctx {
	int fd[2];		/* a pipe or a socketpair */
	int epfd;
	pthread_mutex_t m;
	pthread_cond_t c;
	pthread_rwlock_t rw;
	sem_t sem;
	pthread_barrier_t bar;
	pthread_t other;	/* a thread for A to join */
	pid_t child;		/* a child for A to wait for */
	int flag;		/* the condition, under m */
	struct t_worker *a;
	atomic_int held;	/* the releaser holds what A will wait for */
	atomic_int a_started;	/* A runs its blocking call now */
	atomic_int saw_blocked;	/* B saw A BLOCKED */
	atomic_int released;
	void (*hold)(struct ctx *c);	/* releaser, before A starts */
	void (*release)(struct ctx *c);	/* releaser, once A is seen BLOCKED */
};

/* ---- what A does: one blocking call each, 0 when its result is right ---- */

static int a_read(struct ctx *c)
{
	char ch = 0;
	ssize_t n = read(c->fd[0], &ch, 1);

	if (n != 1 || ch != 'x') {
		fprintf(stderr, "read: got %zd '%c', want 1 'x'\n", n, ch);
		return 1;
	}
	return 0;
}

static int a_write_full(struct ctx *c)
{
	ssize_t n = write(c->fd[1], "y", 1);

	if (n != 1) {
		fprintf(stderr, "write into a full pipe: got %zd (%s)\n", n,
			strerror(errno));
		return 1;
	}
	return 0;
}

static int a_recv(struct ctx *c)
{
	char ch = 0;
	ssize_t n = recv(c->fd[0], &ch, 1, 0);

	if (n != 1 || ch != 'x') {
		fprintf(stderr, "recv: got %zd '%c'\n", n, ch);
		return 1;
	}
	return 0;
}

/* What a program built with -D_FORTIFY_SOURCE calls instead of read(). */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);

static int a_read_chk(struct ctx *c)
{
	char ch[4] = { 0 };
	ssize_t n = __read_chk(c->fd[0], ch, 1, sizeof(ch));

	if (n != 1 || ch[0] != 'x') {
		fprintf(stderr, "__read_chk: got %zd '%c', want 1 'x'\n", n,
			ch[0]);
		return 1;
	}
	return 0;
}

static int a_poll_chk(struct ctx *c)
{
	struct pollfd p = { .fd = c->fd[0], .events = POLLIN };
	int n = __poll_chk(&p, 1, 10000, sizeof(p));

	if (n != 1 || !(p.revents & POLLIN)) {
		fprintf(stderr, "__poll_chk: got %d revents %#x\n", n,
			p.revents);
		return 1;
	}
	return 0;
}

static int a_poll(struct ctx *c)
{
	struct pollfd p = { .fd = c->fd[0], .events = POLLIN };
	int n = poll(&p, 1, 10000);

	if (n != 1 || !(p.revents & POLLIN)) {
		fprintf(stderr, "poll: got %d revents %#x\n", n, p.revents);
		return 1;
	}
	return 0;
}

static int a_select(struct ctx *c)
{
	fd_set r;
	struct timeval tv = { 10, 0 };
	int n;

	FD_ZERO(&r);
	FD_SET(c->fd[0], &r);
	n = select(c->fd[0] + 1, &r, NULL, NULL, &tv);
	if (n != 1 || !FD_ISSET(c->fd[0], &r)) {
		fprintf(stderr, "select: got %d\n", n);
		return 1;
	}
	return 0;
}

static int a_epoll(struct ctx *c)
{
	struct epoll_event ev;
	int n = epoll_wait(c->epfd, &ev, 1, 10000);

	if (n != 1 || ev.data.fd != c->fd[0]) {
		fprintf(stderr, "epoll_wait: got %d\n", n);
		return 1;
	}
	return 0;
}

static int a_nanosleep(struct ctx *c)
{
	struct timespec ts = { 0, 200 * 1000 * 1000 };

	(void)c;
	return nanosleep(&ts, NULL) != 0;
}

static int a_usleep(struct ctx *c)
{
	(void)c;
	return usleep(200 * 1000) != 0;
}

static int a_mutex(struct ctx *c)
{
	int r = pthread_mutex_lock(&c->m);

	if (r) {
		fprintf(stderr, "pthread_mutex_lock: %s\n", strerror(r));
		return 1;
	}
	r = atomic_load(&c->released) ? 0 : 1;
	if (r)
		fprintf(stderr, "got the mutex before it was released\n");
	pthread_mutex_unlock(&c->m);
	return r;
}

static int a_cond(struct ctx *c)
{
	pthread_mutex_lock(&c->m);
	while (!c->flag)
		pthread_cond_wait(&c->c, &c->m);
	pthread_mutex_unlock(&c->m);
	return 0;
}

static int a_rwlock(struct ctx *c)
{
	int r = pthread_rwlock_rdlock(&c->rw);

	if (r) {
		fprintf(stderr, "pthread_rwlock_rdlock: %s\n", strerror(r));
		return 1;
	}
	pthread_rwlock_unlock(&c->rw);
	return 0;
}

static int a_sem(struct ctx *c)
{
	if (sem_wait(&c->sem) != 0) {
		fprintf(stderr, "sem_wait: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

/* A deadline far enough away that only the post ends the wait. */
static struct timespec sem_deadline(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	ts.tv_sec += 30;
	return ts;
}

static int a_sem_timed(struct ctx *c)
{
	struct timespec ts = sem_deadline(CLOCK_REALTIME);

	if (sem_timedwait(&c->sem, &ts) != 0) {
		fprintf(stderr, "sem_timedwait: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

static int a_sem_clock(struct ctx *c)
{
	struct timespec ts = sem_deadline(CLOCK_MONOTONIC);

	if (sem_clockwait(&c->sem, CLOCK_MONOTONIC, &ts) != 0) {
		fprintf(stderr, "sem_clockwait: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

static int a_barrier(struct ctx *c)
{
	int r = pthread_barrier_wait(&c->bar);

	if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD) {
		fprintf(stderr, "pthread_barrier_wait: %s\n", strerror(r));
		return 1;
	}
	return 0;
}

static int a_join(struct ctx *c)
{
	void *ret = NULL;
	int r = pthread_join(c->other, &ret);

	if (r || ret != (void *)c) {
		fprintf(stderr, "pthread_join: %s, ret %p\n", strerror(r), ret);
		return 1;
	}
	return 0;
}

static int a_waitpid(struct ctx *c)
{
	int st = 0;
	pid_t r = waitpid(c->child, &st, 0);

	if (r != c->child || !WIFEXITED(st) || WEXITSTATUS(st) != 7) {
		fprintf(stderr, "waitpid: got %d status %#x\n", (int)r, st);
		return 1;
	}
	return 0;
}

/* ---- how the releaser holds and lets go --------------------------------- */

static void put_x(struct ctx *c)
{
	if (write(c->fd[1], "x", 1) != 1)
		perror("write");
}

static void drain(struct ctx *c)
{
	char buf[4096];

	if (read(c->fd[0], buf, sizeof(buf)) <= 0)
		perror("read");
}

static void lock_m(struct ctx *c)
{
	pthread_mutex_lock(&c->m);
}

static void unlock_m(struct ctx *c)
{
	pthread_mutex_unlock(&c->m);
}

static void signal_c(struct ctx *c)
{
	pthread_mutex_lock(&c->m);
	c->flag = 1;
	pthread_cond_signal(&c->c);
	pthread_mutex_unlock(&c->m);
}

static void wrlock_rw(struct ctx *c)
{
	pthread_rwlock_wrlock(&c->rw);
}

static void unlock_rw(struct ctx *c)
{
	pthread_rwlock_unlock(&c->rw);
}

static void post_sem(struct ctx *c)
{
	sem_post(&c->sem);
}

static void meet_bar(struct ctx *c)
{
	pthread_barrier_wait(&c->bar);
}

/* ---- the scenario ------------------------------------------------------- */

static int worker_a(struct t_worker *w)
{
	struct ctx *c = w->arg;
	int (*fn)(struct ctx *) = (int (*)(struct ctx *))atomic_load(&w->data[0]);

	atomic_store(&c->a_started, 1);
	return fn(c);
}

/*
 * B: give the CPU back until A is seen BLOCKED in its call (at most 5 s).
 * A new worker is BLOCKED until its server first runs it (umcg_ctl(2)), so
 * only a BLOCKED seen after A started counts: B may run before A does.
 */
static int worker_b(struct t_worker *w)
{
	struct ctx *c = w->arg;
	uint64_t end = t_after(CLOCK_MONOTONIC, 5 * T_SEC);

	while (t_now(CLOCK_MONOTONIC) < end) {
		if (atomic_load(&c->a_started) &&
		    t_state(&c->a->task) == UMCG_TASK_BLOCKED) {
			atomic_store(&c->saw_blocked, 1);
			return 0;
		}
		t_yield();
	}
	fprintf(stderr, "worker B never saw worker A BLOCKED\n");
	return 1;
}

static void *releaser(void *arg)
{
	struct ctx *c = arg;

	if (c->hold)
		c->hold(c);
	atomic_store(&c->held, 1);
	for (int i = 0; i < 5000 && !atomic_load(&c->saw_blocked); i++)
		t_msleep(1);
	t_msleep(20);	/* A stays BLOCKED: nothing woke it yet */
	atomic_store(&c->released, 1);
	if (c->release)
		c->release(c);
	return NULL;
}

static int run_case(struct ctx *c, int (*fn)(struct ctx *))
{
	struct t_server s;
	struct t_worker *b;
	pthread_t rel;
	int blocked, queued, r, ra, rb;

	if (pthread_create(&rel, NULL, releaser, c))
		T_FAIL("pthread_create");
	while (!atomic_load(&c->held))
		t_msleep(1);
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "server");
	c->a = t_worker_new(&s, worker_a, c);
	T_CHECK(c->a, "worker A");
	atomic_store(&c->a->data[0], (long)fn);
	T_CHECK(t_worker_start(c->a) == 0, "start A");
	b = t_worker_spawn(&s, worker_b, c);
	T_CHECK(b, "worker B");
	r = t_server_run(&s);
	pthread_join(rel, NULL);
	blocked = t_log_find(&s.log, 0, T_EV_BLOCKED, c->a->idx);
	queued = blocked < 0 ? -1 : t_log_find(&s.log, blocked, T_EV_QUEUED,
					       c->a->idx);
	ra = atomic_load(&c->a->result);
	rb = atomic_load(&b->result);
	if (r || ra || rb || blocked < 0 || queued < 0)
		t_log_dump(&s.log, "of the server");
	t_server_fini(&s);
	T_CHECK(!r && !ra && !rb && blocked >= 0 && queued >= 0,
		"server %d, A result %d, B result %d, A BLOCKED at event %d, "
		"QUEUED again at %d", r, ra, rb, blocked, queued);
	return 0;
}

static struct ctx *ctx_new(void)
{
	struct ctx *c = calloc(1, sizeof(*c));

	c->fd[0] = c->fd[1] = c->epfd = -1;
	pthread_mutex_init(&c->m, NULL);
	pthread_cond_init(&c->c, NULL);
	pthread_rwlock_init(&c->rw, NULL);
	sem_init(&c->sem, 0, 0);
	pthread_barrier_init(&c->bar, NULL, 2);
	return c;
}

static void ctx_free(struct ctx *c)
{
	for (int i = 0; i < 2; i++)
		if (c->fd[i] >= 0)
			close(c->fd[i]);
	if (c->epfd >= 0)
		close(c->epfd);
	pthread_mutex_destroy(&c->m);
	pthread_cond_destroy(&c->c);
	pthread_rwlock_destroy(&c->rw);
	sem_destroy(&c->sem);
	pthread_barrier_destroy(&c->bar);
	free(c);
}

/* A case over a fresh pipe (or socketpair): A runs @fn, the releaser @rel. */
static int fd_case(int (*fn)(struct ctx *), void (*rel)(struct ctx *),
		   int sock)
{
	struct ctx *c = ctx_new();
	int r;

	if (sock ? socketpair(AF_UNIX, SOCK_STREAM, 0, c->fd) : pipe(c->fd))
		T_FAIL("pipe: %s", strerror(errno));
	c->release = rel;
	r = run_case(c, fn);
	ctx_free(c);
	return r;
}

static int test_pipe_read(void)
{
	return fd_case(a_read, put_x, 0);
}

static int test_read_chk(void)
{
	return fd_case(a_read_chk, put_x, 0);
}

static int test_poll_chk(void)
{
	return fd_case(a_poll_chk, put_x, 0);
}

static int test_recv(void)
{
	return fd_case(a_recv, put_x, 1);
}

static int test_poll(void)
{
	return fd_case(a_poll, put_x, 0);
}

static int test_select(void)
{
	return fd_case(a_select, put_x, 0);
}

static int test_pipe_write_full(void)
{
	struct ctx *c = ctx_new();
	char buf[4096] = { 0 };
	int fl, r;

	if (pipe(c->fd))
		T_FAIL("pipe: %s", strerror(errno));
	/* Fill it without blocking, then make it blocking again. */
	fl = fcntl(c->fd[1], F_GETFL);
	fcntl(c->fd[1], F_SETFL, fl | O_NONBLOCK);
	while (write(c->fd[1], buf, sizeof(buf)) > 0)
		;
	fcntl(c->fd[1], F_SETFL, fl);
	c->release = drain;
	r = run_case(c, a_write_full);
	ctx_free(c);
	return r;
}

static int test_epoll_wait(void)
{
	struct ctx *c = ctx_new();
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	if (pipe(c->fd) || (c->epfd = epoll_create1(0)) < 0)
		T_FAIL("pipe/epoll_create1: %s", strerror(errno));
	ev.data.fd = c->fd[0];
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->fd[0], &ev))
		T_FAIL("epoll_ctl: %s", strerror(errno));
	c->release = put_x;
	r = run_case(c, a_epoll);
	ctx_free(c);
	return r;
}

/* A case with no descriptors: @hold before A starts, @rel once it blocks. */
static int sync_case(int (*fn)(struct ctx *), void (*hold)(struct ctx *),
		     void (*rel)(struct ctx *))
{
	struct ctx *c = ctx_new();
	int r;

	c->hold = hold;
	c->release = rel;
	r = run_case(c, fn);
	ctx_free(c);
	return r;
}

static int test_nanosleep(void)
{
	return sync_case(a_nanosleep, NULL, NULL);
}

static int test_usleep(void)
{
	return sync_case(a_usleep, NULL, NULL);
}

static int test_mutex(void)
{
	return sync_case(a_mutex, lock_m, unlock_m);
}

static int test_cond_wait(void)
{
	return sync_case(a_cond, NULL, signal_c);
}

static int test_rwlock(void)
{
	return sync_case(a_rwlock, wrlock_rw, unlock_rw);
}

static int test_sem_wait(void)
{
	return sync_case(a_sem, NULL, post_sem);
}

static int test_sem_timedwait(void)
{
	return sync_case(a_sem_timed, NULL, post_sem);
}

static int test_sem_clockwait(void)
{
	return sync_case(a_sem_clock, NULL, post_sem);
}

/*
 * The timed semaphore waits' own results, outside UMCG and in a worker
 * (the fully static build reaches libc another way than the shared one):
 * a token is taken, an empty semaphore times out, a bad deadline or clock
 * is EINVAL, and a waiter that gave up leaves no waiter count behind that
 * would make the next post wake nobody.
 */
static int sem_results(void)
{
	struct timespec past = { .tv_sec = 0, .tv_nsec = 0 };
	struct timespec bad = { .tv_sec = 0, .tv_nsec = 1000000000L };
	struct timespec soon;
	sem_t sem;
	int v = -1;

	if (sem_init(&sem, 0, 1))
		return 1;
	soon = sem_deadline(CLOCK_REALTIME);
	if (sem_timedwait(&sem, &soon) != 0)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &soon);
	soon.tv_nsec += 2000000;
	if (soon.tv_nsec >= 1000000000L) {
		soon.tv_sec++;
		soon.tv_nsec -= 1000000000L;
	}
	errno = 0;
	if (sem_clockwait(&sem, CLOCK_MONOTONIC, &soon) != -1 || errno != ETIMEDOUT)
		return 3;
	errno = 0;
	if (sem_timedwait(&sem, &past) != -1 || errno != ETIMEDOUT)
		return 4;
	errno = 0;
	if (sem_timedwait(&sem, &bad) != -1 || errno != EINVAL)
		return 5;
	errno = 0;
	if (sem_clockwait(&sem, CLOCK_PROCESS_CPUTIME_ID, &soon) != -1 ||
	    errno != EINVAL)
		return 6;
	if (sem_post(&sem) || sem_getvalue(&sem, &v) || v != 1)
		return 7;
	if (sem_trywait(&sem) || sem_destroy(&sem))
		return 8;
	return 0;
}

static void *post_later(void *arg)
{
	t_msleep(5);
	sem_post(arg);
	return NULL;
}

/* A post wakes a timed waiter, for a private and a process-shared sem_t. */
static int sem_post_wakes(int pshared)
{
	struct timespec ts = sem_deadline(CLOCK_MONOTONIC);
	pthread_t t;
	sem_t sem;
	int r;

	if (sem_init(&sem, pshared, 0) || pthread_create(&t, NULL, post_later, &sem))
		return 1;
	r = sem_clockwait(&sem, CLOCK_MONOTONIC, &ts);
	pthread_join(t, NULL);
	sem_destroy(&sem);
	return r;
}

static int sem_results_worker(struct t_worker *w)
{
	(void)w;
	return sem_results();
}

static int test_sem_timed_results(void)
{
	struct t_server s;
	int r;

	r = sem_results();
	T_CHECK(r == 0, "outside UMCG: step %d failed (errno %s)", r,
		strerror(errno));
	T_CHECK(sem_post_wakes(0) == 0, "private: %s", strerror(errno));
	T_CHECK(sem_post_wakes(1) == 0, "process-shared: %s", strerror(errno));
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "server");
	T_CHECK(t_worker_spawn(&s, sem_results_worker, NULL), "worker");
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	r = t_workers_failed(&s);
	t_server_fini(&s);
	T_CHECK(r == 0, "in a worker: a step failed");
	return 0;
}

static int test_barrier(void)
{
	return sync_case(a_barrier, NULL, meet_bar);
}

static void *joinee(void *arg)
{
	struct ctx *c = arg;

	while (!atomic_load(&c->released))
		t_msleep(1);
	return c;
}

static int test_join(void)
{
	struct ctx *c = ctx_new();
	int r;

	if (pthread_create(&c->other, NULL, joinee, c))
		T_FAIL("pthread_create");
	r = run_case(c, a_join);
	ctx_free(c);
	return r;
}

static int test_waitpid(void)
{
	struct ctx *c = ctx_new();
	int r;
	char ch;

	if (pipe(c->fd))
		T_FAIL("pipe: %s", strerror(errno));
	c->child = fork();
	if (c->child < 0)
		T_FAIL("fork: %s", strerror(errno));
	if (c->child == 0) {
		/* Exit once the releaser writes. */
		close(c->fd[1]);
		_exit(read(c->fd[0], &ch, 1) == 1 ? 7 : 1);
	}
	c->release = put_x;
	r = run_case(c, a_waitpid);
	ctx_free(c);
	return r;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 120);
	T_RUN(test_pipe_read, nfail);
	T_RUN(test_read_chk, nfail);
	T_RUN(test_poll_chk, nfail);
	T_RUN(test_pipe_write_full, nfail);
	T_RUN(test_recv, nfail);
	T_RUN(test_poll, nfail);
	T_RUN(test_select, nfail);
	T_RUN(test_epoll_wait, nfail);
	T_RUN(test_nanosleep, nfail);
	T_RUN(test_usleep, nfail);
	T_RUN(test_mutex, nfail);
	T_RUN(test_cond_wait, nfail);
	T_RUN(test_rwlock, nfail);
	T_RUN(test_sem_wait, nfail);
	T_RUN(test_sem_timedwait, nfail);
	T_RUN(test_sem_clockwait, nfail);
	T_RUN(test_sem_timed_results, nfail);
	T_RUN(test_barrier, nfail);
	T_RUN(test_join, nfail);
	T_RUN(test_waitpid, nfail);
	return t_finish(nfail);
}
