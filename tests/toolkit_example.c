// SPDX-License-Identifier: MIT
/*
 * toolkit_example: the README's toolkit snippet made a whole program, on
 * one server so that blocking matters: a latency-critical worker (priority
 * 1, policy "prio") waits in a plain read() of a pipe that a batch worker
 * of the same server fills, a message at a time with a sleep between.
 * The reader's read() must give the server back (through the libc hook on
 * the emul backend, the kernel's hook on the kernel one), or the writer
 * never runs and the test times out.  The Makefile also links it fully
 * static (build/tests/static_toolkit_example).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <umcg_sched.h>

#include "t_helpers.h"

#define MESSAGES 3

static int pipe_fds[2];

static void *handle_requests(void *arg)
{
	char buf[1];
	long got = 0;

	(void)arg;
	for (int i = 0; i < MESSAGES; i++) {
		/* one byte: a slow reader (a loaded guest) may find two queued */
		ssize_t n = read(pipe_fds[0], buf, 1);

		if (n != 1 || buf[0] != 'a' + i)
			return (void *)(intptr_t)-1;
		got++;
	}
	return (void *)(intptr_t)got;
}

static void *produce(void *arg)
{
	(void)arg;
	for (int i = 0; i < MESSAGES; i++) {
		char c = (char)('a' + i);

		usleep(2000);
		if (write(pipe_fds[1], &c, 1) != 1)
			return (void *)(intptr_t)errno;
	}
	return NULL;
}

static int test_blocking_reader_gives_the_server_back(void)
{
	struct umcg_sched_attr a;
	struct umcg_worker_attr wa;
	struct umcg_sched *s;
	struct umcg_worker *reader, *writer;
	void *got, *err;

	T_CHECK_OK(pipe(pipe_fds));
	umcg_sched_attr_init(&a);
	a.policy = umcg_policy_by_name("prio");	/* strict priority classes */
	a.nr_servers = 1;
	T_CHECK(a.policy, "no policy \"prio\"");
	T_CHECK_OK(umcg_sched_create(&s, &a));
	umcg_worker_attr_init(&wa);
	wa.priority = 1;			/* latency-critical */
	T_CHECK_OK(umcg_worker_spawn(s, &reader, handle_requests, NULL, &wa));
	wa.priority = 0;
	T_CHECK_OK(umcg_worker_spawn(s, &writer, produce, NULL, &wa));
	T_CHECK_OK(umcg_worker_join(reader, &got));
	T_CHECK_OK(umcg_worker_join(writer, &err));
	T_CHECK_OK(umcg_sched_destroy(s));
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	T_CHECK(err == NULL, "writer: %s", strerror((int)(intptr_t)err));
	T_CHECK((intptr_t)got == MESSAGES, "reader got %ld messages",
		(long)(intptr_t)got);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_blocking_reader_gives_the_server_back, nfail);
	return t_finish(nfail);
}
