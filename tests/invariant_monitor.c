/* SPDX-License-Identifier: MIT */
/*
 * Description: the invariant "at most one worker per server is RUNNING",
 * checked at every observation: by each server every time it wakes (its
 * workers' states: at most one RUNNING, and only the one its next_tid
 * names), and by each worker at every step it runs (its own state is
 * RUNNING and no sibling's is).  Two servers with 8 workers each mix
 * yields, sleeps, spins that get preempted, and timed parks.
 */
#include "t_helpers.h"

#define WORKERS 8
#define STEPS 300

static struct t_server srv[2];
static atomic_long worker_checks;

static int mixed(struct t_worker *w)
{
	for (int i = 0; i < STEPS; i++) {
		int r = 0;

		if (t_worker_check())
			return 1;
		atomic_fetch_add(&worker_checks, 1);
		switch ((i + w->idx) % 5) {
		case 0:
			r = t_yield();
			break;
		case 1:
			t_msleep(1);
			break;
		case 2:
			t_spin(400000);		/* long enough to be preempted */
			break;
		case 3:
			r = t_park_quiet(t_after(w->srv->clock, 50000));
			if (r == -ETIMEDOUT)
				r = 0;
			break;
		default:
			t_spin(1000);
			break;
		}
		if (r != 0) {
			fprintf(stderr, "worker %d step %d: %d\n", w->idx, i, r);
			return 1;
		}
	}
	return t_worker_check();
}

static int run_server(struct t_server *s, int id)
{
	int r;

	if (t_server_init(s, id, CLOCK_MONOTONIC) != 0)
		return 1;
	s->slice_ns = 100000;
	for (int i = 0; i < WORKERS; i++)
		if (!t_worker_spawn(s, mixed, NULL))
			return 1;
	r = t_server_run(s);
	/* Unregister on this thread: the caller of UNREGISTER is the task. */
	if (umcg_ctl(UMCG_CTL_UNREGISTER, &s->task, 0) != 0)
		r = 1;
	return r;
}

static atomic_int s1_result = -1;

static void *server1(void *arg)
{
	(void)arg;
	atomic_store(&s1_result, run_server(&srv[1], 1));
	return NULL;
}

static int test_two_servers(void)
{
	pthread_t th;
	int r0;

	T_CHECK(pthread_create(&th, NULL, server1, NULL) == 0, "thread");
	r0 = run_server(&srv[0], 0);
	pthread_join(th, NULL);
	T_CHECK(r0 == 0 && atomic_load(&s1_result) == 0,
		"server loops: %d %d", r0, atomic_load(&s1_result));
	for (int i = 0; i < 2; i++) {
		struct t_server *s = &srv[i];

		T_CHECK(atomic_load(&s->violations) == 0, "server %d: %s", i,
			s->why);
		T_CHECK(s->observations > WORKERS, "server %d: %ld observations",
			i, s->observations);
		T_CHECK(s->nexited == WORKERS, "server %d: %d exits", i,
			s->nexited);
		T_CHECK(t_workers_failed(s) == 0, "server %d: worker failed", i);
	}
	printf("%ld + %ld server observations, %ld worker checks, %ld + %ld "
	       "preemptions\n", srv[0].observations, srv[1].observations,
	       atomic_load(&worker_checks), srv[0].preempts, srv[1].preempts);
	t_server_fini(&srv[0]);
	t_server_fini(&srv[1]);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 100);
	T_RUN(test_two_servers, nfail);
	return t_finish(nfail);
}
