// SPDX-License-Identifier: MIT
/*
 * The public ABI calls: pick a backend once, then forward to it and turn
 * its -errno into the system-call convention (-1 and errno).
 *
 * The choice: UMCG_BACKEND=emul or =kernel in the environment forces one;
 * otherwise the kernel's when it announces our ABI version, else emul.  It
 * is made at the first call and never changes, because tasks registered
 * with one backend mean nothing to the other.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "sys.h"

static const struct umcg_backend_ops *_Atomic chosen;
static __thread pid_t cached_tid;

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

static void forget_tid(void)
{
	cached_tid = 0;
}

static void register_forget_tid(void)
{
	pthread_atfork(NULL, NULL, forget_tid);
}

/* Cached per thread; the child of fork() is a new thread with a new tid. */
pid_t umcg_gettid(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (__builtin_expect(cached_tid == 0, 0)) {
		pthread_once(&once, register_forget_tid);
		cached_tid = umcg_sys_gettid();
	}
	return cached_tid;
}

uint64_t umcg_clock_ns(clockid_t clock)
{
	struct timespec ts;
	int saved = errno;

	if (clock_gettime(clock, &ts)) {
		errno = saved;
		return 0;
	}
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
