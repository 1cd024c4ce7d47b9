// SPDX-License-Identifier: MIT
/* hello: the README's example, kept byte for byte (tests/readme_example.sh checks). */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <umcg.h>

struct worker { struct umcg_task task; pid_t tid; pthread_t thread; };
static struct umcg_task server;         /* outlives every worker */
static pid_t server_tid;

static void *work(void *arg)
{
	struct worker *w = arg;

	w->tid = umcg_gettid();
	umcg_task_init_worker(&w->task, server_tid);
	umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, &w->task, CLOCK_MONOTONIC);
	/* Running now, because the server chose us. */
	printf("worker %d: sleeping\n", w->tid);
	sleep(1);                       /* the server runs the other worker meanwhile */
	printf("worker %d: done\n", w->tid);
	umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, &w->task, 0);
	return NULL;
}

int main(void)
{
	static struct worker workers[2];
	int left = 2;

	server_tid = umcg_gettid();
	umcg_task_init_server(&server);
	umcg_ctl(UMCG_CTL_REGISTER, &server, CLOCK_MONOTONIC);
	for (int i = 0; i < 2; i++)
		pthread_create(&workers[i].thread, NULL, work, &workers[i]);

	while (left) {
		/* Say "about to sleep" first, then look: no wake-up is lost. */
		umcg_task_set_state(&server, UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT);
		struct umcg_task *list = umcg_runnable_take_all(&server);
		if (!list) {
			umcg_wait(0, 0);        /* until a worker becomes runnable */
			continue;
		}
		umcg_task_set_state(&server, UMCG_TASK_RUNNING);
		for (struct umcg_task *t = list, *next; t; t = next) {
			struct worker *w = (struct worker *)t;

			next = umcg_runnable_next(t);
			server.next_tid = w->tid;   /* run it; sleep until it blocks or exits */
			do {    /* EAGAIN before the switch leaves TID_RUNNING clear */
				umcg_task_set_state(&server, UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT);
				umcg_wait(0, 0);
			} while (!(server.next_tid & UMCG_TID_RUNNING) ||
				 umcg_task_state(t) == UMCG_TASK_RUNNING);
			server.next_tid = 0;
			if (umcg_task_state(t) == UMCG_TASK_NONE)
				left--;
		}
	}
	for (int i = 0; i < 2; i++)
		pthread_join(workers[i].thread, NULL);
	return 0;
}
