// SPDX-License-Identifier: MIT
/*
 * Block detection for the emul backend: the brackets umcg_sys_enter() and
 * umcg_sys_exit() that a possibly blocking call is declared with (the libc
 * hooks in src/hooks/ and user code), the block priority a worker runs at
 * inside them, and the choice between the brackets alone and BPF
 * detection (bpf.c), which reports through the two callbacks at the end.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "trace.h"
#include "emul.h"
#include "registry.h"


/*
 * The block priority (umcg_set_block_priority(3)).  From its declared block
 * until it is RUNNING again, a worker needs its CPU only for a few
 * microseconds at a time: to enter its call after waking its server, to
 * queue itself when the call returns, to leave its wait when its server
 * runs it.  But it shares that CPU with the worker that computes there, and
 * the kernel grants a woken SCHED_OTHER thread the CPU at wake-up or, if it
 * declines then (the running thread's slice is protected), at the next
 * tick: up to 4 ms at HZ=250.  Measured in the demo: 2 ms at p99 in each
 * of these three steps.  Raised to SCHED_FIFO it gets the CPU at once; at
 * the priority of SCHED_FIFO servers, waking its server does not preempt it
 * before its call sleeps either.
 *
 * -1: not read from the environment yet.  Best effort: a thread that may
 * not use SCHED_FIFO (no CAP_SYS_NICE, RLIMIT_RTPRIO 0) is left as it is.
 */
static _Atomic int block_prio = -1;

static bool block_prio_valid(int prio)
{
	return prio >= 0 && prio <= sched_get_priority_max(SCHED_FIFO);
}

int emul_set_block_priority(int prio)
{
	if (!block_prio_valid(prio))
		return -EINVAL;
	atomic_store(&block_prio, prio);
	return 0;
}

int emul_block_priority(void)
{
	int p = atomic_load(&block_prio);

	if (p < 0) {
		const char *e = getenv("UMCG_BLOCK_PRIORITY");
		int want = e ? atoi(e) : 0;
		int unset = -1;

		if (!block_prio_valid(want))
			want = 0;
		atomic_compare_exchange_strong(&block_prio, &unset, want);
		p = atomic_load(&block_prio);
	}
	return p;
}

/* Raise the caller for its block; its own policy is kept to restore. */
static void block_boost(struct umcg_thread *self)
{
	struct umcg_sched_attr_raw rt = {
		.size = sizeof(rt), .policy = SCHED_FIFO,
	};
	int prio = emul_block_priority();

	if (!prio)
		return;
	rt.priority = (uint32_t)prio;
	if (umcg_sys_sched_getattr(&self->saved_attr) == 0 &&
	    self->saved_attr.policy != SCHED_FIFO &&
	    self->saved_attr.policy != SCHED_RR &&
	    self->saved_attr.policy != SCHED_DEADLINE &&
	    umcg_sys_sched_setattr(&rt) == 0)
		self->boosted = 1;
}

static void block_unboost(struct umcg_thread *self)
{
	if (!self->boosted)
		return;
	self->boosted = 0;
	umcg_sys_sched_setattr(&self->saved_attr);
}

void umcg_sys_enter(void)
{
	struct umcg_thread *self = umcg_tls_worker;
	struct umcg_task *t;
	int prev;

	if (!self || self->in_bracket++)
		return;
	t = self->task;
	prev = enter_library(self);
	block_boost(self);
	self->blocked_here = emul_mark_blocked(t, self->clock);
	if (!self->blocked_here) {
		block_unboost(self);
	} else {
		UMCG_TRACE(block, self->tid, load_server_tid(t), 0);
		emul_wake_server_of(t);
		/*
		 * Mask the preemption signal only when a kick may be on its
		 * way: the cmpxchg to BLOCKED above, then this load, pair with
		 * umcg_kick()'s increment, then its state check.  Either the
		 * kick saw us BLOCKED and sends nothing, or we see it counted.
		 */
		if (atomic_load(&self->kicks_pending) > 0 &&
		    !self->hook_guarded) {
			emul_mask_preempt_signal();
			self->sig_masked = 1;
		}
	}
	/* Not RUNNING now, so a preemption noted meanwhile is moot. */
	if (!prev)
		self->preempt_pending = 0;
	leave_library(self, prev);
}

void umcg_sys_exit(void)
{
	struct umcg_thread *self = umcg_tls_worker;
	int prev, saved;

	if (!self || !self->in_bracket || --self->in_bracket)
		return;
	umcg_bpf_ignore(&self->bpf, self->in_library);
	if (!self->blocked_here)
		return;
	saved = errno;
	prev = enter_library(self);
	self->blocked_here = 0;
	if (self->sig_masked) {
		self->sig_masked = 0;
		emul_unmask_preempt_signal();
	}
	emul_return_from_block(self);
	block_unboost(self);
	leave_library(self, prev);
	errno = saved;
}

/* ---- BPF block detection (bpf.c) -------------------------------------------- */

/* The detector saw @tid sleep: if it is still RUNNING, it blocked. */
static bool bpf_block_seen(pid_t tid, const struct umcg_bpf_slot *slot)
{
	struct umcg_thread *w = registry_lock_tid(tid);
	struct umcg_task *task = NULL;

	if (!w)
		return false;
	if (w->bpf.slot == slot && w->role == UMCG_ROLE_WORKER &&
	    emul_mark_blocked(w->task, w->clock))
		task = w->task;
	registry_unlock(tid);
	/*
	 * The worker cannot settle (and so not unregister or exit past its
	 * slot) before the detector says this sleep is handled: its task
	 * memory is still valid here.
	 */
	if (task) {
		UMCG_TRACE(block, tid, load_server_tid(task), 1);
		emul_wake_server_of(task);
	}
	return task != NULL;
}

/* The programs carry the signal number: fix it now, as a registration would. */
static int bpf_preempt_signal(void)
{
	int r = emul_install_preempt_handler();

	return r < 0 ? r : emul_installed_preempt_signal();
}

static const struct umcg_bpf_client bpf_client = {
	.preempt_signal = bpf_preempt_signal,
	.block_seen = bpf_block_seen,
};

int emul_enable_bpf(void)
{
	return umcg_bpf_enable(&bpf_client);
}

int emul_set_detection(int mode)
{
	switch (mode) {
	case UMCG_DETECT_HOOKS:
		umcg_bpf_disable();
		return 0;
	case UMCG_DETECT_BPF:
		return emul_enable_bpf();
	default:
		return -EINVAL;
	}
}

int emul_detection(void)
{
	return umcg_bpf_active() ? UMCG_DETECT_BPF : UMCG_DETECT_HOOKS;
}
