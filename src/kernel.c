// SPDX-License-Identifier: MIT
/*
 * The kernel backend: the UMCG system calls of our Linux patch (kernel/).
 * Placeholder until the kernel series lands: it never claims the kernel has
 * UMCG, and a forced UMCG_BACKEND=kernel gets ENOSYS from every call.
 */
#include <errno.h>
#include "internal.h"

bool umcg_kernel_available(void)
{
	return false;
}

static int kernel_ctl(uint32_t flags, struct umcg_task *self, clockid_t clock)
{
	(void)flags;
	(void)self;
	(void)clock;
	return -ENOSYS;
}

static int kernel_wait(uint32_t flags, uint64_t abs_timeout)
{
	(void)flags;
	(void)abs_timeout;
	return -ENOSYS;
}

static int kernel_kick(uint32_t flags, pid_t tid)
{
	(void)flags;
	(void)tid;
	return -ENOSYS;
}

const struct umcg_backend_ops umcg_kernel_ops = {
	.name = "kernel",
	.ctl = kernel_ctl,
	.wait = kernel_wait,
	.kick = kernel_kick,
};
