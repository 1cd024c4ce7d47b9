// SPDX-License-Identifier: MIT
/*
 * The public ABI calls: pick a backend once, then forward to it and turn
 * its -errno into the system-call convention (-1 and errno).
 *
 * The choice: UMCG_BACKEND=emul or =kernel in the environment forces one;
 * otherwise the kernel's when it announces our ABI version, else emul.  It
 * is made at the first call and never changes, because tasks registered
 * with one backend mean nothing to the other.
 *
 * The process-wide settings are the emul backend's (the kernel backend
 * has no preemption signal, block priority or choice of detection): they
 * are kept there, and this layer only adds what depends on the choice.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"

static const struct umcg_backend_ops *_Atomic chosen;

static const struct umcg_backend_ops *choose(void)
{
	const char *env = getenv("UMCG_BACKEND");

	if (env && !strcmp(env, "emul"))
		return &umcg_emul_ops;
	if (env && !strcmp(env, "kernel"))
		return &umcg_kernel_ops;
	return umcg_kernel_available() ? &umcg_kernel_ops : &umcg_emul_ops;
}

static const struct umcg_backend_ops *backend(void)
{
	const struct umcg_backend_ops *ops = atomic_load_explicit(&chosen,
						memory_order_acquire);
	const struct umcg_backend_ops *none = NULL;

	if (__builtin_expect(ops != NULL, 1))
		return ops;
	ops = choose();
	/* Two first callers agree on the first choice. */
	if (!atomic_compare_exchange_strong(&chosen, &none, ops))
		ops = none;
	return ops;
}

static int to_syscall_convention(int r)
{
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

int umcg_ctl(uint32_t flags, struct umcg_task *self, clockid_t clock)
{
	return to_syscall_convention(backend()->ctl(flags, self, clock));
}

int umcg_wait(uint32_t flags, uint64_t abs_timeout)
{
	return to_syscall_convention(backend()->wait(flags, abs_timeout));
}

int umcg_kick(uint32_t flags, pid_t tid)
{
	return to_syscall_convention(backend()->kick(flags, tid));
}

enum umcg_backend umcg_backend(void)
{
	return backend() == &umcg_kernel_ops ? UMCG_BACKEND_KERNEL :
					       UMCG_BACKEND_EMUL;
}

const char *umcg_backend_name(void)
{
	return backend()->name;
}

/* Kept by the emul backend, whichever backend is chosen (not chosen here). */
int umcg_preempt_signal(void)
{
	return emul_preempt_signal();
}

int umcg_set_preempt_signal(int sig)
{
	return emul_set_preempt_signal(sig);
}

int umcg_block_priority(void)
{
	return emul_block_priority();
}

int umcg_set_block_priority(int prio)
{
	return emul_set_block_priority(prio);
}

/* The kernel sees every block itself: any mode is fine, none changes it. */
int umcg_set_detection(int mode)
{
	if (umcg_backend() == UMCG_BACKEND_KERNEL)
		return mode == UMCG_DETECT_HOOKS || mode == UMCG_DETECT_BPF ||
		       mode == UMCG_DETECT_KERNEL ? 0 : -EINVAL;
	return emul_set_detection(mode);
}

int umcg_detection(void)
{
	if (umcg_backend() == UMCG_BACKEND_KERNEL)
		return UMCG_DETECT_KERNEL;
	return emul_detection();
}
