/* SPDX-License-Identifier: MIT */
/*
 * libc's functions behind the hooks in a fully static program.
 *
 * There a hook cannot ask the dynamic linker for the next definition of
 * its name: the hook *is* the only definition of "read" in the program
 * (libc.a defines most public names as weak aliases, which ours replace).
 * So each hooked name has an umcg_static_<name> here that reaches libc's
 * code another way, chosen in this order:
 *
 * 1. an alias that both libc.a and libc.so export and that we do not hook
 *    (__read, __pthread_mutex_lock, ...), or a public function that does
 *    the same (pthread_mutex_clocklock on CLOCK_REALTIME for timedlock,
 *    preadv2 at offset -1 for readv).  A plain link-time reference: it
 *    links in every mode, and a libc without it fails the link.
 * 2. the system call itself, made as glibc 2.36 makes it (same arguments,
 *    the same copies of timeouts, -1/errno or an error number), and a
 *    cancellation point like glibc's: asynchronous cancellation is on
 *    only around the call (pthread_setcanceltype), as glibc's
 *    SYSCALL_CANCEL does.  EINTR reaches the caller as from libc.
 *    sem_timedwait and sem_clockwait do glibc's part of the work too, on
 *    its semaphore word: their bodies are out of any link's reach.
 * 3. glibc's internal name that only libc.a defines (__pthread_cond_wait,
 *    __new_sem_wait, ...).  libc.so has no such names, so they are weak
 *    references (a program with a shared libc never uses them), and each
 *    comes with a strong reference to a public function of libc.a that
 *    needs the same archive member, which makes the static link pull it
 *    in (cnd_wait needs __pthread_cond_wait; sem_trywait shares
 *    sem_wait's member).
 *
 * Which one each name uses is in docs/hooks.md ("Linking").  Only a
 * program without a dynamic linker uses these (src/hooks/resolve.c); with
 * a shared libc the hooks keep calling whatever dlsym(RTLD_NEXT) finds.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <fcntl.h>
#include <libintl.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#include "hook.h"

/*
 * Each umcg_static_<name> has the type of libc's <name>: the compiler
 * checks the signatures, and the hidden visibility keeps them out of
 * libumcg.so's exports.
 */
#define CHECKED(sym) extern __typeof__(sym) umcg_static_##sym UMCG_HIDDEN
CHECKED(read);
CHECKED(write);
CHECKED(close);
CHECKED(connect);
CHECKED(nanosleep);
CHECKED(open);
CHECKED(open64);
CHECKED(poll);
CHECKED(pread);
CHECKED(pread64);
CHECKED(pwrite);
CHECKED(pwrite64);
CHECKED(select);
CHECKED(send);
CHECKED(wait);
CHECKED(waitpid);
CHECKED(readv);
CHECKED(writev);
CHECKED(usleep);
CHECKED(sleep);
CHECKED(pthread_mutex_lock);
CHECKED(pthread_mutex_trylock);
CHECKED(pthread_mutex_timedlock);
CHECKED(pthread_rwlock_rdlock);
CHECKED(pthread_rwlock_wrlock);
CHECKED(pthread_rwlock_timedrdlock);
CHECKED(pthread_rwlock_timedwrlock);
CHECKED(pthread_rwlock_tryrdlock);
CHECKED(pthread_rwlock_trywrlock);
CHECKED(pthread_join);
CHECKED(pthread_tryjoin_np);
CHECKED(sem_trywait);
CHECKED(recv);
CHECKED(recvfrom);
CHECKED(recvmsg);
CHECKED(sendto);
CHECKED(sendmsg);
CHECKED(accept);
CHECKED(accept4);
CHECKED(ppoll);
CHECKED(pselect);
CHECKED(epoll_wait);
CHECKED(epoll_pwait);
CHECKED(clock_nanosleep);
CHECKED(openat);
CHECKED(openat64);
CHECKED(fsync);
CHECKED(fdatasync);
CHECKED(waitid);
CHECKED(__read_chk);
CHECKED(__pread_chk);
CHECKED(__pread64_chk);
CHECKED(__recv_chk);
CHECKED(__recvfrom_chk);
CHECKED(__poll_chk);
CHECKED(__ppoll_chk);
CHECKED(pthread_cond_wait);
CHECKED(pthread_cond_timedwait);
CHECKED(pthread_cond_clockwait);
CHECKED(pthread_barrier_wait);
CHECKED(sem_wait);
CHECKED(sem_timedwait);
CHECKED(sem_clockwait);
#undef CHECKED

/* The kernel's sigset_t: what glibc passes as the signal mask's size. */
#define KERNEL_SIGSET_BYTES (64 / 8)

/* 1. Aliases exported by both libc.a and libc.so. */
ssize_t __read(int fd, void *buf, size_t n);
ssize_t __write(int fd, const void *buf, size_t n);
int __close(int fd);
int __connect(int fd, const struct sockaddr *addr, socklen_t len);
int __nanosleep(const struct timespec *req, struct timespec *rem);
int __open(const char *path, int flags, ...);
int __open64(const char *path, int flags, ...);
int __poll(struct pollfd *fds, nfds_t n, int timeout);
ssize_t __pread64(int fd, void *buf, size_t n, off_t off);
ssize_t __pwrite64(int fd, const void *buf, size_t n, off_t off);
int __select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv);
ssize_t __send(int fd, const void *buf, size_t n, int flags);
pid_t __wait(int *status);
pid_t __waitpid(pid_t pid, int *status, int options);
void __chk_fail(void) __attribute__((noreturn));

ssize_t umcg_static_read(int fd, void *buf, size_t n)
{
	return __read(fd, buf, n);
}

ssize_t umcg_static_write(int fd, const void *buf, size_t n)
{
	return __write(fd, buf, n);
}

int umcg_static_close(int fd)
{
	return __close(fd);
}

int umcg_static_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return __connect(fd, addr, len);
}

int umcg_static_nanosleep(const struct timespec *req, struct timespec *rem)
{
	return __nanosleep(req, rem);
}

/* open(): the mode is read only when the flags create a file. */
static bool needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

int umcg_static_open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (needs_mode(flags)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return __open(path, flags, mode);
}

int umcg_static_open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (needs_mode(flags)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return __open64(path, flags, mode);
}

int umcg_static_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return __poll(fds, n, timeout);
}

ssize_t umcg_static_pread(int fd, void *buf, size_t n, off_t off)
{
	return __pread64(fd, buf, n, off);
}

ssize_t umcg_static_pread64(int fd, void *buf, size_t n, off_t off)
{
	return __pread64(fd, buf, n, off);
}

ssize_t umcg_static_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return __pwrite64(fd, buf, n, off);
}

ssize_t umcg_static_pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return __pwrite64(fd, buf, n, off);
}

int umcg_static_select(int n, fd_set *r, fd_set *w, fd_set *e,
		       struct timeval *tv)
{
	return __select(n, r, w, e, tv);
}

ssize_t umcg_static_send(int fd, const void *buf, size_t n, int flags)
{
	return __send(fd, buf, n, flags);
}

pid_t umcg_static_wait(int *status)
{
	return __wait(status);
}

pid_t umcg_static_waitpid(pid_t pid, int *status, int options)
{
	return __waitpid(pid, status, options);
}

/* readv() is preadv2() at the file position (offset -1), no flags. */
ssize_t umcg_static_readv(int fd, const struct iovec *iov, int cnt)
{
	return preadv2(fd, iov, cnt, -1, 0);
}

ssize_t umcg_static_writev(int fd, const struct iovec *iov, int cnt)
{
	return pwritev2(fd, iov, cnt, -1, 0);
}

int umcg_static_usleep(useconds_t us)
{
	struct timespec ts = { us / 1000000, us % 1000000 * 1000L };

	return __nanosleep(&ts, NULL);
}

/* sleep(): errno stays as it was unless a signal cut the sleep short. */
unsigned int umcg_static_sleep(unsigned int s)
{
	int saved = errno;
	struct timespec ts = { s, 0 };

	if (__nanosleep(&ts, &ts) < 0)
		return (unsigned int)ts.tv_sec;
	errno = saved;
	return 0;
}

/* Not hooked: in a static program libc's own (no sanitizer to pass). */
int umcg_static_pthread_mutex_trylock(pthread_mutex_t *m)
{
	return pthread_mutex_trylock(m);
}

int umcg_static_pthread_mutex_timedlock(pthread_mutex_t *m,
					const struct timespec *abs)
{
	return pthread_mutex_clocklock(m, CLOCK_REALTIME, abs);
}

int umcg_static_pthread_rwlock_timedrdlock(pthread_rwlock_t *l,
					   const struct timespec *abs)
{
	return pthread_rwlock_clockrdlock(l, CLOCK_REALTIME, abs);
}

int umcg_static_pthread_rwlock_timedwrlock(pthread_rwlock_t *l,
					   const struct timespec *abs)
{
	return pthread_rwlock_clockwrlock(l, CLOCK_REALTIME, abs);
}

int umcg_static_pthread_rwlock_tryrdlock(pthread_rwlock_t *l)
{
	return pthread_rwlock_tryrdlock(l);
}

int umcg_static_pthread_rwlock_trywrlock(pthread_rwlock_t *l)
{
	return pthread_rwlock_trywrlock(l);
}

/* A join without a deadline is pthread_join (glibc: the same code path). */
int umcg_static_pthread_join(pthread_t t, void **ret)
{
	return pthread_timedjoin_np(t, ret, NULL);
}

int umcg_static_pthread_tryjoin_np(pthread_t t, void **ret)
{
	return pthread_tryjoin_np(t, ret);
}

int umcg_static_sem_trywait(sem_t *s)
{
	return sem_trywait(s);
}

/* 2. System calls, made as glibc makes them. */

/*
 * A system call that is a cancellation point: -1 and errno on failure.
 * Asynchronous cancellation is on only during the call, as in glibc 2.36;
 * switching it on acts on a cancellation already pending.
 */
static long cancellable(long nr, long a, long b, long c, long d, long e,
			long f)
{
	int old, saved;
	long r;

	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old);
	r = syscall(nr, a, b, c, d, e, f);
	saved = errno;
	pthread_setcanceltype(old, NULL);
	errno = saved;
	return r;
}

#define CANCELLABLE(nr, a, b, c, d, e, f)				\
	cancellable(nr, (long)(a), (long)(b), (long)(c), (long)(d),	\
		    (long)(e), (long)(f))

ssize_t umcg_static_recv(int fd, void *buf, size_t n, int flags)
{
	return CANCELLABLE(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);
}

ssize_t umcg_static_recvfrom(int fd, void *buf, size_t n, int flags,
			     struct sockaddr *addr, socklen_t *alen)
{
	return CANCELLABLE(SYS_recvfrom, fd, buf, n, flags, addr, alen);
}

ssize_t umcg_static_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return CANCELLABLE(SYS_recvmsg, fd, msg, flags, 0, 0, 0);
}

ssize_t umcg_static_sendto(int fd, const void *buf, size_t n, int flags,
			   const struct sockaddr *addr, socklen_t alen)
{
	return CANCELLABLE(SYS_sendto, fd, buf, n, flags, addr, alen);
}

ssize_t umcg_static_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return CANCELLABLE(SYS_sendmsg, fd, msg, flags, 0, 0, 0);
}

int umcg_static_accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	return (int)CANCELLABLE(SYS_accept, fd, addr, alen, 0, 0, 0);
}

int umcg_static_accept4(int fd, struct sockaddr *addr, socklen_t *alen,
			int flags)
{
	return (int)CANCELLABLE(SYS_accept4, fd, addr, alen, flags, 0, 0);
}

/* ppoll() and pselect() must not change the caller's timeout: a copy. */
int umcg_static_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		      const sigset_t *mask)
{
	struct timespec copy, *t = NULL;

	if (ts) {
		copy = *ts;
		t = &copy;
	}
	return (int)CANCELLABLE(SYS_ppoll, fds, n, t, mask,
				KERNEL_SIGSET_BYTES, 0);
}

int umcg_static_pselect(int n, fd_set *r, fd_set *w, fd_set *e,
			const struct timespec *ts, const sigset_t *mask)
{
	struct timespec copy, *t = NULL;
	struct { const sigset_t *mask; size_t size; } sig = {
		mask, KERNEL_SIGSET_BYTES
	};

	if (ts) {
		copy = *ts;
		t = &copy;
	}
	return (int)CANCELLABLE(SYS_pselect6, n, r, w, e, t, &sig);
}

int umcg_static_epoll_wait(int epfd, struct epoll_event *ev, int max,
			   int timeout)
{
	return (int)CANCELLABLE(SYS_epoll_wait, epfd, ev, max, timeout, 0, 0);
}

int umcg_static_epoll_pwait(int epfd, struct epoll_event *ev, int max,
			    int timeout, const sigset_t *mask)
{
	return (int)CANCELLABLE(SYS_epoll_pwait, epfd, ev, max, timeout, mask,
				KERNEL_SIGSET_BYTES);
}

/* The kernel's name for "this process's CPU time" (glibc's PROCESS_CLOCK). */
/* pid 0 (this process) << 3, CPUCLOCK_SCHED (2): (~0 << 3) | 2 */
#define PROCESS_CPUTIME_SCHED ((clockid_t)-6)

/* clock_nanosleep() returns the error number and leaves errno alone. */
int umcg_static_clock_nanosleep(clockid_t clk, int flags,
				const struct timespec *req,
				struct timespec *rem)
{
	int saved = errno;
	long r;

	if (clk == CLOCK_THREAD_CPUTIME_ID)
		return EINVAL;
	if (clk == CLOCK_PROCESS_CPUTIME_ID)
		clk = PROCESS_CPUTIME_SCHED;
	r = CANCELLABLE(SYS_clock_nanosleep, clk, flags, req, rem, 0, 0);
	r = r == -1 ? errno : 0;
	errno = saved;
	return (int)r;
}

int umcg_static_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (needs_mode(flags)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return (int)CANCELLABLE(SYS_openat, dirfd, path, flags, mode, 0, 0);
}

int umcg_static_openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (needs_mode(flags)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return (int)CANCELLABLE(SYS_openat, dirfd, path, flags, mode, 0, 0);
}

int umcg_static_fsync(int fd)
{
	return (int)CANCELLABLE(SYS_fsync, fd, 0, 0, 0, 0, 0);
}

int umcg_static_fdatasync(int fd)
{
	return (int)CANCELLABLE(SYS_fdatasync, fd, 0, 0, 0, 0, 0);
}

int umcg_static_waitid(idtype_t type, id_t id, siginfo_t *info, int options)
{
	return (int)CANCELLABLE(SYS_waitid, type, id, info, options, NULL, 0);
}

/* The _FORTIFY_SOURCE checks, then the call (glibc's debug/ *_chk.c). */
ssize_t umcg_static___read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return __read(fd, buf, n);
}

ssize_t umcg_static___pread_chk(int fd, void *buf, size_t n, off_t off,
				size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return __pread64(fd, buf, n, off);
}

ssize_t umcg_static___pread64_chk(int fd, void *buf, size_t n, off_t off,
				  size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return __pread64(fd, buf, n, off);
}

ssize_t umcg_static___recv_chk(int fd, void *buf, size_t n, size_t buflen,
			       int flags)
{
	if (n > buflen)
		__chk_fail();
	return umcg_static_recv(fd, buf, n, flags);
}

ssize_t umcg_static___recvfrom_chk(int fd, void *buf, size_t n, size_t buflen,
				   int flags, struct sockaddr *addr,
				   socklen_t *alen)
{
	if (n > buflen)
		__chk_fail();
	return umcg_static_recvfrom(fd, buf, n, flags, addr, alen);
}

int umcg_static___poll_chk(struct pollfd *fds, nfds_t n, int timeout,
			   size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return __poll(fds, n, timeout);
}

int umcg_static___ppoll_chk(struct pollfd *fds, nfds_t n,
			    const struct timespec *ts, const sigset_t *mask,
			    size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return umcg_static_ppoll(fds, n, ts, mask);
}

/*
 * sem_timedwait and sem_clockwait.  libc.a defines their bodies in archive
 * members that nothing else needs and under names libc.so lacks, so no
 * reference of ours can pull them into a static link without breaking the
 * shared one.  They are made here from the system call instead, on glibc's
 * semaphore (x86-64, 64-bit atomics, the layout since glibc 2.21): the low
 * half of the first word counts the tokens, the high half the waiters, and
 * sem_post() wakes the futex on the low half only if a waiter is counted.
 * A waiter counts itself in, sleeps while there is no token, and takes a
 * token and counts itself out in one compare-and-swap.
 */
struct glibc_sem {
	_Atomic uint64_t data;
	int private;		/* 0, or FUTEX_PRIVATE_FLAG if process-shared */
	int pad;
};

_Static_assert(sizeof(struct glibc_sem) <= sizeof(sem_t),
	       "sem_t is smaller than glibc's semaphore");

#define SEM_WAITER	(1ULL << 32)
#define SEM_TOKENS	0xffffffffULL

static void sem_count_out(void *arg)
{
	struct glibc_sem *g = arg;

	atomic_fetch_sub(&g->data, SEM_WAITER);
}

/* The futex word: the token count, the low half of data (little endian). */
static uint32_t *sem_futex(struct glibc_sem *g)
{
	return (uint32_t *)&g->data;
}

/*
 * Take a token, sleeping while there is none: 0, or the error number that
 * ended the sleep (ETIMEDOUT, EINTR), after counting the caller out.
 */
static int sem_take(struct glibc_sem *g, int op, const struct timespec *abs)
{
	uint64_t d = atomic_load(&g->data);

	for (;;) {
		if (d & SEM_TOKENS) {
			if (atomic_compare_exchange_weak(&g->data, &d,
							 d - 1 - SEM_WAITER))
				return 0;
			continue;
		}
		if (CANCELLABLE(SYS_futex, sem_futex(g), op, 0, abs, NULL,
				FUTEX_BITSET_MATCH_ANY) != 0 &&
		    errno != EAGAIN) {
			int err = errno;

			sem_count_out(g);
			return err;
		}
		d = atomic_load(&g->data);
	}
}

static int sem_wait_slow(struct glibc_sem *g, clockid_t clk,
			 const struct timespec *abs)
{
	/* glibc's flag is inverted: 0 asks for a private futex */
	int op = ((FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG) ^ g->private) |
		 (clk == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);
	int err;

	atomic_fetch_add(&g->data, SEM_WAITER);
	/* a cancelled waiter must not stay counted: posts would wake nobody */
	pthread_cleanup_push(sem_count_out, g);
	err = sem_take(g, op, abs);
	pthread_cleanup_pop(0);
	return err;
}

static int sem_wait_until(sem_t *s, clockid_t clk, const struct timespec *abs)
{
	int err;

	if (abs->tv_nsec < 0 || abs->tv_nsec >= 1000000000L) {
		errno = EINVAL;
		return -1;
	}
	if (sem_trywait(s) == 0)
		return 0;
	if (errno != EAGAIN)
		return -1;
	/* the kernel would refuse a negative deadline with EINVAL */
	err = abs->tv_sec < 0 ? ETIMEDOUT :
	      sem_wait_slow((struct glibc_sem *)s, clk, abs);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

int umcg_static_sem_timedwait(sem_t *s, const struct timespec *abs)
{
	return sem_wait_until(s, CLOCK_REALTIME, abs);
}

int umcg_static_sem_clockwait(sem_t *s, clockid_t clk,
			      const struct timespec *abs)
{
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC) {
		errno = EINVAL;
		return -1;
	}
	return sem_wait_until(s, clk, abs);
}

/*
 * 3. Names only libc.a has.  Weak: a shared libc has none of them, and a
 * program linked with one never calls these.  The anchors make a static
 * link pull the archive member that defines them.
 */
int __pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
	__attribute__((weak));
int __pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
			     const struct timespec *abs) __attribute__((weak));
int __pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m,
			     clockid_t clk, const struct timespec *abs)
	__attribute__((weak));
int __pthread_barrier_wait(pthread_barrier_t *b) __attribute__((weak));
int __pthread_mutex_lock(pthread_mutex_t *m) __attribute__((weak));
int __pthread_rwlock_rdlock(pthread_rwlock_t *l) __attribute__((weak));
int __pthread_rwlock_wrlock(pthread_rwlock_t *l) __attribute__((weak));
int __new_sem_wait(sem_t *s) __attribute__((weak));

/*
 * The anchors: libc.a's cnd_wait.o needs __pthread_cond_wait (whose member
 * also defines the timed and clock waits), mtx_lock.o __pthread_mutex_lock,
 * dcigettext.o (dcgettext) both rwlock locks, mq_notify.o
 * __pthread_barrier_wait; sem_trywait (above) shares sem_wait's member.
 */
extern const void *const umcg_static_anchors[] UMCG_HIDDEN;
const void *const umcg_static_anchors[] = {
	(void *)cnd_wait, (void *)mtx_lock, (void *)dcgettext,
	(void *)mq_notify,
};

static void __attribute__((noreturn)) unreachable(const char *name)
{
	static const char msg[] = "libumcg: this static libc does not let "
				  "the hook reach libc's ";
	/* raw writes: stdio could come back into a hook */
	syscall(SYS_write, 2, msg, sizeof(msg) - 1);
	syscall(SYS_write, 2, name, __builtin_strlen(name));
	syscall(SYS_write, 2, "\n", 1);
	abort();
}

int umcg_static_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	if (!__pthread_cond_wait)
		unreachable("pthread_cond_wait");
	return __pthread_cond_wait(c, m);
}

int umcg_static_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
				       const struct timespec *abs)
{
	if (!__pthread_cond_timedwait)
		unreachable("pthread_cond_timedwait");
	return __pthread_cond_timedwait(c, m, abs);
}

int umcg_static_pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m,
				       clockid_t clk,
				       const struct timespec *abs)
{
	if (!__pthread_cond_clockwait)
		unreachable("pthread_cond_clockwait");
	return __pthread_cond_clockwait(c, m, clk, abs);
}

int umcg_static_pthread_mutex_lock(pthread_mutex_t *m)
{
	if (!__pthread_mutex_lock)
		unreachable("pthread_mutex_lock");
	return __pthread_mutex_lock(m);
}

int umcg_static_pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	if (!__pthread_rwlock_rdlock)
		unreachable("pthread_rwlock_rdlock");
	return __pthread_rwlock_rdlock(l);
}

int umcg_static_pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	if (!__pthread_rwlock_wrlock)
		unreachable("pthread_rwlock_wrlock");
	return __pthread_rwlock_wrlock(l);
}

int umcg_static_pthread_barrier_wait(pthread_barrier_t *b)
{
	if (!__pthread_barrier_wait)
		unreachable("pthread_barrier_wait");
	return __pthread_barrier_wait(b);
}

int umcg_static_sem_wait(sem_t *s)
{
	if (!__new_sem_wait)
		unreachable("sem_wait");
	return __new_sem_wait(s);
}
