// SPDX-License-Identifier: MIT
/*
 * hooks_static_libc: the functions a fully static program's hooks call
 * instead of libc's (src/hooks/libc_static.c) give what libc's own give:
 * the same result and errno from the same state, timeouts left as they
 * were, error numbers returned where libc returns them, and cancellation
 * inside a raw system call.
 *
 * Linked with libumcg.a and a shared libc (Makefile), so that both sides
 * are in one program: umcg_static_<name> (hidden in libumcg.so, visible in
 * the archive) and libc's <name> found with dlsym(RTLD_NEXT).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t_helpers.h"

#define DECLARE(sym) extern __typeof__(sym) umcg_static_##sym
DECLARE(recv); DECLARE(recvfrom); DECLARE(recvmsg); DECLARE(sendto);
DECLARE(sendmsg); DECLARE(accept); DECLARE(accept4); DECLARE(ppoll);
DECLARE(pselect); DECLARE(epoll_wait); DECLARE(epoll_pwait);
DECLARE(clock_nanosleep); DECLARE(openat); DECLARE(fsync);
DECLARE(fdatasync); DECLARE(waitid); DECLARE(readv); DECLARE(writev);
DECLARE(sleep); DECLARE(usleep); DECLARE(pthread_join);
DECLARE(pthread_mutex_timedlock);

/* libc's own @sym, past the hook this program links. */
#define LIBC(sym) ((__typeof__(&sym))libc_fn(#sym))

static void *libc_fn(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (!fn)
		t_report(__FILE__, __LINE__, "no libc %s", name);
	return fn;
}

/* Both calls give the same value and the same errno (errno set to -1 first). */
#define SAME(ours, theirs) do {						\
	errno = -1;							\
	long o_ = (long)(ours);						\
	int oe_ = errno;						\
	errno = -1;							\
	long t_ = (long)(theirs);					\
	int te_ = errno;						\
	T_CHECK(o_ == t_ && oe_ == te_,					\
		"%s: %ld errno %d; libc: %ld errno %d", #ours, o_, oe_,	\
		t_, te_);						\
} while (0)

static int test_errors_match(void)
{
	struct timespec bad = { 0, 1000000000 };
	sigset_t none;
	siginfo_t si;
	struct msghdr msg = { 0 };
	struct epoll_event ev;
	char b[4];

	sigemptyset(&none);
	SAME(umcg_static_recv(-1, b, 1, 0), LIBC(recv)(-1, b, 1, 0));
	SAME(umcg_static_recvfrom(0x7fff, b, 1, 0, NULL, NULL),
	     LIBC(recvfrom)(0x7fff, b, 1, 0, NULL, NULL));
	SAME(umcg_static_recvmsg(-1, &msg, 0), LIBC(recvmsg)(-1, &msg, 0));
	SAME(umcg_static_sendto(-1, b, 1, 0, NULL, 0),
	     LIBC(sendto)(-1, b, 1, 0, NULL, 0));
	SAME(umcg_static_sendmsg(-1, &msg, 0), LIBC(sendmsg)(-1, &msg, 0));
	SAME(umcg_static_accept(0, NULL, NULL), LIBC(accept)(0, NULL, NULL));
	SAME(umcg_static_accept4(-1, NULL, NULL, -1),
	     LIBC(accept4)(-1, NULL, NULL, -1));
	SAME(umcg_static_ppoll(NULL, 0, &bad, NULL),
	     LIBC(ppoll)(NULL, 0, &bad, NULL));
	SAME(umcg_static_pselect(-1, NULL, NULL, NULL, NULL, &none),
	     LIBC(pselect)(-1, NULL, NULL, NULL, NULL, &none));
	SAME(umcg_static_epoll_wait(-1, &ev, 1, 0),
	     LIBC(epoll_wait)(-1, &ev, 1, 0));
	SAME(umcg_static_epoll_pwait(-1, &ev, 1, 0, &none),
	     LIBC(epoll_pwait)(-1, &ev, 1, 0, &none));
	SAME(umcg_static_openat(AT_FDCWD, "/nonexistent/x", O_RDONLY),
	     LIBC(openat)(AT_FDCWD, "/nonexistent/x", O_RDONLY));
	SAME(umcg_static_fsync(-1), LIBC(fsync)(-1));
	SAME(umcg_static_fdatasync(-1), LIBC(fdatasync)(-1));
	SAME(umcg_static_waitid(P_ALL, 0, &si, WEXITED | WNOHANG),
	     LIBC(waitid)(P_ALL, 0, &si, WEXITED | WNOHANG));
	SAME(umcg_static_readv(-1, NULL, 0), LIBC(readv)(-1, NULL, 0));
	SAME(umcg_static_writev(-1, NULL, 0), LIBC(writev)(-1, NULL, 0));
	return 0;
}

/* clock_nanosleep returns an error number and never touches errno. */
static int test_clock_nanosleep(void)
{
	struct timespec bad = { 0, -1 }, ms = { 0, 1000000 }, passed = { 0, 1 };

	SAME(umcg_static_clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ms, NULL),
	     LIBC(clock_nanosleep)(CLOCK_THREAD_CPUTIME_ID, 0, &ms, NULL));
	SAME(umcg_static_clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL),
	     LIBC(clock_nanosleep)(CLOCK_MONOTONIC, 0, &bad, NULL));
	/* the process clock is mapped, not refused (an idle sleep on it
	 * would wait for CPU time: only the bad request is tried) */
	SAME(umcg_static_clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0, &bad,
					 NULL),
	     LIBC(clock_nanosleep)(CLOCK_PROCESS_CPUTIME_ID, 0, &bad, NULL));
	SAME(umcg_static_clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID,
					 TIMER_ABSTIME, &passed, NULL),
	     LIBC(clock_nanosleep)(CLOCK_PROCESS_CPUTIME_ID, TIMER_ABSTIME,
				   &passed, NULL));
	SAME(umcg_static_clock_nanosleep(CLOCK_MONOTONIC, 0, &ms, NULL),
	     LIBC(clock_nanosleep)(CLOCK_MONOTONIC, 0, &ms, NULL));
	SAME(umcg_static_sleep(0), LIBC(sleep)(0));
	SAME(umcg_static_usleep(1000), LIBC(usleep)(1000));
	return 0;
}

/* ppoll and pselect time out without writing the caller's timeout. */
static int test_timeouts_kept(void)
{
	struct timespec ts = { 0, 2000000 };
	int p[2];

	T_CHECK_OK(pipe(p));
	struct pollfd pfd = { p[0], POLLIN, 0 };
	fd_set r;

	T_CHECK(umcg_static_ppoll(&pfd, 1, &ts, NULL) == 0, "ppoll: no timeout");
	T_CHECK(ts.tv_sec == 0 && ts.tv_nsec == 2000000, "ppoll wrote %ld",
		ts.tv_nsec);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	T_CHECK(umcg_static_pselect(p[0] + 1, &r, NULL, NULL, &ts, NULL) == 0,
		"pselect: no timeout");
	T_CHECK(ts.tv_sec == 0 && ts.tv_nsec == 2000000, "pselect wrote %ld",
		ts.tv_nsec);
	close(p[0]);
	close(p[1]);
	return 0;
}

/* Data, file modes, vectors and the pthread stand-ins do what libc's do. */
static int test_results(void)
{
	char path[] = "/tmp/umcg-static-XXXXXX", file[64], buf[8] = { 0 };
	struct iovec iov = { buf, 3 };
	int sv[2], fd;
	struct stat st;
	mode_t um = umask(022);

	T_CHECK(mkdtemp(path), "mkdtemp");
	snprintf(file, sizeof(file), "%s/f", path);
	fd = umcg_static_openat(AT_FDCWD, file, O_CREAT | O_RDWR, 0640);
	umask(um);
	T_CHECK(fd >= 0, "openat O_CREAT: %s", strerror(errno));
	T_CHECK(fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0640,
		"mode %o", st.st_mode & 0777);
	T_CHECK(umcg_static_writev(fd, &(struct iovec){ "abc", 3 }, 1) == 3,
		"writev");
	T_CHECK_OK(umcg_static_fsync(fd));
	T_CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek");
	T_CHECK(umcg_static_readv(fd, &iov, 1) == 3 && !memcmp(buf, "abc", 3),
		"readv");
	close(fd);
	unlink(file);
	rmdir(path);

	T_CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	T_CHECK(umcg_static_sendto(sv[0], "xy", 2, 0, NULL, 0) == 2, "sendto");
	T_CHECK(umcg_static_recv(sv[1], buf, sizeof(buf), 0) == 2 &&
		!memcmp(buf, "xy", 2), "recv");
	errno = 0;
	T_CHECK(umcg_static_recv(sv[1], buf, 1, MSG_DONTWAIT) == -1 &&
		errno == EAGAIN, "recv of nothing: errno %d", errno);
	close(sv[0]);
	close(sv[1]);
	return 0;
}

static int sv_cancel[2];

static void *recv_forever(void *arg)
{
	char c;

	(void)arg;
	umcg_static_recv(sv_cancel[0], &c, 1, 0);
	return NULL;
}

/* A raw call is a cancellation point: pthread_cancel ends the wait. */
static int test_cancellation(void)
{
	pthread_t t;
	void *ret = NULL;
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	struct timespec past = { 1, 0 };

	T_CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv_cancel));
	T_CHECK_OK(pthread_create(&t, NULL, recv_forever, NULL));
	usleep(20000);
	T_CHECK_OK(pthread_cancel(t));
	T_CHECK_OK(umcg_static_pthread_join(t, &ret));
	T_CHECK(ret == PTHREAD_CANCELED, "not cancelled: %p", ret);
	close(sv_cancel[0]);
	close(sv_cancel[1]);

	T_CHECK_OK(pthread_mutex_lock(&m));
	T_CHECK(umcg_static_pthread_mutex_timedlock(&m, &past) ==
		LIBC(pthread_mutex_timedlock)(&m, &past), "timedlock");
	T_CHECK_OK(pthread_mutex_unlock(&m));
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_errors_match, nfail);
	T_RUN(test_clock_nanosleep, nfail);
	T_RUN(test_timeouts_kept, nfail);
	T_RUN(test_results, nfail);
	T_RUN(test_cancellation, nfail);
	return t_finish(nfail);
}
