// SPDX-License-Identifier: GPL-2.0
/*
 * User Managed Concurrency Groups (UMCG)
 *
 * A server thread stands for a CPU and picks which of its worker threads
 * runs; a worker runs only while its server sleeps in umcg_wait().  The
 * state of every task lives in user memory (struct umcg_task, see
 * include/uapi/linux/umcg.h), so that the user-space scheduler can read it
 * without system calls.  The kernel's part is block detection:
 *
 *   syscall entry / user page fault        umcg_sys_enter(), umcg_fault_enter()
 *	pin the pages of the worker's and of its server's struct umcg_task
 *	(we cannot fault in schedule()), and take a reference on the server.
 *
 *   first schedule() while pinned           __umcg_sched_submit()
 *	RUNNING -> BLOCKED through the kernel mapping of the pinned page,
 *	wake the server (RUNNABLE -> RUNNING) on this CPU, and unpin: pages
 *	stay pinned from entry to the first block or to the exit, never
 *	longer.
 *
 *   syscall exit / return to user           umcg_sys_exit(), __umcg_notify_resume()
 *	unpin if still pinned.  A worker that blocked goes BLOCKED ->
 *	RUNNABLE, is pushed on its server's list (cmpxchg on user memory),
 *	wakes the server and sleeps until something makes it RUNNING.  A
 *	worker whose server set UMCG_TF_PREEMPT and called umcg_kick() does
 *	the same from RUNNING.  The time between the wake-up in the kernel
 *	and this point is unmanaged.
 *
 * Signals are unmanaged time too: a wait in the return-to-user path stops
 * for a pending signal, the handler runs (the worker is not RUNNING), and
 * the wait is resumed when the task comes back to the same user context
 * (at rt_sigreturn's exit).  umcg_wait() restarts itself after a handler
 * and goes on waiting.
 *
 * The exact checks and their errno order follow docs/semantics.md of
 * libumcg, which every implementation of this ABI shares.
 */
#include <linux/umcg.h>
#include <linux/syscalls.h>
#include <linux/mm.h>
#include <linux/highmem.h>
#include <linux/hrtimer.h>
#include <linux/kobject.h>
#include <linux/sysfs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/ptrace.h>
#include <linux/resume_user_mode.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/timekeeping.h>
#include <asm/unistd.h>

#include "sched.h"

#define UMCG_KERNEL_BITS	(UMCG_TASK_MASK | UMCG_TF_MASK)

/* umcg_thread::parked */
#define UMCG_UNPARKED		0
#define UMCG_PARKED		1
#define UMCG_QUEUING		2	/* timeout won, being pushed */
#define UMCG_QUEUED		3	/* timeout won, on its server's list */

/* Upper bound of a list walk; a longer list is the caller's problem. */
#define UMCG_LIST_WALK_MAX	65536

static inline u32 umcg_set_state(u32 old, u32 state)
{
	/* Keep the user bits 16-31, replace state and kernel flags. */
	return (old & ~UMCG_KERNEL_BITS) | state;
}

static __always_inline u64 umcg_now(clockid_t clock)
{
	switch (clock) {
	case CLOCK_REALTIME:
		return ktime_get_real_ns();
	case CLOCK_BOOTTIME:
		return ktime_get_boottime_ns();
	case CLOCK_TAI:
		return ktime_get_clocktai_ns();
	default:
		return ktime_get_ns();
	}
}

static void umcg_die(const char *why)
{
	pr_warn_ratelimited("umcg: %s[%d] broke the UMCG contract: %s; killing it\n",
			    current->comm, task_pid_nr(current), why);
	force_sig(SIGKILL);
}

/*
 * cmpxchg on user memory: 0, -EAGAIN (*old updated) or -EFAULT.  Inline,
 * like the two accessors below, because the direct switch (umcg_wait()
 * with next_tid) uses them: get_user() and put_user() are calls.
 */
static __always_inline int umcg_cmpxchg_32(u32 __user *uaddr, u32 *old, u32 new)
{
	int ret = -EAGAIN;

	if (!user_access_begin(uaddr, sizeof(*uaddr)))
		return -EFAULT;
	if (unsafe_try_cmpxchg_user(uaddr, old, new, fault))
		ret = 0;
	user_access_end();
	return ret;
fault:
	user_access_end();
	return -EFAULT;
}

static int umcg_cmpxchg_64(u64 __user *uaddr, u64 *old, u64 new)
{
	int ret = -EAGAIN;

	if (!user_access_begin(uaddr, sizeof(*uaddr)))
		return -EFAULT;
	if (unsafe_try_cmpxchg_user(uaddr, old, new, fault))
		ret = 0;
	user_access_end();
	return ret;
fault:
	user_access_end();
	return -EFAULT;
}

static __always_inline int umcg_get_u32(u32 __user *uaddr, u32 *val)
{
	if (!user_access_begin(uaddr, sizeof(*uaddr)))
		return -EFAULT;
	unsafe_get_user(*val, uaddr, fault);
	user_access_end();
	return 0;
fault:
	user_access_end();
	return -EFAULT;
}

/* state and next_tid of @self, in one user access section. */
static __always_inline int umcg_get_head(struct umcg_task __user *self,
					 u32 *state, u32 *next_tid)
{
	if (!user_access_begin(self, 2 * sizeof(u32)))
		return -EFAULT;
	unsafe_get_user(*state, &self->state, fault);
	unsafe_get_user(*next_tid, &self->next_tid, fault);
	user_access_end();
	return 0;
fault:
	user_access_end();
	return -EFAULT;
}

static __always_inline int umcg_put_u64(u64 __user *uaddr, u64 val)
{
	if (!user_access_begin(uaddr, sizeof(*uaddr)))
		return -EFAULT;
	unsafe_put_user(val, uaddr, fault);
	user_access_end();
	return 0;
fault:
	user_access_end();
	return -EFAULT;
}

static __always_inline int umcg_put_u32(u32 __user *uaddr, u32 val)
{
	if (!user_access_begin(uaddr, sizeof(*uaddr)))
		return -EFAULT;
	unsafe_put_user(val, uaddr, fault);
	user_access_end();
	return 0;
fault:
	user_access_end();
	return -EFAULT;
}

/*
 * A registered task of the caller's process, by tid, with a reference.
 * @role 0 accepts any role.
 */
static struct task_struct *umcg_get_task(u32 tid, int role)
{
	struct task_struct *t;
	struct umcg_thread *u;
	int r;

	if (!tid || tid > PID_MAX_LIMIT)
		return NULL;
	rcu_read_lock();
	t = find_task_by_vpid(tid);
	if (t) {
		u = READ_ONCE(t->umcg);
		r = u ? READ_ONCE(u->role) : UMCG_ROLE_NONE;
		if (!same_thread_group(t, current) || r == UMCG_ROLE_NONE ||
		    (role && r != role))
			t = NULL;
	}
	if (t)
		get_task_struct(t);
	rcu_read_unlock();
	return t;
}

/*
 * umcg_get_task(@tid, UMCG_ROLE_NONE) for umcg_wait()'s next_tid, through
 * @u's cache.  A struct pid outlives its number's registration, so a cached
 * pid whose task exited has no task any more (a new task with the same tid
 * has a new struct pid): then the lookup is done afresh.  While the task
 * lives, its pid is what find_vpid(@tid) would return.
 */
static struct task_struct *umcg_get_next(struct umcg_thread *u, u32 tid)
{
	struct pid *pid, *old = NULL;
	struct task_struct *t;
	struct umcg_thread *tu;

	if (!tid || tid > PID_MAX_LIMIT)
		return NULL;
	rcu_read_lock();
	pid = tid == u->next_nr ? u->next_pid : NULL;
	t = pid ? pid_task(pid, PIDTYPE_PID) : NULL;
	if (!t) {
		pid = find_vpid(tid);
		t = pid ? pid_task(pid, PIDTYPE_PID) : NULL;
		if (t) {
			old = u->next_pid;
			u->next_pid = get_pid(pid);
			u->next_nr = tid;
		}
	}
	if (t) {
		tu = READ_ONCE(t->umcg);
		if (!same_thread_group(t, current) || !tu ||
		    READ_ONCE(tu->role) == UMCG_ROLE_NONE)
			t = NULL;
	}
	if (t)
		get_task_struct(t);
	rcu_read_unlock();
	if (old)
		put_pid(old);
	return t;
}

/*
 * "Wake task T": RUNNABLE (any flags) -> RUNNING (flags cleared), then wake
 * its thread.  Returns 0, -EAGAIN when T was not RUNNABLE, or -EFAULT.
 */
static int umcg_wake_task(struct task_struct *t, struct umcg_task __user *ut,
			  int wake_flags)
{
	u32 old;
	int ret;

	if (get_user(old, &ut->state))
		return -EFAULT;
	do {
		if ((old & UMCG_TASK_MASK) != UMCG_TASK_RUNNABLE)
			return -EAGAIN;
		ret = umcg_cmpxchg_32(&ut->state, &old,
				      umcg_set_state(old, UMCG_TASK_RUNNING));
	} while (ret == -EAGAIN);
	if (!ret)
		try_to_wake_up(t, TASK_INTERRUPTIBLE, wake_flags);
	return ret;
}

/*
 * "Enqueue W": write runnable_ts, push @self on its server's list, wake the
 * server.  The caller is about to sleep, so the server may take its CPU.
 */
static int umcg_enqueue(struct umcg_thread *u)
{
	struct umcg_task __user *self = u->self;
	struct umcg_task __user *st;
	struct task_struct *server;
	u64 head;
	u32 stid;
	int ret;

	if (put_user(umcg_now(u->clock), &self->runnable_ts) ||
	    get_user(stid, &self->server_tid))
		return -EFAULT;
	server = umcg_get_task(stid, UMCG_ROLE_SERVER);
	if (!server)
		return -ESRCH;
	st = READ_ONCE(server->umcg)->self;

	ret = -EFAULT;
	if (get_user(head, &st->runnable_workers_ptr))
		goto out;
	do {
		if (put_user(head, &self->runnable_workers_ptr)) {
			ret = -EFAULT;
			goto out;
		}
		ret = umcg_cmpxchg_64(&st->runnable_workers_ptr, &head,
				      (u64)(unsigned long)self);
	} while (ret == -EAGAIN);
	if (!ret) {
		ret = umcg_wake_task(server, st, WF_CURRENT_CPU);
		if (ret == -EAGAIN)
			ret = 0;
	}
out:
	put_task_struct(server);
	return ret;
}

/*
 * Sleep until our state is RUNNING.  @wake, if given, was just made RUNNING
 * by us and is woken on this CPU right before we schedule away: a direct
 * switch costs one context switch.  Returns 0, -EINTR (signal pending),
 * -ETIMEDOUT (@timer expired) or -EFAULT.
 */
static int umcg_sleep(struct umcg_task __user *self,
		      struct hrtimer_sleeper *timer, struct task_struct *wake)
{
	u32 state;
	int ret;

	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		pagefault_disable();
		ret = umcg_get_u32(&self->state, &state);
		pagefault_enable();
		if (ret) {
			__set_current_state(TASK_RUNNING);
			if (get_user(state, &self->state))
				break;
			continue;
		}
		if ((state & UMCG_TASK_MASK) == UMCG_TASK_RUNNING)
			break;
		ret = -EINTR;
		if (signal_pending(current))
			break;
		ret = -ETIMEDOUT;
		if (timer && !timer->task)
			break;
		ret = 0;
		if (wake) {
			preempt_disable();
			/*
			 * We schedule right after the wake-up: marked first,
			 * the wake-up skips the wakeup-preemption check (and
			 * __schedule() the clock update ttwu already did).
			 */
			set_tsk_need_resched(current);
			try_to_wake_up(wake, TASK_INTERRUPTIBLE, WF_CURRENT_CPU);
			wake = NULL;
			/* As schedule_preempt_disabled(): schedule() is next. */
			preempt_enable_no_resched();
		}
		schedule();
		/* Mostly woken by the move to RUNNING: look before re-arming. */
		pagefault_disable();
		ret = umcg_get_u32(&self->state, &state);
		pagefault_enable();
		if (!ret && (state & UMCG_TASK_MASK) == UMCG_TASK_RUNNING)
			break;
	}
	__set_current_state(TASK_RUNNING);
	if (wake)
		try_to_wake_up(wake, TASK_INTERRUPTIBLE, WF_CURRENT_CPU);
	return ret;
}

/*
 * Drop the page pins.  schedule() calls this too; the reference on the
 * server is dropped only by umcg_unpin(), outside the scheduler.
 */
static void umcg_unpin_pages(struct umcg_thread *u)
{
	if (!u->pinned)
		return;
	u->pinned = false;
	unpin_user_page(u->self_page);
	unpin_user_page(u->server_page);
}

static void __umcg_unpin(struct umcg_thread *u)
{
	umcg_unpin_pages(u);
	if (u->server) {
		put_task_struct(u->server);
		u->server = NULL;
	}
}

static __always_inline void umcg_unpin(struct umcg_thread *u)
{
	if (u->pinned || u->server)
		__umcg_unpin(u);
}

/*
 * Pin what __umcg_sched_submit() needs: the worker's and its server's
 * struct umcg_task, and the server task.  Only a RUNNING worker is managed;
 * anything else (unmanaged time) passes through.
 */
static void umcg_pin(struct umcg_thread *u)
{
	struct umcg_task __user *self = u->self;
	struct task_struct *server;
	u32 state, stid;

	if (u->pinned || u->resume_wait)
		return;
	umcg_unpin(u);
	if (get_user(state, &self->state) ||
	    get_user(stid, &self->server_tid)) {
		umcg_die("its struct umcg_task is not readable");
		return;
	}
	if ((state & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)
		return;
	server = umcg_get_task(stid, UMCG_ROLE_SERVER);
	if (!server)
		return;
	u->server_self = READ_ONCE(server->umcg)->self;
	if (pin_user_pages_fast((unsigned long)self, 1, FOLL_WRITE,
				&u->self_page) != 1)
		goto put;
	if (pin_user_pages_fast((unsigned long)u->server_self, 1, FOLL_WRITE,
				&u->server_page) != 1) {
		unpin_user_page(u->self_page);
		goto put;
	}
	u->server = server;
	u->pinned = true;
	return;
put:
	put_task_struct(server);
	umcg_die("its or its server's struct umcg_task cannot be pinned");
}

/* umcg_sys_enter(): a worker's system call other than UMCG's own. */
void __umcg_sys_enter(struct pt_regs *regs)
{
	umcg_pin(current->umcg);
}

void umcg_fault_enter(struct pt_regs *regs)
{
	struct umcg_thread *u = current->umcg;

	if (READ_ONCE(u->role) != UMCG_ROLE_WORKER || u->pinned)
		return;
	umcg_pin(u);
	/* The fault's way back to user space unpins and waits if needed. */
	if (u->pinned)
		set_notify_resume(current);
}

/*
 * schedule() of a task that is not TASK_RUNNING, i.e. a block: the first one
 * between entry and exit marks the worker BLOCKED and wakes its server.
 * Runs in the scheduler's submit path: no faults, no sleeping, hence the
 * pinned pages.
 */
void __umcg_sched_submit(struct task_struct *tsk)
{
	struct umcg_thread *u = tsk->umcg;
	void *kself, *kserver;
	u32 *state, old;
	bool wake = false;

	if (!u->pinned)
		return;

	kself = kmap_local_page(u->self_page) + offset_in_page(u->self);
	state = kself + offsetof(struct umcg_task, state);
	old = READ_ONCE(*state);
	if ((old & UMCG_TASK_MASK) == UMCG_TASK_RUNNING) {
		WRITE_ONCE(*(u64 *)(kself + offsetof(struct umcg_task, blocked_ts)),
			   umcg_now(u->clock));
		do {
			if ((old & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)
				break;
			if (try_cmpxchg(state, &old,
					umcg_set_state(old, UMCG_TASK_BLOCKED))) {
				u->blocked = true;
				wake = true;
				break;
			}
		} while (1);
	}
	kunmap_local(kself);

	if (wake) {
		kserver = kmap_local_page(u->server_page) +
			  offset_in_page(u->server_self);
		state = kserver + offsetof(struct umcg_task, state);
		old = READ_ONCE(*state);
		while ((old & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE) {
			if (try_cmpxchg(state, &old,
					umcg_set_state(old, UMCG_TASK_RUNNING))) {
				try_to_wake_up(u->server, TASK_INTERRUPTIBLE,
					       WF_CURRENT_CPU);
				break;
			}
		}
		kunmap_local(kserver);
	}
	umcg_unpin_pages(u);
}

/*
 * Syscall exit and return to user space of a worker: unpin; a worker that
 * blocked or was preempted becomes RUNNABLE, is enqueued and sleeps until
 * RUNNING.  A signal interrupts the sleep to run its handler; the sleep
 * resumes when the task comes back to the same user context.
 */
static void umcg_return_to_user(struct pt_regs *regs)
{
	struct umcg_thread *u = current->umcg;
	struct umcg_task __user *self = u->self;
	bool kicked;
	u32 old, new;
	int ret;

	umcg_unpin(u);
	/* The common case: a call that did not block, no kick, no signal. */
	if (!u->blocked && !u->resume_wait && !atomic_read(&u->kicked))
		return;
	if (READ_ONCE(u->role) != UMCG_ROLE_WORKER)
		return;
	if (fatal_signal_pending(current))
		return;
	kicked = atomic_xchg(&u->kicked, 0);
	/* A signal handler runs as unmanaged time. */
	if (u->resume_wait && instruction_pointer(regs) != u->resume_ip)
		return;

	if (get_user(old, &self->state))
		goto fault;
	for (;;) {
		if (u->blocked) {
			if ((old & UMCG_TASK_MASK) != UMCG_TASK_BLOCKED)
				break;
		} else if (!kicked ||
			   (old & (UMCG_TASK_MASK | UMCG_TF_PREEMPT)) !=
			   (UMCG_TASK_RUNNING | UMCG_TF_PREEMPT)) {
			break;
		}
		new = umcg_set_state(old, UMCG_TASK_RUNNABLE);
		ret = umcg_cmpxchg_32(&self->state, &old, new);
		if (ret == -EAGAIN)
			continue;
		if (ret)
			goto fault;
		u->blocked = false;
		ret = umcg_enqueue(u);
		if (ret == -EFAULT)
			goto fault;
		u->resume_wait = true;
		u->resume_ip = instruction_pointer(regs);
		break;
	}
	u->blocked = false;
	if (!u->resume_wait)
		return;

	ret = umcg_sleep(self, NULL, NULL);
	if (ret == -EINTR) {
		/* Come back here once the signal is dealt with. */
		set_notify_resume(current);
		return;
	}
	u->resume_wait = false;
	if (!ret)
		return;
fault:
	umcg_die("its struct umcg_task is not accessible");
}

/* umcg_sys_exit() and umcg_notify_resume() found umcg_return_work(). */
void __umcg_sys_exit(struct pt_regs *regs)
{
	umcg_return_to_user(regs);
}

void __umcg_notify_resume(struct pt_regs *regs)
{
	/* KVM's guest-entry work passes no user regs. */
	if (regs && user_mode(regs))
		umcg_return_to_user(regs);
}

/* Unregister: role NONE, no hooks, nothing pinned. */
static void umcg_detach(struct task_struct *tsk, struct umcg_thread *u)
{
	umcg_unpin(u);
	WRITE_ONCE(u->role, UMCG_ROLE_NONE);
	clear_task_syscall_work(tsk, SYSCALL_UMCG);
	atomic_set(&u->kicked, 0);
	atomic_set(&u->parked, 0);
	u->blocked = false;
	u->resume_wait = false;
	u->in_wait = false;
	u->timed_out = false;
	put_pid(u->next_pid);
	u->next_pid = NULL;
	u->next_nr = 0;
}

static void umcg_wake_server(u32 stid)
{
	struct task_struct *server;

	server = umcg_get_task(stid, UMCG_ROLE_SERVER);
	if (!server)
		return;
	umcg_wake_task(server, READ_ONCE(server->umcg)->self, 0);
	put_task_struct(server);
}

/* Move @self to NONE (user bits kept) whatever its state. */
static int umcg_set_none(struct umcg_task __user *self)
{
	u32 old;
	int ret;

	if (get_user(old, &self->state))
		return -EFAULT;
	do {
		ret = umcg_cmpxchg_32(&self->state, &old,
				      umcg_set_state(old, UMCG_TASK_NONE));
	} while (ret == -EAGAIN);
	return ret;
}

static int umcg_register(struct umcg_task __user *self, struct umcg_task *ut,
			 bool worker, clockid_t clock)
{
	struct umcg_thread *u = current->umcg;
	struct task_struct *server;
	u32 old;
	int ret;

	switch (clock) {
	case CLOCK_REALTIME:
	case CLOCK_MONOTONIC:
	case CLOCK_BOOTTIME:
	case CLOCK_TAI:
		break;
	default:
		return -EINVAL;
	}
	if (u && READ_ONCE(u->role) != UMCG_ROLE_NONE)
		return -EINVAL;
	if (ut->__zero0 || ut->__zero[0] || ut->__zero[1] || ut->__zero[2] ||
	    ut->next_tid)
		return -EINVAL;
	if (!worker) {
		if ((ut->state & UMCG_KERNEL_BITS) != UMCG_TASK_RUNNING ||
		    ut->server_tid != task_pid_vnr(current))
			return -EINVAL;
	} else {
		if ((ut->state & UMCG_KERNEL_BITS) != UMCG_TASK_BLOCKED)
			return -EINVAL;
		server = umcg_get_task(ut->server_tid, UMCG_ROLE_SERVER);
		if (!server)
			return -ESRCH;
		put_task_struct(server);
	}

	if (!u) {
		u = kzalloc(sizeof(*u), GFP_KERNEL);
		if (!u)
			return -ENOMEM;
		WRITE_ONCE(current->umcg, u);
	}
	u->self = self;
	u->clock = clock;
	atomic_set(&u->parked, 0);
	u->blocked = false;
	u->resume_wait = false;
	u->in_wait = false;
	u->timed_out = false;
	/* Publish the fields above before the role that others test. */
	smp_store_release(&u->role,
			  worker ? UMCG_ROLE_WORKER : UMCG_ROLE_SERVER);
	if (!worker)
		return 0;

	set_syscall_work(SYSCALL_UMCG);
	/* BLOCKED -> RUNNABLE, enqueue; the syscall exit waits for RUNNING. */
	old = ut->state;
	do {
		if ((old & UMCG_TASK_MASK) != UMCG_TASK_BLOCKED)
			break;
		ret = umcg_cmpxchg_32(&self->state, &old,
				      umcg_set_state(old, UMCG_TASK_RUNNABLE));
	} while (ret == -EAGAIN);
	if (!ret)
		ret = umcg_enqueue(u);
	if (ret) {
		umcg_detach(current, u);
		return ret;
	}
	u->resume_wait = true;
	u->resume_ip = instruction_pointer(current_pt_regs());
	return 0;
}

static int umcg_unregister(struct umcg_task __user *self, bool worker)
{
	struct umcg_thread *u = current->umcg;
	int role = u ? READ_ONCE(u->role) : UMCG_ROLE_NONE;
	bool is_worker = role == UMCG_ROLE_WORKER;
	u32 old, stid;
	int ret;

	if (role == UMCG_ROLE_NONE || u->self != self)
		return -EINVAL;
	if (worker != is_worker)
		return -EINVAL;
	if (get_user(old, &self->state))
		return -EFAULT;
	do {
		if ((old & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)
			return -EINVAL;
		ret = umcg_cmpxchg_32(&self->state, &old,
				      umcg_set_state(old, UMCG_TASK_NONE));
	} while (ret == -EAGAIN);
	if (ret)
		return ret;
	umcg_detach(current, u);
	if (worker && !get_user(stid, &self->server_tid))
		umcg_wake_server(stid);
	return 0;
}

/**
 * sys_umcg_ctl() - register or unregister the calling thread
 * @flags:	UMCG_CTL_REGISTER or UMCG_CTL_UNREGISTER, with UMCG_CTL_WORKER
 *		for a worker
 * @self:	the caller's struct umcg_task, 64-byte aligned
 * @clock:	the clock of time stamps and timeouts (REGISTER only)
 *
 * A new worker returns once its server has run it.
 *
 * Return: 0, or -EINVAL, -EFAULT, -ESRCH, -ENOMEM.
 */
SYSCALL_DEFINE3(umcg_ctl, u32, flags, struct umcg_task __user *, self,
		clockid_t, clock)
{
	struct umcg_task ut;
	u32 v;

	switch (flags) {
	case UMCG_CTL_REGISTER:
	case UMCG_CTL_REGISTER | UMCG_CTL_WORKER:
	case UMCG_CTL_UNREGISTER:
	case UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER:
		break;
	default:
		return -EINVAL;
	}
	if ((unsigned long)self % sizeof(struct umcg_task))
		return -EINVAL;
	if (copy_from_user(&ut, self, sizeof(ut)))
		return -EFAULT;
	/* Writable too: an atomic no-op store. */
	v = ut.state;
	if (umcg_cmpxchg_32(&self->state, &v, v) == -EFAULT)
		return -EFAULT;

	if (flags & UMCG_CTL_UNREGISTER)
		return umcg_unregister(self, flags & UMCG_CTL_WORKER);
	return umcg_register(self, &ut, flags & UMCG_CTL_WORKER, clock);
}

/* A server's own RUNNABLE -> RUNNING; -EAGAIN if it was not RUNNABLE. */
static int umcg_wake_self(struct umcg_task __user *self)
{
	u32 old;
	int ret;

	if (get_user(old, &self->state))
		return -EFAULT;
	do {
		if ((old & UMCG_TASK_MASK) != UMCG_TASK_RUNNABLE)
			return -EAGAIN;
		ret = umcg_cmpxchg_32(&self->state, &old,
				      umcg_set_state(old, UMCG_TASK_RUNNING));
	} while (ret == -EAGAIN);
	return ret;
}

/* Whenever umcg_wait() fails, the caller is RUNNING again. */
static void umcg_wait_fail(struct umcg_thread *u)
{
	u32 old;

	atomic_set(&u->parked, 0);
	u->timed_out = false;
	if (get_user(old, &u->self->state))
		return;
	while (umcg_cmpxchg_32(&u->self->state, &old,
			       umcg_set_state(old, UMCG_TASK_RUNNING)) == -EAGAIN)
		;
}

/* Is worker @wt on the runnable list of server @st? */
static int umcg_on_list(struct umcg_task __user *st, struct umcg_task __user *wt)
{
	struct umcg_task __user *t;
	u64 p;
	int n;

	if (get_user(p, &st->runnable_workers_ptr))
		return -EFAULT;
	for (n = 0; p && n < UMCG_LIST_WALK_MAX; n++) {
		t = (struct umcg_task __user *)(unsigned long)p;
		if (t == wt)
			return 1;
		if (get_user(p, &t->runnable_workers_ptr))
			return -EFAULT;
		if (fatal_signal_pending(current))
			return -EINTR;
	}
	return 0;
}

/*
 * May the caller run worker @nu (step 5 of umcg_wait())?  A parked worker
 * is claimed against its own timeout (*@claimed); otherwise it must be one
 * of the caller's own workers that the caller took off its list.  A worker
 * that its timeout queued is still on the list unless the server took it.
 */
static int umcg_claim(struct umcg_thread *nu, struct umcg_task __user *nt,
		      bool *claimed)
{
	u32 stid;
	int p, ret;

	if (atomic_cmpxchg(&nu->parked, UMCG_PARKED, UMCG_UNPARKED) == UMCG_PARKED) {
		*claimed = true;
		return 0;
	}
	if (get_user(stid, &nt->server_tid))
		return -EFAULT;
	if (stid != task_pid_vnr(current))
		return -EAGAIN;
	/* The push of a timed-out worker is short: let it finish. */
	while ((p = atomic_read(&nu->parked)) == UMCG_QUEUING) {
		if (fatal_signal_pending(current))
			return -EAGAIN;
		cond_resched();
		cpu_relax();
	}
	if (p != UMCG_QUEUED)
		return 0;
	ret = umcg_on_list(current->umcg->self, nt);
	if (ret)
		return ret < 0 && ret != -EINTR ? ret : -EAGAIN;
	return 0;
}

/*
 * Step 5 of umcg_wait(): run @next.  Returns 0 with @next made RUNNING and
 * still to be woken (by umcg_sleep(), on this CPU), 1 when there is nothing
 * to wake, or a negative errno.
 */
static int umcg_wait_next(struct umcg_thread *u, struct task_struct *next,
			  u32 next_tid)
{
	struct umcg_thread *nu = READ_ONCE(next->umcg);
	struct umcg_task __user *nt = nu->self;
	bool claimed = false;
	u32 state;
	int ret;

	if (next_tid & UMCG_TID_RUNNING) {
		if (umcg_get_u32(&nt->state, &state))
			return -EFAULT;
		if ((state & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)
			return -EAGAIN;
		return 1;
	}

	if (READ_ONCE(nu->role) == UMCG_ROLE_WORKER) {
		ret = umcg_claim(nu, nt, &claimed);
		if (ret)
			return ret;
	}

	/*
	 * Write TID_RUNNING back before @next can run: once RUNNING it may
	 * switch on and store its successor in our next_tid (a worker keeps
	 * its server's view true), which a later write would overwrite.
	 */
	if (umcg_put_u32(&u->self->next_tid, next_tid | UMCG_TID_RUNNING))
		return -EFAULT;
	if (umcg_get_u32(&nt->state, &state))
		ret = -EFAULT;
	else
		do {
			if ((state & UMCG_TASK_MASK) != UMCG_TASK_RUNNABLE) {
				ret = -EAGAIN;
				break;
			}
			ret = umcg_cmpxchg_32(&nt->state, &state,
					      umcg_set_state(state, UMCG_TASK_RUNNING));
		} while (ret == -EAGAIN);
	if (ret) {
		if (claimed)
			atomic_set(&nu->parked, UMCG_PARKED);
		put_user(next_tid, &u->self->next_tid);
		return ret;
	}
	return 0;
}

/**
 * sys_umcg_wait() - run next_tid, then sleep until RUNNING
 * @flags:		must be 0
 * @abs_timeout:	absolute time on the registration clock; 0 for none
 *			(a worker then yields: it is queued at once);
 *			U64_MAX for none without queueing
 *
 * The caller must have set its state to RUNNABLE | UMCG_TF_COND_WAIT.
 *
 * Return: 0, or -EINVAL, -ESRCH, -EAGAIN, -ETIMEDOUT, -EFAULT.
 */
SYSCALL_DEFINE2(umcg_wait, u32, flags, u64, abs_timeout)
{
	struct umcg_thread *u = current->umcg;
	struct task_struct *next = NULL, *wake = NULL;
	struct umcg_task __user *self;
	struct hrtimer_sleeper timer;
	bool worker, timed;
	u32 state, next_tid;
	int ret;

	if (!u || READ_ONCE(u->role) == UMCG_ROLE_NONE)
		return -EINVAL;
	self = u->self;
	worker = READ_ONCE(u->role) == UMCG_ROLE_WORKER;
	umcg_unpin(u);
	if (flags) {
		ret = -EINVAL;
		goto fail;
	}
	if (umcg_get_head(self, &state, &next_tid)) {
		ret = -EFAULT;
		goto fail;
	}

	/* Restarted after a signal handler: go on waiting. */
	if (u->in_wait) {
		u->in_wait = false;
		if ((state & UMCG_KERNEL_BITS) == UMCG_TASK_RUNNABLE ||
		    (state & UMCG_TASK_MASK) == UMCG_TASK_RUNNING)
			goto sleep;
		atomic_set(&u->parked, 0);
		u->timed_out = false;
	}

	if (next_tid & UMCG_TID_MASK) {
		next = umcg_get_next(u, next_tid & UMCG_TID_MASK);
		if (!next) {
			ret = -ESRCH;
			goto fail;
		}
		/* Naming oneself is a bug of the caller, never a switch. */
		if (next == current) {
			ret = -EINVAL;
			goto fail;
		}
	}

	ret = -EAGAIN;
	if ((state & UMCG_KERNEL_BITS) != (UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT))
		goto fail;
	ret = umcg_cmpxchg_32(&self->state, &state,
			      umcg_set_state(state, UMCG_TASK_RUNNABLE));
	if (ret)
		goto fail;
	/* From here on a wake-up of ours is never lost. */
	if (worker && abs_timeout)
		atomic_set(&u->parked, UMCG_PARKED);
	/* A yield stamps it when queued. */
	if ((!worker || abs_timeout) &&
	    umcg_put_u64(&self->runnable_ts, umcg_now(u->clock))) {
		ret = -EFAULT;
		goto fail;
	}

	if (next) {
		ret = umcg_wait_next(u, next, next_tid);
		if (ret < 0 && worker && abs_timeout &&
		    atomic_cmpxchg(&u->parked, UMCG_PARKED, UMCG_UNPARKED) !=
		    UMCG_PARKED) {
			/*
			 * A namer claimed us meanwhile and is making us
			 * RUNNING: our park succeeded, whatever became of our
			 * own switch.  Failing it would leave the namer
			 * waiting for a CPU it handed to us.
			 */
			put_task_struct(next);
			next = NULL;
			goto sleep;
		}
		if (ret < 0)
			goto fail;
		if (!ret)
			wake = next;
		else
			put_task_struct(next);
		next = NULL;
	}

	if (worker && !abs_timeout) {
		ret = umcg_enqueue(u);
		if (ret == -EFAULT)
			goto fail;
	}

sleep:
	timed = abs_timeout && abs_timeout != U64_MAX &&
		!(worker && u->timed_out);
	if (timed) {
		hrtimer_init_sleeper_on_stack(&timer, u->clock, HRTIMER_MODE_ABS);
		hrtimer_set_expires_range_ns(&timer.timer,
					     ns_to_ktime(min_t(u64, abs_timeout, KTIME_MAX)),
					     current->timer_slack_ns);
		hrtimer_sleeper_start_expires(&timer, HRTIMER_MODE_ABS);
	}
	ret = umcg_sleep(self, timed ? &timer : NULL, wake);
	if (wake) {
		put_task_struct(wake);
		wake = NULL;
	}
	if (timed) {
		hrtimer_cancel(&timer.timer);
		destroy_hrtimer_on_stack(&timer.timer);
	}

	if (ret == -ETIMEDOUT) {
		if (!worker) {
			/* Unless somebody woke us at the same moment. */
			ret = umcg_wake_self(self);
			return ret == -EAGAIN ? 0 : ret ? ret : -ETIMEDOUT;
		}
		/* A parked worker is queued, unless a next_tid claim won. */
		if (atomic_cmpxchg(&u->parked, UMCG_PARKED, UMCG_QUEUING) ==
		    UMCG_PARKED) {
			u->timed_out = true;
			ret = umcg_enqueue(u);
			atomic_set(&u->parked, UMCG_QUEUED);
			if (ret == -EFAULT)
				goto fail;
		}
		ret = umcg_sleep(self, NULL, NULL);
	}
	if (ret == -EINTR) {
		u->in_wait = true;
		return -ERESTARTNOINTR;
	}
	if (ret)
		goto fail;
	ret = u->timed_out ? -ETIMEDOUT : 0;
	atomic_set(&u->parked, 0);
	u->timed_out = false;
	return ret;

fail:
	if (next)
		put_task_struct(next);
	if (wake) {
		/* Made RUNNING already: it must not sleep through that. */
		try_to_wake_up(wake, TASK_INTERRUPTIBLE, 0);
		put_task_struct(wake);
	}
	umcg_wait_fail(u);
	return ret;
}

/**
 * sys_umcg_kick() - preempt a worker or wake a waiting server
 * @flags:	must be 0
 * @tid:	a registered task of the caller's process
 *
 * A worker goes through its return to user space, where it is preempted
 * if its state is RUNNING | UMCG_TF_PREEMPT.  A RUNNABLE server is woken.
 *
 * Return: 0, or -EINVAL, -ESRCH.
 */
SYSCALL_DEFINE2(umcg_kick, u32, flags, pid_t, tid)
{
	struct task_struct *t;
	int ret = 0;

	if (flags)
		return -EINVAL;
	if (tid <= 0)
		return -ESRCH;
	t = umcg_get_task(tid, UMCG_ROLE_NONE);
	if (!t)
		return -ESRCH;
	if (READ_ONCE(READ_ONCE(t->umcg)->role) == UMCG_ROLE_WORKER) {
		atomic_set(&READ_ONCE(t->umcg)->kicked, 1);
		/* Pairs with the barrier in resume_user_mode_work(). */
		smp_mb__before_atomic();
		set_notify_resume(t);
		kick_process(t);
	} else {
		ret = umcg_wake_task(t, READ_ONCE(t->umcg)->self, 0);
		if (ret == -EAGAIN)
			ret = 0;
	}
	put_task_struct(t);
	return ret;
}

/* Thread exit: unregister, wake a worker's server, leave nothing pinned. */
void umcg_handle_exit(struct task_struct *tsk)
{
	struct umcg_thread *u = tsk->umcg;
	int role, ret;
	u32 stid;

	if (!u)
		return;
	umcg_unpin(u);
	role = READ_ONCE(u->role);
	if (role == UMCG_ROLE_NONE)
		return;
	/*
	 * NONE first, then unregister: whoever still finds us registered
	 * (umcg_kick() after setting TF_PREEMPT) can then tell from our state
	 * that an ESRCH it gets later means that we exited.
	 */
	ret = -EFAULT;
	if (tsk->mm && !get_user(stid, &u->self->server_tid))
		ret = umcg_set_none(u->self);
	umcg_detach(tsk, u);
	if (!ret && role == UMCG_ROLE_WORKER)
		umcg_wake_server(stid);
}

/* execve() drops the registration: the memory it named is gone. */
void umcg_execve(struct task_struct *tsk)
{
	if (tsk->umcg)
		umcg_detach(tsk, tsk->umcg);
}

/* A child starts unregistered, whatever its parent was. */
void umcg_fork(struct task_struct *child)
{
	child->umcg = NULL;
	clear_task_syscall_work(child, SYSCALL_UMCG);
}

void umcg_free(struct task_struct *tsk)
{
	if (tsk->umcg)
		put_pid(tsk->umcg->next_pid);
	kfree(tsk->umcg);
	tsk->umcg = NULL;
}

/*
 * Discovery without calling an unknown system call: the numbers above 462
 * are reused by later kernels, so user space reads them from here.
 */
static ssize_t abi_version_show(struct kobject *kobj,
				struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", UMCG_ABI_VERSION);
}

static ssize_t syscalls_show(struct kobject *kobj,
			     struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d %d %d\n", __NR_umcg_ctl, __NR_umcg_wait,
			  __NR_umcg_kick);
}

static struct kobj_attribute umcg_abi_version_attr = __ATTR_RO(abi_version);
static struct kobj_attribute umcg_syscalls_attr = __ATTR_RO(syscalls);

static struct attribute *umcg_attrs[] = {
	&umcg_abi_version_attr.attr,
	&umcg_syscalls_attr.attr,
	NULL,
};

static const struct attribute_group umcg_attr_group = {
	.attrs = umcg_attrs,
};

static int __init umcg_sysfs_init(void)
{
	struct kobject *kobj;
	int ret;

	kobj = kobject_create_and_add("umcg", kernel_kobj);
	if (!kobj)
		return -ENOMEM;
	ret = sysfs_create_group(kobj, &umcg_attr_group);
	if (ret)
		kobject_put(kobj);
	return ret;
}
late_initcall(umcg_sysfs_init);
