/* SPDX-License-Identifier: MIT */
/*
 * Raw system calls the library makes on its fast paths: futex waits and
 * wakes on a state word, thread ids, thread-directed signals, RWF_NOWAIT
 * reads and writes, sched_attr.  Most return 0 (or a count) or -errno and
 * leave errno as they found it; umcg_sys_gettid() and the sched_attr pair
 * follow the libc convention (-1 and errno).  Calls made once (BPF setup,
 * sysfs probes) or that must bypass a hook (the raw nanosleep below) are
 * made where they are used.
 *
 * Also the one wait for a lock whose holder may be off its CPU, and
 * umcg_program_is_dynamic() (helpers.c): was a dynamic linker there?
 */
#ifndef UMCG_SYS_H
#define UMCG_SYS_H

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* struct sched_attr of sched_setattr(2) (version 0); glibc has no wrapper. */
struct umcg_sched_attr_raw {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

static inline long umcg_raw_syscall_ret(long r)
{
	return r == -1 ? -errno : r;
}

static inline pid_t umcg_sys_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/*
 * Sleep while *@word == @val, until @abs (on CLOCK_MONOTONIC, or
 * CLOCK_REALTIME when @realtime) or forever when @abs is NULL.  Returns 0
 * on a wake-up (spurious ones included), -EAGAIN when *@word had changed,
 * -EINTR on a signal, -ETIMEDOUT.
 */
static inline int umcg_futex_wait(uint32_t *word, uint32_t val,
				  const struct timespec *abs, int realtime)
{
	int op = FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG;
	int saved = errno;
	long r;

	if (realtime)
		op |= FUTEX_CLOCK_REALTIME;
	r = syscall(SYS_futex, word, op, val, abs, NULL, FUTEX_BITSET_MATCH_ANY);
	r = umcg_raw_syscall_ret(r);
	errno = saved;
	return (int)r;
}

static inline void umcg_futex_wake(uint32_t *word)
{
	int saved = errno;

	syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL,
		NULL, 0);
	errno = saved;
}

/*
 * Is @addr mapped, readable and writable?  A shared FUTEX_WAKE must find
 * the page (EFAULT if it is not mapped); FUTEX_WAKE_OP then needs write
 * access.  Used once per registration, never on a hot path.
 */
static inline int umcg_sys_probe_rw(void *addr)
{
	int saved = errno;
	long r;

	/* Wake nobody on @addr, and do "+= 0" on @addr: a write access. */
	r = syscall(SYS_futex, addr, FUTEX_WAKE_OP, 0, (void *)0, addr,
		    FUTEX_OP(FUTEX_OP_ADD, 0, FUTEX_OP_CMP_EQ, 0));
	r = umcg_raw_syscall_ret(r);
	errno = saved;
	return r < 0 ? (int)r : 0;
}

static inline int umcg_sys_tgkill(pid_t tid, int sig)
{
	int saved = errno;
	long r = syscall(SYS_tgkill, getpid(), tid, sig);

	r = umcg_raw_syscall_ret(r);
	errno = saved;
	return (int)r;
}

/*
 * preadv2() / pwritev2() with @flags, straight to the kernel: the libc
 * hooks' RWF_NOWAIT attempt (src/hooks/rw.c).  It never sleeps, so libc's
 * cancellation bookkeeping around the call (~20 ns, a tenth of the call)
 * buys nothing; the hook tests for a pending cancellation itself.  @off -1
 * is the file position.  Returns the count or -errno.
 */
static inline ssize_t umcg_sys_rw2(int is_write, int fd,
				   const struct iovec *iov, int cnt, off_t off,
				   int flags)
{
	int saved = errno;
	unsigned long lo = (unsigned long)off;
	/* the kernel takes the offset as two longs; on 64-bit hi is unused */
	unsigned long hi = (unsigned long)((unsigned long long)off >> 32);
	long r = syscall(is_write ? SYS_pwritev2 : SYS_preadv2, fd, iov, cnt,
			 lo, hi, flags);

	r = umcg_raw_syscall_ret(r);
	errno = saved;
	return r;
}

/* The caller's scheduling attributes (0 or -1 with errno). */
static inline int umcg_sys_sched_getattr(struct umcg_sched_attr_raw *a)
{
	return (int)syscall(SYS_sched_getattr, 0, a, sizeof(*a), 0);
}

static inline int umcg_sys_sched_setattr(const struct umcg_sched_attr_raw *a)
{
	return (int)syscall(SYS_sched_setattr, 0, a, 0);
}

/* A spin-wait hint: lets the sibling hyperthread run, saves power. */
static inline void umcg_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

#define UMCG_SPINS_BEFORE_YIELD 64
#define UMCG_YIELDS_BEFORE_SLEEP 16

/*
 * One more wait for a lock that @tries attempts (counted here, from 0)
 * did not get.  A holder preempted by the host kernel must get its CPU
 * back.  Between SCHED_OTHER threads sched_yield() does that.  A
 * SCHED_FIFO waiter (a toolkit server, a worker raised for its block)
 * yields only to its own priority, and a holder of a lower one on the same
 * CPU would not run until RT throttling stepped in, most of a second later
 * (seen in the demo as 0.8 s latencies).  So after some yields the waiter
 * sleeps for a moment: a raw nanosleep, since the hooked one would declare
 * a block.  No errno is changed; safe in a signal handler.
 */
static inline void umcg_lock_backoff(unsigned int *tries)
{
	unsigned int n = (*tries)++;

	if (n < UMCG_SPINS_BEFORE_YIELD) {
		umcg_cpu_relax();
	} else if (n < UMCG_SPINS_BEFORE_YIELD + UMCG_YIELDS_BEFORE_SLEEP) {
		sched_yield();
	} else {
		struct timespec ts = { 0, 20000 };
		int saved = errno;

		syscall(SYS_nanosleep, &ts, NULL);
		errno = saved;
	}
}

/* helpers.c: the program was started by a dynamic linker (PT_INTERP). */
_Bool umcg_program_is_dynamic(void) __attribute__((visibility("hidden")));

#endif /* UMCG_SYS_H */
