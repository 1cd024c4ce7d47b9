/* SPDX-License-Identifier: MIT */
/*
 * Description: the toolkit's lifetime and observability.  A scheduler is
 * created and destroyed with no worker and with other attributes;
 * umcg_sched_destroy() returns with workers in every state when it is
 * called (running, queued, blocked in a system call, sleeping, waiting on a
 * condition variable, on a mutex, already exited, just spawned) once each
 * has finished, leaving nothing behind (AddressSanitizer checks the leaks);
 * the dump lists every worker and server, from a plain call and from the
 * SIGQUIT handler that UMCG_DUMP_ON_SIGQUIT=1 installs.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <umcg_sched.h>

#include "t_helpers.h"

enum { W_SPIN0, W_SPIN1, W_QUEUED, W_BLOCKED, W_SLEEP, W_COND, W_MUTEX,
       W_EXITED, W__COUNT };

static struct {
	struct umcg_sched *s;
	struct umcg_mutex m;
	struct umcg_cond c;
	int pipe[2];
	atomic_int in_state[W__COUNT];
	atomic_int done[W__COUNT];
} ctx;

static void *stater(void *arg)
{
	int role = (int)(intptr_t)arg;
	char ch;

	switch (role) {
	case W_SPIN0:
		/* Holds the mutex and a server until the scheduler stops. */
		umcg_mutex_lock(&ctx.m);
		atomic_store(&ctx.in_state[role], 1);
		while (!umcg_sched_stopping(ctx.s))
			;
		umcg_mutex_unlock(&ctx.m);
		umcg_mutex_lock(&ctx.m);
		umcg_cond_broadcast(&ctx.c);
		umcg_mutex_unlock(&ctx.m);
		break;
	case W_SPIN1:
		atomic_store(&ctx.in_state[role], 1);
		while (!umcg_sched_stopping(ctx.s))
			;
		break;
	case W_QUEUED:
		atomic_store(&ctx.in_state[role], 1);
		while (!umcg_sched_stopping(ctx.s))
			umcg_worker_yield();
		break;
	case W_BLOCKED:
		atomic_store(&ctx.in_state[role], 1);
		if (read(ctx.pipe[0], &ch, 1) != 1)
			return (void *)1;
		break;
	case W_SLEEP:
		atomic_store(&ctx.in_state[role], 1);
		while (!umcg_sched_stopping(ctx.s))
			umcg_worker_sleep(2 * T_MS);
		break;
	case W_COND:
		umcg_mutex_lock(&ctx.m);
		atomic_store(&ctx.in_state[role], 1);
		while (!umcg_sched_stopping(ctx.s))
			umcg_cond_wait(&ctx.c, &ctx.m);
		umcg_mutex_unlock(&ctx.m);
		break;
	case W_MUTEX:
		atomic_store(&ctx.in_state[role], 1);
		umcg_mutex_lock(&ctx.m);
		umcg_mutex_unlock(&ctx.m);
		break;
	case W_EXITED:
		atomic_store(&ctx.in_state[role], 1);
		break;
	}
	atomic_store(&ctx.done[role], 1);
	return NULL;
}

static void *late(void *arg)
{
	(void)arg;
	return NULL;
}

static void *unblock_later(void *arg)
{
	(void)arg;
	/* After destroy has started: the blocked worker is in read(). */
	while (!umcg_sched_stopping(ctx.s))
		t_msleep(1);
	t_msleep(20);
	if (write(ctx.pipe[1], "x", 1) != 1)
		return (void *)1;
	return NULL;
}

static int test_destroy_with_workers_in_every_state(void)
{
	struct umcg_sched_attr a;
	pthread_t helper;
	int null_fd;

	memset(&ctx, 0, sizeof(ctx));
	T_CHECK(pipe(ctx.pipe) == 0, "pipe");
	umcg_sched_attr_init(&a);
	a.nr_servers = 2;
	a.policy = umcg_policy_fifo;
	T_CHECK_OK(umcg_sched_create(&ctx.s, &a));
	/* The two spinners first: both servers busy, the rest queue. */
	for (int r = 0; r < W__COUNT; r++) {
		T_CHECK_OK(umcg_worker_spawn(ctx.s, NULL, stater, (void *)(intptr_t)r, NULL));
		if (r == W_SPIN0 || r == W_SPIN1)
			while (!atomic_load(&ctx.in_state[r]))
				t_msleep(1);
	}
	T_CHECK_OK(umcg_worker_spawn(ctx.s, NULL, late, NULL, NULL));
	T_CHECK(pthread_create(&helper, NULL, unblock_later, NULL) == 0, "helper");
	/* Not waiting for the others to reach their state: destroy must
	 * cope with workers anywhere between spawn and exit. */
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	T_CHECK_OK(umcg_sched_dump(ctx.s, null_fd));
	close(null_fd);
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	pthread_join(helper, NULL);
	close(ctx.pipe[0]);
	close(ctx.pipe[1]);
	for (int r = 0; r < W__COUNT; r++)
		T_CHECK(atomic_load(&ctx.done[r]), "worker role %d did not finish", r);
	return 0;
}

static void *park_forever_until_stop(void *arg)
{
	(void)arg;
	while (!umcg_sched_stopping(ctx.s))
		umcg_worker_sleep(1 * T_MS);
	return NULL;
}

static int test_create_destroy_variants(void)
{
	struct umcg_sched_attr a;
	struct umcg_sched *s;
	cpu_set_t one;

	T_CHECK_OK(umcg_sched_create(&s, NULL));
	T_CHECK(umcg_sched_nr_servers(s) >= 1, "servers");
	T_CHECK_OK(umcg_sched_destroy(s));

	umcg_sched_attr_init(&a);
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	a.cpus = &one;
	a.nr_servers = 3;	/* more servers than CPUs: round-robin */
	a.stack_size = 32 * 1024;
	a.policy = umcg_policy_slice;
	a.server_rt = 0;
	a.host_slice_ns = -1;
	T_CHECK_OK(umcg_sched_create(&s, &a));
	T_CHECK(umcg_sched_nr_servers(s) == 3, "3 servers");
	for (int i = 0; i < 3; i++)
		T_CHECK(umcg_server_cpu(umcg_sched_server(s, i)) == 0, "cpu");
	ctx.s = s;
	for (int i = 0; i < 4; i++)
		T_CHECK_OK(umcg_worker_spawn(s, NULL, park_forever_until_stop, NULL, NULL));
	T_CHECK_OK(umcg_sched_destroy(s));

	a.nr_servers = -1;
	T_CHECK(umcg_sched_create(&s, &a) == -EINVAL, "negative servers");
	return 0;
}

/* Read what @fd's other end got, up to @cap - 1 bytes. */
static size_t drain(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t r;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (len < cap - 1 && (r = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = 0;
	return len;
}

static int count_lines(const char *buf, const char *prefix)
{
	int n = 0;

	for (const char *p = buf; (p = strstr(p, prefix)); p++)
		n++;
	return n;
}

static void *idle_worker(void *arg)
{
	(void)arg;
	while (!umcg_sched_stopping(ctx.s))
		umcg_worker_sleep(1 * T_MS);
	return NULL;
}

static int test_dump_and_sigquit(void)
{
	static char buf[16384];
	int p[2], saved;

	memset(&ctx, 0, sizeof(ctx));
	T_CHECK(pipe(p) == 0, "pipe");
	T_CHECK_OK(umcg_sched_create(&ctx.s, NULL));
	for (int i = 0; i < 5; i++)
		T_CHECK_OK(umcg_worker_spawn(ctx.s, NULL, idle_worker, NULL, NULL));

	T_CHECK_OK(umcg_sched_dump(ctx.s, p[1]));
	drain(p[0], buf, sizeof(buf));
	T_CHECK(count_lines(buf, "  worker ") == 5, "dump lists %d workers:\n%s",
		count_lines(buf, "  worker "), buf);
	T_CHECK(count_lines(buf, " server ") == umcg_sched_nr_servers(ctx.s),
		"dump lists the servers:\n%s", buf);

	/* SIGQUIT: the handler writes to stderr; point stderr at the pipe. */
	saved = dup(2);
	dup2(p[1], 2);
	raise(SIGQUIT);
	dup2(saved, 2);
	close(saved);
	drain(p[0], buf, sizeof(buf));
	T_CHECK(strstr(buf, "umcg sched policy=fifo"), "no dump on SIGQUIT: '%s'", buf);
	T_CHECK(count_lines(buf, "  worker ") >= 5, "SIGQUIT dump lists %d workers",
		count_lines(buf, "  worker "));

	umcg_sched_stop(ctx.s);
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	close(p[0]);
	close(p[1]);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	/* Read at the first umcg_sched_create() of the process. */
	setenv("UMCG_DUMP_ON_SIGQUIT", "1", 1);
	t_init(argv[0], 100);
	T_RUN(test_create_destroy_variants, nfail);
	T_RUN(test_destroy_with_workers_in_every_state, nfail);
	T_RUN(test_dump_and_sigquit, nfail);
	return t_finish(nfail);
}
