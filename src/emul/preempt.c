// SPDX-License-Identifier: MIT
/*
 * Preemption for the emul backend: a thread-directed signal whose handler
 * moves a worker RUNNING|TF_PREEMPT -> RUNNABLE, queues it and waits.  A
 * server sets TF_PREEMPT and calls umcg_kick() (emul.c), which sends the
 * signal.  Also the BPF detector's settle step, which runs on the same
 * paths (the programs send the same signal).
 *
 * The signal is fixed at the first worker's registration (or when BPF
 * detection starts: the programs carry its number) and never changes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "trace.h"
#include "emul.h"

static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;
static int preempt_sig;		/* 0 until the first worker registers */
static int preempt_sig_wanted;	/* set by umcg_set_preempt_signal() */

/*
 * The BPF detector's half of umcg_sys_exit(), run by the worker on its way
 * back to user code (the signal the programs sent, or the library's own
 * exit): if the detector marked it BLOCKED for a sleep since it last
 * looked, BLOCKED -> RUNNABLE, queued, wait until RUNNING.
 */
void emul_bpf_settle(struct umcg_thread *self)
{
	int prev = enter_library(self);

	if (umcg_bpf_settle_wait(&self->bpf))
		emul_return_from_block(self);
	leave_library(self, prev);
}

/*
 * RUNNING|TF_PREEMPT -> RUNNABLE, enqueue, wait.  Runs in the signal
 * handler or when leaving the library: both are async-signal-safe paths
 * (atomics, the registry's spinlock, futex syscalls).  A worker that is not
 * RUNNING|TF_PREEMPT any more (it blocked, yielded or was already
 * preempted) has nothing to do.
 */
void emul_handle_preempt(struct umcg_thread *self)
{
	struct umcg_task *t = self->task;
	uint32_t s;

	if (self->bpf.slot)
		emul_bpf_settle(self);
	s = load_state(t);
	for (;;) {
		if ((s & UMCG_TASK_MASK) != UMCG_TASK_RUNNING ||
		    !(s & UMCG_TF_PREEMPT))
			return;
		if (atomic_compare_exchange_weak(state_word(t), &s,
				with_state(s, UMCG_TASK_RUNNABLE)))
			break;
	}
	UMCG_TRACE(preempt, self->tid);
	enter_library(self);
	emul_enqueue_self(self);
	emul_sleep_until_running(self);
	leave_library(self, 0);
}

static void preempt_handler(int sig, siginfo_t *info, void *uctx)
{
	struct umcg_thread *self = umcg_tls_worker;
	int saved = errno;

	(void)sig;
	(void)uctx;
	if (self) {
		/* the BPF programs' signals are SI_KERNEL, and no kicks */
		int k = info->si_code == SI_TKILL ?
			atomic_load(&self->kicks_pending) : 0;

		/* this kick is delivered: it can no longer cut a call short */
		while (k > 0 && !atomic_compare_exchange_weak(
				&self->kicks_pending, &k, k - 1))
			;
		if (self->in_library)
			self->preempt_pending = 1;
		else
			emul_handle_preempt(self);
	}
	errno = saved;
}

static int default_preempt_signal(void)
{
	const char *env = getenv("UMCG_PREEMPT_SIGNAL");

	if (env && *env) {
		char *end;
		long sig = strtol(env, &end, 10);

		if (!*end && sig > 0 && sig < NSIG && sig != SIGKILL &&
		    sig != SIGSTOP)
			return (int)sig;
		/* A bad value must not go unnoticed: it would change behaviour. */
		static const char msg[] =
			"libumcg: ignoring invalid UMCG_PREEMPT_SIGNAL\n";
		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	}
	return SIGRTMIN + 4;
}

/* Install the handler once, at the first worker's registration. */
int emul_install_preempt_handler(void)
{
	struct sigaction sa;
	int r = 0;

	pthread_mutex_lock(&signal_lock);
	if (!preempt_sig) {
		int sig = preempt_sig_wanted ? preempt_sig_wanted :
			  default_preempt_signal();

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = preempt_handler;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(sig, &sa, NULL) == 0)
			preempt_sig = sig;
		else
			r = -errno;
	}
	pthread_mutex_unlock(&signal_lock);
	return r;
}

int emul_preempt_signal(void)
{
	int sig;

	pthread_mutex_lock(&signal_lock);
	sig = preempt_sig ? preempt_sig :
	      preempt_sig_wanted ? preempt_sig_wanted : default_preempt_signal();
	pthread_mutex_unlock(&signal_lock);
	return sig;
}

int emul_set_preempt_signal(int sig)
{
	int r = 0;

	if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
		return -EINVAL;
	pthread_mutex_lock(&signal_lock);
	if (preempt_sig)
		r = -EBUSY;
	else
		preempt_sig_wanted = sig;
	pthread_mutex_unlock(&signal_lock);
	return r;
}

/*
 * Keep the preemption signal out of the real blocking call: a handled
 * signal makes nanosleep(), poll() and friends fail with EINTR even with
 * SA_RESTART.  A kick sent while the worker was still RUNNING is delivered
 * at the latest when the mask is lifted, and then finds the worker
 * BLOCKED or RUNNABLE and does nothing.
 */
static void preempt_signal_mask(int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, preempt_sig);
	pthread_sigmask(how, &set, NULL);
}

void emul_mask_preempt_signal(void)
{
	preempt_signal_mask(SIG_BLOCK);
}

void emul_unmask_preempt_signal(void)
{
	preempt_signal_mask(SIG_UNBLOCK);
}

/* The signal umcg_kick() sends: 0 until the handler is installed. */
int emul_installed_preempt_signal(void)
{
	return preempt_sig;
}

#ifdef UMCG_TSAN
/* See UMCG_HOOK_GUARD() in emul.h: TSan builds only. */
struct umcg_thread *umcg_hook_guard(void)
{
	struct umcg_thread *self = umcg_tls_worker;
	uint64_t set;

	if (!self || self->hook_guarded || !preempt_sig)
		return NULL;
	/* the raw call: TSan's pthread_sigmask is one more interceptor */
	set = 1ULL << (preempt_sig - 1);
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, NULL, sizeof(set));
	self->hook_guarded = 1;
	return self;
}

void umcg_hook_unguard(struct umcg_thread **guarded)
{
	struct umcg_thread *self = *guarded;
	uint64_t set;

	if (!self)
		return;
	self->hook_guarded = 0;
	set = 1ULL << (preempt_sig - 1);
	syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, NULL, sizeof(set));
}
#endif
