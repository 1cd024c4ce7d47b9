/* SPDX-License-Identifier: MIT */
/*
 * Description: ping-pong through the server (no direct switches): two
 * workers yield in turn, the server runs them FIFO, so they strictly
 * alternate (on the emul backend; the kernel also reports page faults that
 * wait, which may give a worker its turn late); with and without a system
 * call per iteration (on the emul backend a rare turn out of order is
 * allowed: see run()).  Prints the
 * cost per switch (worker -> server -> worker), asserts only the order.
 * (Direct worker -> worker ping-pong: direct_switch.c.)
 */
#include <sys/syscall.h>
#include <unistd.h>

#include "t_helpers.h"

#define ROUNDS 2000

static struct t_server s;
static atomic_int token, with_syscall, out_of_turn;

static int ping(struct t_worker *w)
{
	/* Wait until both run: the first turn goes to worker 0. */
	atomic_store(&w->data[0], 1);
	while (atomic_load(&token) < 0) {
		if (w->idx == 1 && atomic_load(&s.w[0]->data[0]))
			atomic_store(&token, 0);
		if (t_yield() != 0)
			return 1;
	}
	for (;;) {
		int t = atomic_load(&token);

		if (t >= ROUNDS)
			return 0;
		if (t % 2 != w->idx) {
			/*
			 * Only a block between the token and the yield (on the
			 * kernel backend a page fault that waits counts) lets
			 * the other worker run twice in a row.
			 */
			atomic_fetch_add(&out_of_turn, 1);
			if (t_yield() != 0)
				return 1;
			continue;
		}
		if (atomic_load(&with_syscall))
			syscall(SYS_getppid);
		atomic_store(&token, t + 1);
		if (t + 1 < ROUNDS && t_yield() != 0)
			return 1;
	}
}

static int run(int sys)
{
	uint64_t t0, t1;

	atomic_store(&token, -1);
	atomic_store(&out_of_turn, 0);
	atomic_store(&with_syscall, sys);
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	T_CHECK(t_worker_spawn(&s, ping, NULL), "spawn");
	T_CHECK(t_worker_spawn(&s, ping, NULL), "spawn");
	t0 = t_now(CLOCK_MONOTONIC);
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	t1 = t_now(CLOCK_MONOTONIC);
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	T_CHECK(atomic_load(&token) == ROUNDS, "token %d", atomic_load(&token));
	/*
	 * The emul backend sees no page faults, so yields alternate -- all
	 * but rarely: a yielder is RUNNABLE a moment before it is on the
	 * list, and a server that looks in between and runs the other worker,
	 * which yields in turn, may get the two pushes in the other order
	 * (under ThreadSanitizer about 1 run in 200 had 2-12 of 2000 turns
	 * out of order).  FIFO order broken for real shows in far more.
	 */
	T_CHECK(umcg_backend() != UMCG_BACKEND_EMUL ||
		atomic_load(&out_of_turn) <= ROUNDS / 100, "%d runs out of turn",
		atomic_load(&out_of_turn));
	printf("ping-pong via the server%s: %llu ns per switch\n",
	       sys ? " + getppid()" : "",
	       (unsigned long long)((t1 - t0) / ROUNDS));
	t_server_fini(&s);
	return 0;
}

static int test_via_server(void)
{
	return run(0);
}

static int test_via_server_syscall(void)
{
	return run(1);
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_via_server, nfail);
	T_RUN(test_via_server_syscall, nfail);
	return t_finish(nfail);
}
