/* SPDX-License-Identifier: MIT */
/*
 * Description: handing a worker to another server.  Server S1 runs W until
 * it parks (RUNNABLE, on no list), moves it (server_tid = S2, legal while
 * the worker is RUNNABLE and on no list), and wakes the idle S2 with
 * umcg_kick() (its wait returns 0).  S2 runs W by name; from then on W's
 * block wakes S2, its wake queues it on S2's list, and its exit wakes S2;
 * S1's list stays empty.
 */
#include <stdlib.h>
#include <unistd.h>

#include "t_helpers.h"

static struct t_server s1, s2;
static struct t_worker *_Atomic handed;
static atomic_int s2_ready, s2_fail;

static int pipe_fds[2];

static int migrating(struct t_worker *w)
{
	int r = t_park(T_FOREVER);	/* parked on S1 */
	char c;

	if (r != 0) {
		fprintf(stderr, "W: park %d\n", r);
		return 1;
	}
	if (w->task.server_tid != (uint32_t)s2.tid) {
		fprintf(stderr, "W: server_tid %u, want S2 %d\n",
			w->task.server_tid, s2.tid);
		return 1;
	}
	if (read(pipe_fds[0], &c, 1) != 1)	/* blocks: S2 must see it */
		return 1;
	return 0;
}

/* S2: sleep until kicked, then run the handed worker to its end. */
static int s2_steps(void)
{
	struct t_worker *w;
	uint32_t st = 0;
	char b[64];

	T_CHECK(t_server_init(&s2, 2, CLOCK_MONOTONIC) == 0, "S2 register");
	atomic_store(&s2_ready, 1);
	T_CHECK_OK(t_server_wait(&s2, 0, t_after(s2.clock, 20 * T_SEC)));
	w = atomic_load(&handed);
	T_CHECK(w, "S2 woken, but no worker was handed over");
	T_CHECK(t_server_run_one(&s2, w, &st) == 0, "S2 runs W");
	T_CHECK((st & UMCG_TASK_MASK) == UMCG_TASK_BLOCKED,
		"W on S2: state %s, want BLOCKED", t_state_str(st, b));
	T_CHECK(write(pipe_fds[1], "m", 1) == 1, "write");
	T_CHECK(t_queued(&s2, w),
		"W's wake did not queue it on S2");
	T_CHECK(t_run_expect(&s2, w, UMCG_TASK_NONE),
		"W did not finish on S2");
	T_CHECK_OK(umcg_ctl(UMCG_CTL_UNREGISTER, &s2.task, 0));
	return 0;
}

static void *s2_thread(void *arg)
{
	(void)arg;
	if (s2_steps())
		atomic_store(&s2_fail, 1);
	atomic_store(&s2_ready, 1);
	return NULL;
}

static int test_hand_over(void)
{
	struct t_worker *w;
	pthread_t th;

	T_CHECK(pipe(pipe_fds) == 0, "pipe");
	T_CHECK(t_server_init(&s1, 1, CLOCK_MONOTONIC) == 0, "S1 register");
	w = t_worker_spawn(&s1, migrating, NULL);
	T_CHECK(t_queued(&s1, w),
		"W not queued on S1");
	T_CHECK(t_run_expect(&s1, w, UMCG_TASK_RUNNABLE),
		"W did not park");
	T_CHECK(pthread_create(&th, NULL, s2_thread, NULL) == 0, "thread");
	while (!atomic_load(&s2_ready))
		t_msleep(1);
	while (!atomic_load(&s2_fail) &&
	       umcg_task_state(&s2.task) != UMCG_TASK_RUNNABLE)
		;	/* S2 sleeps in umcg_wait() */
	t_store32(&w->task.server_tid, (uint32_t)s2.tid);
	atomic_store(&handed, w);
	T_CHECK_OK(umcg_kick(0, s2.tid));
	pthread_join(th, NULL);
	T_CHECK(!atomic_load(&s2_fail), "S2 failed");
	T_CHECK(t_server_stays_idle(&s1, 100 * T_MS),
		"the moved worker was queued on its old server");
	T_CHECK(t_workers_failed(&s1) == 0, "W failed");
	t_server_fini(&s1);
	t_log_free(&s2.log);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_hand_over, nfail);
	return t_finish(nfail);
}
