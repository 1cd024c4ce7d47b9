// SPDX-License-Identifier: MIT
/*
 * 2 servers x 200 workers on the guest's 2 CPUs: every worker blocks in a
 * syscall, yields and makes plain syscalls a few times, then half of them
 * exit without unregistering.  Each server must see all its workers end.
 */
#include "kt.h"

#define NW	200
#define ROUNDS	3

static void *work(struct kt_worker *w)
{
	struct timespec ts = { 0, 50 * 1000 };

	for (int i = 0; i < ROUNDS; i++) {
		nanosleep(&ts, NULL);
		if ((KT_STATE(&w->task) & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)
			KT_FAIL("worker runs while not RUNNING");
		getppid();
		if (kt_yield(&w->task) && errno != EAGAIN)
			KT_FAIL("yield: %s", strerror(errno));
	}
	return w->id % 2 ? (void *)1 : NULL;
}

static void *server_main(void *arg)
{
	struct kt_server *s = arg;
	struct kt_worker *w = kt_start_workers(s, NW, work, NULL);

	kt_server_register(s);
	kt_server_loop(s);
	kt_join_workers(w, NW);
	KT_CHECK(umcg_ctl(UMCG_CTL_UNREGISTER, &s->task, 0) == 0);
	return NULL;
}

int main(void)
{
	struct kt_server *s = aligned_alloc(64, 2 * sizeof(*s));
	pthread_t t[2];

	kt_init();
	memset(s, 0, 2 * sizeof(*s));
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, server_main, &s[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("k_stress: %d+%d blocks seen, %d+%d runs\n",
	       atomic_load(&s[0].blocks), atomic_load(&s[1].blocks),
	       atomic_load(&s[0].runs), atomic_load(&s[1].runs));
	return 0;
}
