// SPDX-License-Identifier: MIT
/*
 * Block detection in system calls, yield, unregister: three workers on one
 * server each sleep (a blocking syscall), yield and make a non-blocking
 * syscall a few times.  The server must see them BLOCKED, and every worker
 * must run only while RUNNING.
 */
#include "kt.h"

#define ROUNDS 5

static void *work(struct kt_worker *w)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	for (int i = 0; i < ROUNDS; i++) {
		uint64_t b = w->task.blocked_ts;

		nanosleep(&ts, NULL);
		KT_CHECK((KT_STATE(&w->task) & UMCG_TASK_MASK) == UMCG_TASK_RUNNING);
		KT_CHECK(w->task.blocked_ts > b);
		KT_CHECK(w->task.runnable_ts >= w->task.blocked_ts);
		getppid();
		if (kt_yield(&w->task))
			KT_FAIL("yield: %s", strerror(errno));
		KT_CHECK((KT_STATE(&w->task) & UMCG_TASK_MASK) == UMCG_TASK_RUNNING);
	}
	return NULL;
}

int main(void)
{
	struct kt_server *s = aligned_alloc(64, sizeof(*s));
	struct kt_worker *w;

	kt_init();
	memset(s, 0, sizeof(*s));
	w = kt_start_workers(s, 3, work, NULL);
	kt_server_register(s);
	kt_server_loop(s);
	kt_join_workers(w, 3);
	/*
	 * Each worker checked that every sleep moved blocked_ts; the server
	 * sees a BLOCKED state only when it looks before the sleep ends.
	 */
	if (atomic_load(&s->blocks) < 1)
		KT_FAIL("server never saw a blocked worker");
	KT_CHECK(umcg_ctl(UMCG_CTL_UNREGISTER, &s->task, 0) == 0);
	printf("k_basic: %d blocks, %d runs\n", atomic_load(&s->blocks), atomic_load(&s->runs));
	return 0;
}
