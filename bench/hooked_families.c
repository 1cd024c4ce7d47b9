// SPDX-License-Identifier: MIT
/*
 * hooked_families: the fast path of every family of libc hooks, in a
 * RUNNING worker, against libc's own function in the same worker.
 *
 * Each pair runs a call that cannot wait -- data is there, the lock is
 * free, the fd is ready -- through the hook (which tries without blocking
 * and must not declare a block) and through libc's definition looked up
 * in libc.so.6 itself.  The last pair is the price the fast path avoids:
 * pthread_barrier_wait() on a barrier of one never waits, but its hook
 * always declares a block (umcg_sys_enter/exit: BLOCKED, server woken,
 * RUNNABLE, queued, run again).
 *
 * Results (median of per-batch means, ns per operation, batches of all
 * pairs interleaved):
 *  hooked_pread      pread() of 1 cached byte at offset 0
 *  hooked_recv_short send() 1 byte, recv() it into a 64-byte buffer
 *  hooked_read_short write() 1 byte, read() it into a 64-byte buffer
 *  hooked_poll       poll() of a readable pipe, timeout -1
 *  hooked_select     select() of a readable pipe, no timeout
 *  hooked_epoll      epoll_wait() with an event ready, timeout -1
 *  hooked_mutex      pthread_mutex_lock() + unlock of a free mutex
 *  hooked_sem        sem_post() + sem_wait()
 *  hooked_open       open() + close() of a regular file
 *  hooked_declared   a declared block that did not need to be
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#include "bench.h"

#define OPS		128
#define ROUNDS		20
#define PER_ROUND	2

static struct bench_sched server;
static struct bench_worker worker;
static void *libc;
static int file_fd, pipe_fd[2], rw_fd[2], sock[2], ep;
static char file_path[4096];
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t barrier;
static sem_t sem;

static void *libc_sym(const char *name)
{
	void *p = libc ? dlsym(libc, name) : NULL;

	if (!p)
		bench_die(name);
	return p;
}

/* libc's @f, looked up once per call site. */
#define LIBC(f) __extension__ ({					\
	static __typeof__(&f) libc_##f;					\
	if (!libc_##f)							\
		libc_##f = (__typeof__(&f))libc_sym(#f);		\
	libc_##f;							\
})

static void must(long r, long want, const char *what)
{
	if (r != want)
		bench_die(what);
}

/* One operation of each kind; @raw: call libc's function, not the hook. */
static void op_pread(int raw)
{
	char c;

	must((raw ? LIBC(pread) : pread)(file_fd, &c, 1, 0), 1, "pread");
}

static void op_recv_short(int raw)
{
	char buf[64] = "x";

	must((raw ? LIBC(send) : send)(sock[0], buf, 1, 0), 1, "send");
	must((raw ? LIBC(recv) : recv)(sock[1], buf, sizeof(buf), 0), 1, "recv");
}

static void op_read_short(int raw)
{
	char buf[64] = "x";

	must((raw ? LIBC(write) : write)(rw_fd[1], buf, 1), 1, "write");
	must((raw ? LIBC(read) : read)(rw_fd[0], buf, sizeof(buf)), 1, "read");
}

static void op_poll(int raw)
{
	struct pollfd p = { .fd = pipe_fd[0], .events = POLLIN };

	must((raw ? LIBC(poll) : poll)(&p, 1, -1), 1, "poll");
}

static void op_select(int raw)
{
	fd_set r;

	FD_ZERO(&r);
	FD_SET(pipe_fd[0], &r);
	must((raw ? LIBC(select) : select)(pipe_fd[0] + 1, &r, NULL, NULL,
					   NULL), 1, "select");
}

static void op_epoll(int raw)
{
	struct epoll_event ev;

	must((raw ? LIBC(epoll_wait) : epoll_wait)(ep, &ev, 1, -1), 1,
	     "epoll_wait");
}

static void op_mutex(int raw)
{
	must((raw ? LIBC(pthread_mutex_lock) : pthread_mutex_lock)(&mutex), 0,
	     "lock");
	pthread_mutex_unlock(&mutex);
}

static void op_sem(int raw)
{
	sem_post(&sem);
	must((raw ? LIBC(sem_wait) : sem_wait)(&sem), 0, "sem_wait");
}

static void op_open(int raw)
{
	int fd = (raw ? LIBC(open) : open)(file_path, O_RDONLY);

	if (fd < 0)
		bench_die("open");
	close(fd);
}

static void op_declared(int raw)
{
	int r = (raw ? LIBC(pthread_barrier_wait) : pthread_barrier_wait)(&barrier);

	must(r, PTHREAD_BARRIER_SERIAL_THREAD, "pthread_barrier_wait");
}

static const struct {
	const char *name;
	void (*op)(int raw);
} pairs[] = {
	{ "hooked_pread", op_pread },
	{ "hooked_recv_short", op_recv_short },
	{ "hooked_read_short", op_read_short },
	{ "hooked_poll", op_poll },
	{ "hooked_select", op_select },
	{ "hooked_epoll", op_epoll },
	{ "hooked_mutex", op_mutex },
	{ "hooked_sem", op_sem },
	{ "hooked_open", op_open },
	{ "hooked_declared", op_declared },
};

#define NPAIRS	(sizeof(pairs) / sizeof(pairs[0]))
#define NKINDS	(2 * NPAIRS)

/* The batch the worker runs next time it is dispatched. */
static int job = -1;
static struct bench_series *job_out;

static void worker_fn(struct bench_worker *self)
{
	for (;;) {
		if (job >= 0) {
			void (*op)(int) = pairs[job / 2].op;
			int raw = job % 2;
			uint64_t t0 = bench_now();

			for (int i = 0; i < OPS; i++)
				op(raw);
			if (job_out)
				bench_series_add(job_out, (double)(bench_now() - t0) / OPS);
			job = -1;
		}
		bench_worker_yield(self);
	}
}

static enum bench_phase phase(struct bench_sched *s, void *arg)
{
	(void)arg;
	if (job >= 0)
		return BENCH_GO;
	return s->qlen == 1 ? BENCH_RETURN : BENCH_HOLD;
}

static void in_worker(int kind, struct bench_series *out)
{
	job_out = out;
	job = kind;
	bench_sched_run(&server, NULL, phase, NULL);
}

/* One trampoline per kind: bench_interleave() wants plain functions. */
#define K(n) static void k##n(struct bench_series *o) { in_worker(n, o); }
K(0) K(1) K(2) K(3) K(4) K(5) K(6) K(7) K(8) K(9)
K(10) K(11) K(12) K(13) K(14) K(15) K(16) K(17) K(18) K(19)
#undef K

static void setup(void)
{
	const char *dir = getenv("TMPDIR");
	struct epoll_event ev = { .events = EPOLLIN };

	libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	snprintf(file_path, sizeof(file_path), "%s/umcg-bench-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	file_fd = mkstemp(file_path);
	if (file_fd < 0 || write(file_fd, "u", 1) != 1)
		bench_die(file_path);
	if (pipe(pipe_fd) || pipe(rw_fd) || socketpair(AF_UNIX, SOCK_STREAM, 0, sock))
		bench_die("pipe");
	/* The pipe stays readable: one byte that nobody reads but read(). */
	if (write(pipe_fd[1], "r", 1) != 1)
		bench_die("write");
	ep = epoll_create1(0);
	ev.data.fd = pipe_fd[0];
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, pipe_fd[0], &ev))
		bench_die("epoll");
	pthread_barrier_init(&barrier, NULL, 1);
	sem_init(&sem, 0, 0);
}

int main(void)
{
	static void (*const fns[NKINDS])(struct bench_series *) = {
		k0, k1, k2, k3, k4, k5, k6, k7, k8, k9,
		k10, k11, k12, k13, k14, k15, k16, k17, k18, k19,
	};
	struct bench_series res[NKINDS];

	_Static_assert(NKINDS == 20, "one trampoline per kind");
	memset(res, 0, sizeof(res));
	bench_note("cpu %d, backend %s", bench_pin(), umcg_backend_name());
	setup();
	bench_sched_init(&server);
	bench_worker_start(&server, &worker, worker_fn, NULL);
	bench_interleave(bench_scaled(ROUNDS), PER_ROUND, NKINDS, fns, res);
	for (unsigned i = 0; i < NPAIRS; i++)
		bench_report(pairs[i].name, &res[2 * i], &res[2 * i + 1]);
	unlink(file_path);
	return 0;
}
