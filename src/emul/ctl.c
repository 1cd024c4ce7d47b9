// SPDX-License-Identifier: MIT
/*
 * umcg_ctl() for the emul backend: registration, unregistration, and the
 * exit of a thread that is still registered (docs/semantics.md, umcg_ctl).
 *
 * A registration allocates the task's record (struct umcg_thread) and
 * inserts it in the registry; a new worker then goes BLOCKED -> RUNNABLE,
 * is queued on its server and waits until it is run.  Leaving, by call or
 * by thread exit, sets NONE and unlinks in one locked section.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "trace.h"
#include "emul.h"
#include "registry.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;

/* ---- Lifetime ------------------------------------------------------------------- */

/*
 * Leave UMCG: state NONE (user bits kept), a worker's server woken.  Also
 * the path of a thread that exits while registered.
 */
static void leave_umcg(struct umcg_thread *self)
{
	struct umcg_task *t = self->task;

	umcg_tls_worker = NULL;
	emul_self = NULL;
	atomic_signal_fence(memory_order_seq_cst);
	/*
	 * NONE and the unlink in one locked section, as the kernel orders
	 * them: whoever finds us registered sees our last state, and an
	 * ESRCH from a later lookup (umcg_kick() after setting TF_PREEMPT)
	 * comes with state NONE already visible.
	 */
	UMCG_TRACE(unregister, self->tid, (int)self->role);
	registry_lock_tid(self->tid);
	atomic_fetch_and(state_word(t), USER_BITS);
	registry_unlink_locked(self);
	registry_unlock(self->tid);
	umcg_bpf_detach(&self->bpf, self->tid);
	if (self->role == UMCG_ROLE_WORKER) {
		if (self->in_bracket && self->sig_masked)
			emul_unmask_preempt_signal();
		emul_wake_server_of(t);
	}
	free(self);
}

static void exit_destructor(void *arg)
{
	leave_umcg(arg);
}

static void fork_child(void)
{
	umcg_tls_worker = NULL;
	emul_self = NULL;
	registry_forget_all();
	umcg_bpf_forget();
	pthread_setspecific(exit_key, NULL);
}

static void init_once_fn(void)
{
	const char *spin = getenv("UMCG_SERVER_SPIN_NS");
	const char *detect = getenv("UMCG_DETECT");

	if (spin)
		emul_server_spin_ns = strtoull(spin, NULL, 0);
	/* best effort: umcg_detection() tells what this process got */
	if (detect && !strcmp(detect, "bpf"))
		emul_enable_bpf();
	pthread_key_create(&exit_key, exit_destructor);
	pthread_atfork(NULL, NULL, fork_child);
}

/* ---- umcg_ctl ----------------------------------------------------------------- */

static bool clock_allowed(clockid_t clock)
{
	return clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC ||
	       clock == CLOCK_BOOTTIME || clock == CLOCK_TAI;
}

static bool reserved_fields_zero(const struct umcg_task *t)
{
	return !t->__zero0 && !t->__zero[0] && !t->__zero[1] &&
	       !t->__zero[2] && !t->next_tid;
}

/* Worker registration: server_tid must name a registered server. */
static int check_server(pid_t stid)
{
	struct umcg_thread *srv = registry_lock_tid(stid);
	bool ok;

	if (!srv)
		return -ESRCH;
	ok = srv->role == UMCG_ROLE_SERVER;
	registry_unlock(stid);
	return ok ? 0 : -ESRCH;
}

static int do_register(bool worker, struct umcg_task *task, clockid_t clock)
{
	pid_t tid = umcg_gettid();
	uint32_t st = load_state(task) & STATE_BITS;
	struct umcg_thread *self;
	int r;

	if (!clock_allowed(clock) || emul_self || !reserved_fields_zero(task))
		return -EINVAL;
	if (!worker && (st != UMCG_TASK_RUNNING ||
			(pid_t)task->server_tid != tid))
		return -EINVAL;
	if (worker && st != UMCG_TASK_BLOCKED)
		return -EINVAL;
	if (worker && (r = check_server(load_server_tid(task))) < 0)
		return r;

	pthread_once(&init_once, init_once_fn);
	if (worker && (r = emul_install_preempt_handler()) < 0)
		return r;
	self = calloc(1, sizeof(*self));
	if (!self)
		return -ENOMEM;
	self->task = task;
	self->tid = tid;
	self->clock = clock;
	self->role = worker ? UMCG_ROLE_WORKER : UMCG_ROLE_SERVER;
	pthread_setspecific(exit_key, self);
	emul_self = self;
	/* before anyone can find us: the detector reads bpf.slot */
	if (worker)
		umcg_bpf_attach(&self->bpf, self->tid);
	registry_insert(self);
	UMCG_TRACE(register, tid, (int)self->role, load_server_tid(task));
	if (!worker)
		return 0;

	/* A new worker: BLOCKED -> RUNNABLE, queued, runs when its server says. */
	self->in_library = 1;
	atomic_signal_fence(memory_order_seq_cst);
	umcg_tls_worker = self;
	emul_return_from_block(self);
	leave_library(self, 0);
	return 0;
}

static int do_unregister(bool worker, struct umcg_task *task)
{
	struct umcg_thread *self = emul_self;

	if (!self || self->task != task ||
	    worker != (self->role == UMCG_ROLE_WORKER))
		return -EINVAL;
	/* a sleep the detector is still reporting ends first */
	if (self->bpf.slot)
		emul_bpf_settle(self);
	if ((load_state(task) & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)
		return -EINVAL;
	pthread_setspecific(exit_key, NULL);
	leave_umcg(self);
	return 0;
}

static int ctl_checked(uint32_t flags, struct umcg_task *task, clockid_t clock)
{
	bool worker = flags & UMCG_CTL_WORKER;

	switch (flags & ~UMCG_CTL_WORKER) {
	case UMCG_CTL_REGISTER:
	case UMCG_CTL_UNREGISTER:
		break;
	default:
		return -EINVAL;
	}
	if ((uintptr_t)task % _Alignof(struct umcg_task))
		return -EINVAL;
	if (umcg_sys_probe_rw(task) < 0)
		return -EFAULT;
	if (flags & UMCG_CTL_REGISTER)
		return do_register(worker, task, clock);
	return do_unregister(worker, task);
}

/* A worker's registry locks must not be re-taken by its preemption handler. */
int emul_ctl(uint32_t flags, struct umcg_task *task, clockid_t clock)
{
	struct umcg_thread *w = umcg_tls_worker;
	int prev = w ? enter_library(w) : 0;
	int r = ctl_checked(flags, task, clock);

	/* An unregistered worker's record is gone. */
	if (w && umcg_tls_worker == w)
		leave_library(w, prev);
	return r;
}
