/* SPDX-License-Identifier: GPL-2.0 */
/*
 * User Managed Concurrency Groups (UMCG): the hooks the entry code, the
 * scheduler and the task lifetime code call.  See kernel/sched/umcg.c.
 */
#ifndef _LINUX_UMCG_H
#define _LINUX_UMCG_H

#include <uapi/linux/umcg.h>
#include <linux/sched.h>

struct pt_regs;

#ifdef CONFIG_UMCG

void umcg_sys_enter(struct pt_regs *regs, long syscall);
void umcg_sys_exit(struct pt_regs *regs);
void umcg_fault_enter(struct pt_regs *regs);
void __umcg_notify_resume(struct pt_regs *regs);
void __umcg_sched_submit(struct task_struct *tsk);
void umcg_handle_exit(struct task_struct *tsk);
void umcg_execve(struct task_struct *tsk);
void umcg_fork(struct task_struct *child);
void umcg_free(struct task_struct *tsk);

/* Only a registered worker has a pinned page to act on in schedule(). */
static inline void umcg_sched_submit(struct task_struct *tsk)
{
	if (unlikely(tsk->umcg))
		__umcg_sched_submit(tsk);
}

static inline void umcg_notify_resume(struct pt_regs *regs)
{
	if (unlikely(current->umcg))
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
