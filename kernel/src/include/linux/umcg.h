/* SPDX-License-Identifier: GPL-2.0 */
/*
 * User Managed Concurrency Groups (UMCG): the hooks the entry code, the
 * scheduler and the task lifetime code call.  See kernel/sched/umcg.c.
 */
#ifndef _LINUX_UMCG_H
#define _LINUX_UMCG_H

#include <uapi/linux/umcg.h>
#include <linux/sched.h>
#include <asm/unistd.h>

struct pt_regs;
struct page;
struct pid;

#ifdef CONFIG_UMCG

enum umcg_role {
	UMCG_ROLE_NONE = 0,
	UMCG_ROLE_SERVER,
	UMCG_ROLE_WORKER,
};

/**
 * struct umcg_thread - the kernel side of one registered task
 * @self:		the task's struct umcg_task in user memory
 * @clock:		clock of the time stamps and of umcg_wait() timeouts
 * @role:		UMCG_ROLE_*; read locklessly by other tasks
 * @kicked:		umcg_kick() asked for a pass through the return to user
 *			space: a RUNNING | UMCG_TF_PREEMPT worker is preempted
 *			there (TF_PREEMPT alone does nothing)
 * @parked:		UMCG_PARKED while a worker sleeps in a timed umcg_wait()
 *			and is on no list; whoever moves it away first (a
 *			next_tid claim to 0, or the timeout to UMCG_QUEUING)
 *			decides how the worker runs again.  UMCG_QUEUED: the
 *			timeout queued it and it has not run since.
 * @pinned:		@self_page, @server_page and @server are held
 * @blocked:		schedule() moved this worker to BLOCKED
 * @resume_wait:	the worker must wait until RUNNING before it returns
 *			to the user context at @resume_ip
 * @in_wait:		umcg_wait() was interrupted by a signal and restarts
 * @timed_out:		the restarted umcg_wait() already timed out
 * @resume_ip:		user instruction pointer of a pending @resume_wait
 * @self_page:		pinned page of @self
 * @server_page:	pinned page of the server's struct umcg_task
 * @server_self:	the server's struct umcg_task in user memory
 * @server:		the worker's server, referenced while @pinned
 * @next_pid:		referenced struct pid of the last task that umcg_wait()
 *			found by next_tid (@next_nr): the direct switch
 *			skips the pid lookup when it names the same task again
 * @next_nr:		its tid in our pid namespace
 *
 * Everything but @role and @parked is touched only by the task itself.
 * Freed with the task_struct, so that a task found by pid under RCU always
 * has a valid one.
 */
struct umcg_thread {
	struct umcg_task __user	*self;
	clockid_t		clock;
	int			role;
	atomic_t		kicked;
	atomic_t		parked;
	bool			pinned;
	bool			blocked;
	bool			resume_wait;
	bool			in_wait;
	bool			timed_out;
	unsigned long		resume_ip;
	struct page		*self_page;
	struct page		*server_page;
	struct umcg_task __user	*server_self;
	struct task_struct	*server;
	struct pid		*next_pid;
	u32			next_nr;
};

void __umcg_sys_enter(struct pt_regs *regs);
void __umcg_sys_exit(struct pt_regs *regs);
void umcg_fault_enter(struct pt_regs *regs);
void __umcg_notify_resume(struct pt_regs *regs);
void __umcg_sched_submit(struct task_struct *tsk);
void umcg_handle_exit(struct task_struct *tsk);
void umcg_execve(struct task_struct *tsk);
void umcg_fork(struct task_struct *child);
void umcg_free(struct task_struct *tsk);

/*
 * The hooks test what they need inline: they run on every system call,
 * context switch and return to user space of a registered task, and the
 * direct switch (umcg_wait()) passes through four of them.
 */

/* A worker's system call, other than UMCG's own: pin, see umcg_pin(). */
static inline void umcg_sys_enter(struct pt_regs *regs, long syscall)
{
	struct umcg_thread *u = current->umcg;

	if (u && READ_ONCE(u->role) == UMCG_ROLE_WORKER &&
	    syscall != __NR_umcg_ctl && syscall != __NR_umcg_wait &&
	    syscall != __NR_umcg_kick)
		__umcg_sys_enter(regs);
}

/* Anything to unpin, a block, a kick or a wait to resume?  Mostly not. */
static inline bool umcg_return_work(struct umcg_thread *u)
{
	return u->pinned || u->server || u->blocked || u->resume_wait ||
	       atomic_read(&u->kicked);
}

static inline void umcg_sys_exit(struct pt_regs *regs)
{
	struct umcg_thread *u = current->umcg;

	if (u && umcg_return_work(u))
		__umcg_sys_exit(regs);
}

/* Only a worker with pinned pages has something to do in schedule(). */
static inline void umcg_sched_submit(struct task_struct *tsk)
{
	struct umcg_thread *u = tsk->umcg;

	if (unlikely(u) && u->pinned)
		__umcg_sched_submit(tsk);
}

static inline void umcg_notify_resume(struct pt_regs *regs)
{
	struct umcg_thread *u = current->umcg;

	if (unlikely(u) && umcg_return_work(u))
		__umcg_notify_resume(regs);
}

static inline void umcg_page_fault(struct pt_regs *regs)
{
	if (unlikely(current->umcg))
		umcg_fault_enter(regs);
}

#else /* !CONFIG_UMCG */

static inline void umcg_sys_enter(struct pt_regs *regs, long syscall) { }
static inline void umcg_sys_exit(struct pt_regs *regs) { }
static inline void umcg_page_fault(struct pt_regs *regs) { }
static inline void umcg_notify_resume(struct pt_regs *regs) { }
static inline void umcg_sched_submit(struct task_struct *tsk) { }
static inline void umcg_handle_exit(struct task_struct *tsk) { }
static inline void umcg_execve(struct task_struct *tsk) { }
static inline void umcg_fork(struct task_struct *child) { }
static inline void umcg_free(struct task_struct *tsk) { }

#endif /* CONFIG_UMCG */

#endif /* _LINUX_UMCG_H */
