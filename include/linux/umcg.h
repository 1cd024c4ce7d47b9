/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * User Managed Concurrency Groups (UMCG): the user/kernel ABI.
 *
 * One file serves the kernel patch (include/uapi/linux/umcg.h) and libumcg.
 * A server thread stands for a CPU and picks which of its worker threads
 * runs; at most one worker per server runs at a time.  Workers are ordinary
 * threads that may block anywhere: when one blocks, its server is woken to
 * run another; when it wakes, it is queued on its server's runnable list and
 * waits until it is made RUNNING again.
 *
 * Every task (server or worker) owns one struct umcg_task in its own memory.
 * That memory must outlive the thread: the server reads a worker's final
 * NONE state after the worker has exited.  Do not put it on the thread's
 * stack or in TLS that is freed at exit.
 */
#ifndef _UAPI_LINUX_UMCG_H
#define _UAPI_LINUX_UMCG_H

#include <linux/types.h>

/*
 * The state word: bits 0-7 hold the state, bits 8-15 the kernel flags,
 * bits 16-31 are free for user space and never touched by the ABI.
 *
 * UMCG_TASK_NONE      Not registered.  Entered by unregister or thread exit;
 *                     a worker's server is woken.  Left only by umcg_ctl().
 * UMCG_TASK_RUNNING   A worker runs user code on behalf of its server, or a
 *                     server runs.  Not on any list.  Left by blocking
 *                     (-> BLOCKED), yield or preemption (-> RUNNABLE), or
 *                     unregister/exit (-> NONE).
 * UMCG_TASK_RUNNABLE  Waiting to be run.  A worker is either on its server's
 *                     runnable list (it was woken, yielded, preempted, timed
 *                     out or is new) or parked in umcg_wait() until some
 *                     task names it in next_tid.  Only the server that took
 *                     it off the list, or a task that names a parked worker,
 *                     moves it to RUNNING.  A server is RUNNABLE while it
 *                     sleeps in umcg_wait().
 * UMCG_TASK_BLOCKED   A worker waits inside the kernel (system call, page
 *                     fault).  Written by the kernel (or libumcg) only; left
 *                     for RUNNABLE when the blocking call returns.
 */
#define UMCG_TASK_NONE			0x0000U
#define UMCG_TASK_RUNNING		0x0001U
#define UMCG_TASK_RUNNABLE		0x0002U
#define UMCG_TASK_BLOCKED		0x0003U
#define UMCG_TASK_MASK			0x00ffU

/*
 * UMCG_TF_PREEMPT     Set by a server (cmpxchg from RUNNING) before
 *                     umcg_kick(): the worker becomes RUNNABLE, is queued
 *                     and waits at its next return to user space.
 * UMCG_TF_COND_WAIT   Set by a task, together with RUNNABLE, right before
 *                     umcg_wait(): a wake-up that lands in between clears
 *                     it (state back to RUNNING) and umcg_wait() fails
 *                     with EAGAIN instead of sleeping through the wake-up.
 */
#define UMCG_TF_PREEMPT			0x0100U
#define UMCG_TF_COND_WAIT		0x0200U
#define UMCG_TF_MASK			0xff00U

#define UMCG_TID_RUNNING		0x80000000U
#define UMCG_TID_MASK			0x3fffffffU

/**
 * struct umcg_task - the shared state of one server or worker
 * @state:                UMCG_TASK_* | UMCG_TF_*, plus bits 16-31 for user
 *                        space; also the futex word the task sleeps on.
 * @next_tid:             the task to run when this one waits in umcg_wait();
 *                        UMCG_TID_RUNNING is or-ed in once it was made to
 *                        run.  A server keeps its current worker here.
 * @server_tid:           a worker's server; a server's own tid.  Changed by
 *                        user space only while the worker is RUNNABLE and
 *                        on no list.
 * @__zero0:              must be 0.
 * @blocked_ts:           time of the last move to BLOCKED (registration clock).
 * @runnable_ts:          time of the last move to RUNNABLE.
 * @runnable_workers_ptr: in a server, the head of a LIFO list of workers
 *                        that became runnable; in a worker, its next link.
 *                        Pushed by the kernel (or libumcg) with cmpxchg;
 *                        user space takes the whole list with one exchange.
 * @__zero:               must be 0.
 */
struct umcg_task {
	__u32	state;			/* r/w */
	__u32	next_tid;		/* r/w */
	__u32	server_tid;		/* r/w */
	__u32	__zero0;
	__u64	blocked_ts;		/*   r */
	__u64	runnable_ts;		/*   r */
	__u64	runnable_workers_ptr;	/* r/w */
	__u64	__zero[3];
} __attribute__((packed, aligned(8 * sizeof(__u64))));

#if !defined(__KERNEL__) && !defined(__cplusplus) && \
	defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define __UMCG_ASSERT_OFFSET(f, o) \
	_Static_assert(__builtin_offsetof(struct umcg_task, f) == (o), \
		       "umcg_task." #f " must be at offset " #o)
_Static_assert(sizeof(struct umcg_task) == 64, "umcg_task is 64 bytes");
_Static_assert(_Alignof(struct umcg_task) == 64, "umcg_task is 64-aligned");
__UMCG_ASSERT_OFFSET(state, 0);
__UMCG_ASSERT_OFFSET(next_tid, 4);
__UMCG_ASSERT_OFFSET(server_tid, 8);
__UMCG_ASSERT_OFFSET(__zero0, 12);
__UMCG_ASSERT_OFFSET(blocked_ts, 16);
__UMCG_ASSERT_OFFSET(runnable_ts, 24);
__UMCG_ASSERT_OFFSET(runnable_workers_ptr, 32);
__UMCG_ASSERT_OFFSET(__zero, 40);
#undef __UMCG_ASSERT_OFFSET
#endif

/* umcg_ctl() flags */
#define UMCG_CTL_REGISTER		0x00001U
#define UMCG_CTL_UNREGISTER		0x00002U
#define UMCG_CTL_WORKER			0x10000U

/* The ABI version a kernel announces and libumcg speaks. */
#define UMCG_ABI_VERSION		1

#endif /* _UAPI_LINUX_UMCG_H */
