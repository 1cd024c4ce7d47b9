/* SPDX-License-Identifier: MIT */
/*
 * Description: bounded stress.  Two servers, 100 workers each, for about
 * two seconds: every worker picks random steps (yield, block in a short
 * nanosleep, spin long enough to be preempted by its server's 200 us
 * slice, hooked write()s that do not block while preemptions land, timed
 * park that times out, early exit with or without
 * unregistering).  No worker is lost (every one exits, each exit seen once
 * by its server), none runs twice at once (one RUNNING per server at every
 * observation, a worker never queued twice nor run by two servers), and
 * every wait returns what the ABI says.
 */
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "t_helpers.h"

#define PER_SERVER 100
#define RUN_NS (2 * T_SEC)

static struct t_server srv[2];
static uint64_t stop_at;
static atomic_long steps[7];
static int devnull = -1;

static uint32_t rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static int one_step(struct t_worker *w, uint32_t *x)
{
	uint32_t op = rnd(x) % 1000;
	struct timespec ts = { 0, 0 };
	int r = 0;

	if (op < 300) {
		r = t_yield();
		atomic_fetch_add(&steps[0], 1);
	} else if (op < 550) {
		ts.tv_nsec = (long)(rnd(x) % 200) * 1000;
		nanosleep(&ts, NULL);
		atomic_fetch_add(&steps[1], 1);
	} else if (op < 650) {
		t_spin(rnd(x) % 400000);
		atomic_fetch_add(&steps[2], 1);
	} else if (op < 750) {
		/* Hooked calls that do not block, while preemptions land. */
		for (int i = 0; i < 20; i++)
			if (write(devnull, &op, sizeof(op)) != sizeof(op)) {
				fprintf(stderr, "worker %d: write: %s\n", w->idx,
					strerror(errno));
				return -1;
			}
		atomic_fetch_add(&steps[6], 1);
	} else if (op < 998) {
		r = t_park_quiet(t_after(w->srv->clock, rnd(x) % 300000));
		if (r != -ETIMEDOUT) {
			fprintf(stderr, "worker %d: timed park: %d\n", w->idx, r);
			return -1;
		}
		r = 0;
		atomic_fetch_add(&steps[3], 1);
	} else {
		atomic_fetch_add(&steps[4], 1);
		return 1;	/* exit early */
	}
	if (r != 0) {
		fprintf(stderr, "worker %d: yield: %d\n", w->idx, r);
		return -1;
	}
	return 0;
}

static int stressed(struct t_worker *w)
{
	uint32_t x = 0x9e3779b9u ^ (uint32_t)(w->idx * 7919 + w->srv->id * 104729);

	while (t_now(CLOCK_MONOTONIC) < stop_at) {
		int r;

		if (t_worker_check())
			return 1;
		r = one_step(w, &x);
		if (r < 0)
			return 1;
		if (r > 0)
			break;
		atomic_fetch_add(&w->data[0], 1);
	}
	atomic_fetch_add(&steps[5], 1);
	return t_worker_check();
}

static int run_server(struct t_server *s, int id)
{
	int r;

	if (t_server_init(s, id, CLOCK_MONOTONIC) != 0)
		return 1;
	s->slice_ns = 200000;
	for (int i = 0; i < PER_SERVER; i++)
		if (!t_worker_spawn_opt(s, stressed, NULL, i % 5 == 0))
			return 1;
	r = t_server_run(s);
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

static int test_stress(void)
{
	pthread_t th;
	int r0;

	devnull = open("/dev/null", O_WRONLY);
	T_CHECK(devnull >= 0, "open /dev/null");
	stop_at = t_after(CLOCK_MONOTONIC, RUN_NS);
	T_CHECK(pthread_create(&th, NULL, server1, NULL) == 0, "thread");
	r0 = run_server(&srv[0], 0);
	pthread_join(th, NULL);
	T_CHECK(r0 == 0 && atomic_load(&s1_result) == 0,
		"server loops: %d %d", r0, atomic_load(&s1_result));
	for (int i = 0; i < 2; i++) {
		struct t_server *s = &srv[i];

		T_CHECK(atomic_load(&s->violations) == 0, "server %d: %s", i,
			s->why);
		T_CHECK(s->nexited == PER_SERVER, "server %d: %d of %d exits seen",
			i, s->nexited, PER_SERVER);
		for (int k = 0; k < PER_SERVER; k++) {
			T_CHECK(t_log_count(&s->log, T_EV_EXIT, k) == 1,
				"server %d worker %d: exit seen %d times", i, k,
				t_log_count(&s->log, T_EV_EXIT, k));
			T_CHECK(t_state(&s->w[k]->task) == UMCG_TASK_NONE,
				"server %d worker %d: state %#x at the end", i, k,
				umcg_task_state(&s->w[k]->task));
		}
		T_CHECK(t_workers_failed(s) == 0, "server %d: worker failed", i);
	}
	T_CHECK(atomic_load(&steps[5]) == 2 * PER_SERVER, "%ld workers finished",
		atomic_load(&steps[5]));
	printf("steps: %ld yields, %ld sleeps, %ld spins, %ld write loops, "
	       "%ld timed parks, %ld early exits; %ld + %ld preemptions\n",
	       atomic_load(&steps[0]), atomic_load(&steps[1]),
	       atomic_load(&steps[2]), atomic_load(&steps[6]),
	       atomic_load(&steps[3]), atomic_load(&steps[4]),
	       srv[0].preempts, srv[1].preempts);
	close(devnull);
	t_server_fini(&srv[0]);
	t_server_fini(&srv[1]);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 110);
	T_RUN(test_stress, nfail);
	return t_finish(nfail);
}
