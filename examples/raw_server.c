// SPDX-License-Identifier: MIT
/*
 * raw_server: one server and three workers on the raw UMCG ABI, no toolkit.
 *
 * Worker A computes and yields now and then; when it runs past its time
 * slice the server preempts it (a timeout on umcg_wait() plus umcg_kick()).
 * Workers B and C sleep in sleep(1) and sleep(2): the server is told of each
 * block, runs A meanwhile, and is told again when each wakes.
 *
 * This example demonstrates:
 *  - registering a server and workers, and keeping each umcg_task in memory
 *    that outlives its thread;
 *  - the server loop: take the runnable list, pick a worker, name it in
 *    next_tid, sleep in umcg_wait() until something happens;
 *  - the lost-wake-up rule: set RUNNABLE|COND_WAIT first, then look again;
 *  - preemption with UMCG_TF_PREEMPT + umcg_kick().
 *
 * It is deliberately one file with no toolkit: see examples/demo.c for the
 * scheduler toolkit built on the same calls.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <umcg.h>

#define SLICE_NS	(20 * 1000 * 1000ULL)
#define MAX_WORKERS	8

struct worker {
	struct umcg_task task;		/* first: the list links point here */
	pid_t tid;
	const char *name;
	void (*body)(struct worker *);
	pthread_t thread;
};

static struct umcg_task server_task;
static pid_t server_tid;
static _Atomic int workers_left;

/* The server's FIFO of runnable workers (the kernel's list is LIFO). */
static struct worker *fifo[MAX_WORKERS];
static int fifo_len;

static void fifo_push_list(struct umcg_task *list)
{
	struct worker *batch[MAX_WORKERS];
	int n = 0;

	for (; list; list = umcg_runnable_next(list))
		batch[n++] = (struct worker *)list;
	while (n--)			/* oldest first */
		fifo[fifo_len++] = batch[n];
}

static struct worker *fifo_pop(void)
{
	struct worker *w;

	if (!fifo_len)
		return NULL;
	w = fifo[0];
	memmove(fifo, fifo + 1, --fifo_len * sizeof(fifo[0]));
	return w;
}

static void yield(struct worker *self)
{
	umcg_task_set_state(&self->task, UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT);
	umcg_wait(0, 0);
}

static void spin_ms(int ms)
{
	uint64_t end = umcg_clock_ns(CLOCK_MONOTONIC) + ms * 1000000ULL;

	while (umcg_clock_ns(CLOCK_MONOTONIC) < end)
		;
}

static void body_a(struct worker *self)
{
	for (int i = 0; i < 8; i++) {
		printf("A: computing (round %d)\n", i);
		spin_ms(i % 2 ? 5 : 60);	/* odd rounds yield, even get preempted */
		if (i % 2)
			yield(self);
	}
}

static void body_sleeper(struct worker *self)
{
	int secs = self->name[0] == 'B' ? 1 : 2;

	printf("%s: sleeping %d s\n", self->name, secs);
	sleep(secs);		/* the server sees this block and this wake */
	printf("%s: awake\n", self->name);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->tid = umcg_gettid();
	umcg_task_init_worker(&w->task, server_tid);
	/* Returns once the server has chosen to run us. */
	if (umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, &w->task,
		     CLOCK_MONOTONIC)) {
		perror("umcg_ctl(register worker)");
		exit(1);
	}
	w->body(w);
	umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, &w->task, 0);
	return NULL;
}

/* Run @w until it blocks, yields, exits or its slice ends. */
static void run_worker(struct worker *w)
{
	uint64_t deadline = umcg_clock_ns(CLOCK_MONOTONIC) + SLICE_NS;

	server_task.next_tid = (uint32_t)w->tid;
	for (;;) {
		umcg_task_set_state(&server_task, UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT);
		if (umcg_wait(0, deadline) == 0 || errno == EAGAIN) {
			/* Woken: our worker blocked, yielded, exited, or a new one came. */
			uint32_t st = umcg_task_state(&w->task) & UMCG_TASK_MASK;

			/* EAGAIN can come before the switch: not started yet. */
			if (!(server_task.next_tid & UMCG_TID_RUNNING))
				continue;
			if (st != UMCG_TASK_RUNNING)
				break;
			fifo_push_list(umcg_runnable_take_all(&server_task));
			continue;	/* still running: keep waiting */
		}
		if (errno != ETIMEDOUT) {
			perror("umcg_wait");
			exit(1);
		}
		/* Slice over: preempt, unless it stopped running meanwhile. */
		if (umcg_task_cas_state(&w->task, UMCG_TASK_RUNNING,
					UMCG_TASK_RUNNING | UMCG_TF_PREEMPT)) {
			printf("server: preempting %s\n", w->name);
			umcg_kick(0, w->tid);
		}
		deadline = UINT64_MAX;
	}
	server_task.next_tid = 0;
	switch (umcg_task_state(&w->task) & UMCG_TASK_MASK) {
	case UMCG_TASK_BLOCKED:
		printf("server: %s blocked\n", w->name);
		break;
	case UMCG_TASK_NONE:
		printf("server: %s exited\n", w->name);
		workers_left--;
		break;
	}
}

/* Nothing runnable: sleep until a worker wakes up (and enqueues itself). */
static void idle(void)
{
	umcg_task_set_state(&server_task, UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT);
	fifo_push_list(umcg_runnable_take_all(&server_task));
	if (fifo_len) {		/* looked again after COND_WAIT: no lost wake-up */
		umcg_task_set_state(&server_task, UMCG_TASK_RUNNING);
		return;
	}
	umcg_wait(0, 0);
}

int main(void)
{
	static struct worker workers[] = {
		{ .name = "A", .body = body_a },
		{ .name = "B", .body = body_sleeper },
		{ .name = "C", .body = body_sleeper },
	};
	const int n = sizeof(workers) / sizeof(workers[0]);

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("backend: %s\n", umcg_backend_name());
	server_tid = umcg_gettid();
	umcg_task_init_server(&server_task);
	if (umcg_ctl(UMCG_CTL_REGISTER, &server_task, CLOCK_MONOTONIC)) {
		perror("umcg_ctl(register server)");
		return 1;
	}
	workers_left = n;
	for (int i = 0; i < n; i++)
		pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);

	while (workers_left) {
		struct worker *w;

		fifo_push_list(umcg_runnable_take_all(&server_task));
		w = fifo_pop();
		if (w)
			run_worker(w);
		else
			idle();
	}
	for (int i = 0; i < n; i++)
		pthread_join(workers[i].thread, NULL);
	umcg_ctl(UMCG_CTL_UNREGISTER, &server_task, 0);
	printf("server: all workers done\n");
	return 0;
}
