/* SPDX-License-Identifier: MIT */
/*
 * Description: struct umcg_task and the ABI constants are exactly what
 * umcg(7) and include/linux/umcg.h lay out (64 bytes, 64-aligned,
 * every offset, every value), checked at run time so a header drift is a FAIL, not a build
 * error elsewhere.
 */
#include <stddef.h>
#include <stdlib.h>

#include "t_helpers.h"

#define CHECK_EQ(a, b) \
	T_CHECK((unsigned long long)(a) == (unsigned long long)(b), \
		"%s = %#llx, want %#llx", #a, (unsigned long long)(a), \
		(unsigned long long)(b))

static int test_size_align(void)
{
	struct umcg_task arr[2];

	CHECK_EQ(sizeof(struct umcg_task), 64);
	CHECK_EQ(_Alignof(struct umcg_task), 64);
	CHECK_EQ((char *)&arr[1] - (char *)&arr[0], 64);
	CHECK_EQ((uintptr_t)&arr[0] % 64, 0);
	return 0;
}

static int test_offsets(void)
{
	CHECK_EQ(offsetof(struct umcg_task, state), 0);
	CHECK_EQ(offsetof(struct umcg_task, next_tid), 4);
	CHECK_EQ(offsetof(struct umcg_task, server_tid), 8);
	CHECK_EQ(offsetof(struct umcg_task, __zero0), 12);
	CHECK_EQ(offsetof(struct umcg_task, blocked_ts), 16);
	CHECK_EQ(offsetof(struct umcg_task, runnable_ts), 24);
	CHECK_EQ(offsetof(struct umcg_task, runnable_workers_ptr), 32);
	CHECK_EQ(offsetof(struct umcg_task, __zero), 40);
	CHECK_EQ(sizeof(((struct umcg_task *)0)->state), 4);
	CHECK_EQ(sizeof(((struct umcg_task *)0)->next_tid), 4);
	CHECK_EQ(sizeof(((struct umcg_task *)0)->server_tid), 4);
	CHECK_EQ(sizeof(((struct umcg_task *)0)->blocked_ts), 8);
	CHECK_EQ(sizeof(((struct umcg_task *)0)->runnable_ts), 8);
	CHECK_EQ(sizeof(((struct umcg_task *)0)->runnable_workers_ptr), 8);
	CHECK_EQ(sizeof(((struct umcg_task *)0)->__zero), 24);
	return 0;
}

static int test_constants(void)
{
	CHECK_EQ(UMCG_TASK_NONE, 0);
	CHECK_EQ(UMCG_TASK_RUNNING, 1);
	CHECK_EQ(UMCG_TASK_RUNNABLE, 2);
	CHECK_EQ(UMCG_TASK_BLOCKED, 3);
	CHECK_EQ(UMCG_TASK_MASK, 0xff);
	CHECK_EQ(UMCG_TF_PREEMPT, 0x100);
	CHECK_EQ(UMCG_TF_COND_WAIT, 0x200);
	CHECK_EQ(UMCG_TF_MASK, 0xff00);
	CHECK_EQ(UMCG_TID_RUNNING, 0x80000000u);
	CHECK_EQ(UMCG_TID_MASK, 0x3fffffff);
	CHECK_EQ(UMCG_CTL_REGISTER, 0x1);
	CHECK_EQ(UMCG_CTL_UNREGISTER, 0x2);
	CHECK_EQ(UMCG_CTL_WORKER, 0x10000);
	return 0;
}

/* The inline helpers fill the task the way registration expects. */
static int test_init_helpers(void)
{
	struct umcg_task *t = t_task_alloc();
	int bad = 0;

	memset(t, 0xa5, sizeof(*t));
	umcg_task_init_server(t);
	bad |= t->state != UMCG_TASK_RUNNING;
	bad |= t->server_tid != (uint32_t)t_gettid();
	bad |= t->next_tid || t->__zero0 || t->blocked_ts || t->runnable_ts;
	bad |= t->runnable_workers_ptr || t->__zero[0] || t->__zero[1] ||
	       t->__zero[2];
	memset(t, 0xa5, sizeof(*t));
	umcg_task_init_worker(t, 1234);
	bad |= (t->state != UMCG_TASK_BLOCKED) << 1;
	bad |= (t->server_tid != 1234) << 1;
	bad |= (t->next_tid || t->__zero0 || t->runnable_workers_ptr ||
		t->__zero[0] || t->__zero[1] || t->__zero[2]) << 1;
	free(t);
	T_CHECK(bad == 0, "init_server/init_worker left wrong fields (%d)", bad);
	T_CHECK(umcg_gettid() == t_gettid(), "umcg_gettid() %d != gettid %d",
		umcg_gettid(), t_gettid());
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 30);
	T_RUN(test_size_align, nfail);
	T_RUN(test_offsets, nfail);
	T_RUN(test_constants, nfail);
	T_RUN(test_init_helpers, nfail);
	return t_finish(nfail);
}
