/* SPDX-License-Identifier: MIT */
/*
 * Description: every hooked libc function returns what libc's own returns
 * -- the same value, the same errno, the same data -- both outside a worker
 * (where the hook is one branch) and inside a worker (where it runs its
 * non-blocking attempt first).  Each family is called through the hook
 * and through libc's definition looked up in libc.so.6 itself, from the
 * same starting state: successes, short transfers, EOF, EAGAIN on
 * O_NONBLOCK descriptors, and the errors (EBADF, ESPIPE, EINVAL, ENOTSOCK,
 * ECHILD, EDEADLK, ETIMEDOUT, ...).  Inside the worker, every call that
 * cannot wait must also leave the worker RUNNING with blocked_ts
 * untouched: no block was declared, the server was never woken.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_helpers.h"

static void *libc;
static char dir[64];
/* An iovec count the compiler cannot see is negative. */
static volatile int minus_one = -1;

/* libc's own definition of @name (@ver: the version, or NULL). */
static void *raw_sym(const char *name, const char *ver)
{
	void *p = ver ? dlvsym(libc, name, ver) : dlsym(libc, name);

	if (!p) {
		fprintf(stderr, "no %s in libc.so.6\n", name);
		exit(T_EXIT_FAIL);
	}
	return p;
}

#define RAW(f)		((__typeof__(&f))raw_sym(#f, NULL))
#define RAWV(f, v)	((__typeof__(&f))raw_sym(#f, v))

/* blocked_ts of the calling worker (0 outside a worker). */
static uint64_t blocked_ts(void)
{
	struct t_worker *me = t_self();

	return me ? t_load64(&me->task.blocked_ts) : 0;
}

static int check_same(const char *what, int nb, uint64_t ts0, long rh, int eh,
		      long rr, int er)
{
	struct t_worker *me = t_self();

	if (rh != rr || (rh == -1 && eh != er)) {
		fprintf(stderr, "%s (%s): hook gave %ld errno %d (%s), libc %ld "
			"errno %d (%s)\n", what, me ? "worker" : "outside", rh,
			eh, strerror(eh), rr, er, strerror(er));
		return 1;
	}
	/*
	 * Only with hooks-only detection do the hooks decide what is a block;
	 * on the kernel backend, or on emul with BPF, it is whatever really
	 * sleeps (even nanosleep of zero calls schedule()).
	 */
	if (nb && me && umcg_detection() == UMCG_DETECT_HOOKS &&
	    (blocked_ts() != ts0 ||
			 t_state(&me->task) != UMCG_TASK_RUNNING)) {
		fprintf(stderr, "%s: declared a block, but cannot wait\n", what);
		return 1;
	}
	return 0;
}

/*
 * Run @setup, the hooked call, @setup again, libc's call; compare.  @nb: the
 * call cannot wait, so in a worker it must not declare a block.
 */
#define SAME(nb, setup, hooked, raw) do {				\
	long rh_, rr_;							\
	int eh_, er_;							\
	uint64_t ts0_;							\
	setup;								\
	ts0_ = blocked_ts();						\
	errno = 0;							\
	rh_ = (long)(hooked);						\
	eh_ = errno;							\
	setup;								\
	errno = 0;							\
	rr_ = (long)(raw);						\
	er_ = errno;							\
	if (check_same(#hooked, nb, ts0_, rh_, eh_, rr_, er_))		\
		return 1;						\
} while (0)

#define NOSETUP ((void)0)

static void put(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		perror("put");
}

static void drain(int fd)
{
	char buf[256];
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	fcntl(fd, F_SETFL, fl);
}

/* A file of 8192 bytes ('a' + offset / 1024) in the test directory. */
/*
 * Can the data file be read with RWF_NOWAIT?  Where it cannot (tmpfs and
 * ramfs, e.g. a test guest's root), a hooked read of it must declare a
 * block, so "cannot wait" checks on it become 0.
 */
static int file_nb(int fd)
{
	char c;
	struct iovec v = { &c, 1 };

	return preadv2(fd, &v, 1, 0, RWF_NOWAIT) >= 0 || errno != EOPNOTSUPP;
}

static int data_file(void)
{
	char path[96], buf[8192];
	int fd;

	snprintf(path, sizeof(path), "%s/data", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	for (int i = 0; i < 8192; i++)
		buf[i] = (char)('a' + i / 1024);
	if (fd < 0 || pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		perror("data_file");
	return fd;
}

/* ---- the families ------------------------------------------------------ */

/* Drop @fd's pages from the page cache, then read the first one back. */
static void first_page_only(int fd)
{
	char page[4096];

	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);	/* no readahead */
	if (pread(fd, page, sizeof(page), 0) != (ssize_t)sizeof(page))
		perror("pread");
}

static int fam_read(void)
{
	static char fa[8192], fb[8192];
	char a[16], b[16];
	struct iovec va[2] = { { a, 2 }, { a + 2, 6 } };
	struct iovec vb[2] = { { b, 2 }, { b + 2, 6 } };
	int p[2], f = data_file(), d = open(dir, O_RDONLY | O_DIRECTORY);
	int fnb = f >= 0 && file_nb(f);

	if (pipe(p) || f < 0 || d < 0)
		return 1;
	SAME(1, put(p[1], "abc"), read(p[0], a, 8), RAW(read)(p[0], b, 8));
	if (memcmp(a, b, 3) || memcmp(a, "abc", 3))
		return fprintf(stderr, "read: data differs\n"), 1;
	SAME(1, put(p[1], "abcdefghij"), readv(p[0], va, 2),
	     RAW(readv)(p[0], vb, 2));
	SAME(1, NOSETUP, readv(p[0], va, minus_one),
	     RAW(readv)(p[0], vb, minus_one));
	drain(p[0]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	SAME(1, NOSETUP, read(p[0], a, 8), RAW(read)(p[0], b, 8));
	SAME(1, NOSETUP, read(-1, a, 8), RAW(read)(-1, b, 8));
	/* A directory has no RWF_NOWAIT (EOPNOTSUPP): declared, same EISDIR. */
	SAME(0, NOSETUP, read(d, a, 8), RAW(read)(d, b, 8));
	SAME(1, NOSETUP, read(p[0], a, 0), RAW(read)(p[0], b, 0));
	SAME(1, NOSETUP, pread(p[0], a, 8, 0), RAW(pread)(p[0], b, 8, 0));
	SAME(fnb, NOSETUP, pread(f, a, 8, 1020), RAW(pread)(f, b, 8, 1020));
	if (memcmp(a, b, 8) || memcmp(a, "aaaabbbb", 8))
		return fprintf(stderr, "pread: data differs\n"), 1;
	SAME(fnb, NOSETUP, pread(f, a, 16, 8190), RAW(pread)(f, b, 16, 8190));
	SAME(fnb, NOSETUP, pread(f, a, 16, 9000), RAW(pread)(f, b, 16, 9000));
	SAME(fnb, NOSETUP, pread(f, a, 8, -1), RAW(pread)(f, b, 8, -1));
	SAME(fnb, NOSETUP, pread64(f, a, 8, 4096), RAW(pread64)(f, b, 8, 4096));
	SAME(fnb, lseek(f, 8185, SEEK_SET), read(f, a, 16), RAW(read)(f, b, 16));
	/* Only the first page cached: a short RWF_NOWAIT read, then the rest. */
	SAME(0, first_page_only(f), pread(f, fa, 8192, 0),
	     RAW(pread)(f, fb, 8192, 0));
	SAME(0, (first_page_only(f), lseek(f, 0, SEEK_SET)), read(f, fa, 8192),
	     RAW(read)(f, fb, 8192));
	if (memcmp(fa, fb, sizeof(fa)))
		return fprintf(stderr, "read: file data differs\n"), 1;
	close(p[0]);
	close(p[1]);
	close(f);
	close(d);
	return 0;
}

static int fam_write(void)
{
	static char big[100000];
	struct iovec v[2] = { { "ab", 2 }, { "cde", 3 } };
	int p[2], f = data_file(), rdonly;
	char path[96];

	snprintf(path, sizeof(path), "%s/data", dir);
	rdonly = open(path, O_RDONLY);
	if (pipe(p) || f < 0 || rdonly < 0)
		return 1;
	SAME(1, drain(p[0]), write(p[1], "xyz", 3), RAW(write)(p[1], "xyz", 3));
	SAME(1, drain(p[0]), writev(p[1], v, 2), RAW(writev)(p[1], v, 2));
	SAME(1, NOSETUP, writev(p[1], v, minus_one),
	     RAW(writev)(p[1], v, minus_one));
	SAME(1, NOSETUP, write(-1, "x", 1), RAW(write)(-1, "x", 1));
	SAME(1, NOSETUP, write(rdonly, "x", 1), RAW(write)(rdonly, "x", 1));
	SAME(1, NOSETUP, pwrite(p[1], "x", 1, 0), RAW(pwrite)(p[1], "x", 1, 0));
	SAME(1, NOSETUP, pwrite(f, "x", 1, -1), RAW(pwrite)(f, "x", 1, -1));
	/* Files may not do RWF_NOWAIT writes (ext4, tmpfs): may declare. */
	SAME(0, NOSETUP, pwrite64(f, "xy", 2, 100),
	     RAW(pwrite64)(f, "xy", 2, 100));
	/* A full O_NONBLOCK pipe: EAGAIN, or a short write, alike. */
	drain(p[0]);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	SAME(1, drain(p[0]), write(p[1], big, sizeof(big)),
	     RAW(write)(p[1], big, sizeof(big)));
	SAME(1, NOSETUP, write(p[1], "x", 1), RAW(write)(p[1], "x", 1));
	close(p[0]);
	SAME(1, NOSETUP, write(p[1], "x", 1), RAW(write)(p[1], "x", 1));
	close(p[1]);
	close(f);
	close(rdonly);
	return 0;
}

static int fam_sock(void)
{
	char a[16], b[16];
	struct iovec va = { a, 8 }, vb = { b, 8 }, vs = { "hello", 5 };
	struct msghdr ma = { .msg_iov = &va, .msg_iovlen = 1 };
	struct msghdr mb = { .msg_iov = &vb, .msg_iovlen = 1 };
	struct msghdr ms = { .msg_iov = &vs, .msg_iovlen = 1 };
	int s[2], p[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) || pipe(p))
		return 1;
	SAME(1, drain(s[1]), send(s[0], "abc", 3, 0),
	     RAW(send)(s[0], "abc", 3, 0));
	SAME(1, drain(s[1]), sendto(s[0], "abc", 3, 0, NULL, 0),
	     RAW(sendto)(s[0], "abc", 3, 0, NULL, 0));
	SAME(1, drain(s[1]), sendmsg(s[0], &ms, 0), RAW(sendmsg)(s[0], &ms, 0));
	drain(s[1]);
	SAME(1, put(s[0], "abc"), recv(s[1], a, 8, 0), RAW(recv)(s[1], b, 8, 0));
	SAME(1, put(s[0], "abc"), recv(s[1], a, 2, MSG_PEEK),
	     RAW(recv)(s[1], b, 2, MSG_PEEK));
	drain(s[1]);
	SAME(1, put(s[0], "abcd"), recvfrom(s[1], a, 8, 0, NULL, NULL),
	     RAW(recvfrom)(s[1], b, 8, 0, NULL, NULL));
	SAME(1, put(s[0], "abcde"), recvmsg(s[1], &ma, 0),
	     RAW(recvmsg)(s[1], &mb, 0));
	if (memcmp(a, b, 5) || memcmp(a, "abcde", 5))
		return fprintf(stderr, "recvmsg: data differs\n"), 1;
	SAME(1, NOSETUP, recv(s[1], a, 8, MSG_DONTWAIT),
	     RAW(recv)(s[1], b, 8, MSG_DONTWAIT));
	SAME(1, NOSETUP, recv(p[0], a, 8, 0), RAW(recv)(p[0], b, 8, 0));
	SAME(1, NOSETUP, send(p[1], "x", 1, 0), RAW(send)(p[1], "x", 1, 0));
	SAME(1, NOSETUP, recvmsg(-1, &ma, 0), RAW(recvmsg)(-1, &mb, 0));
	fcntl(s[1], F_SETFL, O_NONBLOCK);
	SAME(1, NOSETUP, recv(s[1], a, 8, 0), RAW(recv)(s[1], b, 8, 0));
	SAME(1, NOSETUP, recvfrom(s[1], a, 8, 0, NULL, NULL),
	     RAW(recvfrom)(s[1], b, 8, 0, NULL, NULL));
	shutdown(s[0], SHUT_WR);
	SAME(1, NOSETUP, recv(s[1], a, 8, 0), RAW(recv)(s[1], b, 8, 0));
	SAME(1, NOSETUP, send(s[0], "x", 1, MSG_NOSIGNAL),
	     RAW(send)(s[0], "x", 1, MSG_NOSIGNAL));
	for (int i = 0; i < 2; i++) {
		close(s[i]);
		close(p[i]);
	}
	return 0;
}

static int fam_accept_connect(void)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int c = socket(AF_UNIX, SOCK_STREAM, 0), p[2];

	if (l < 0 || c < 0 || pipe(p))
		return 1;
	snprintf(un.sun_path, sizeof(un.sun_path), "%s/none", dir);
	SAME(1, NOSETUP, accept(l, NULL, NULL), RAW(accept)(l, NULL, NULL));
	SAME(1, NOSETUP, accept4(l, NULL, NULL, 0x7fff0000),
	     RAW(accept4)(l, NULL, NULL, 0x7fff0000));
	/* A blocking fd is declared, whatever it is: same ENOTSOCK. */
	SAME(0, NOSETUP, accept(p[0], NULL, NULL),
	     RAW(accept)(p[0], NULL, NULL));
	snprintf(un.sun_path, sizeof(un.sun_path), "%s/sock", dir);
	unlink(un.sun_path);
	if (bind(l, (struct sockaddr *)&un, sizeof(un)) || listen(l, 4))
		return fprintf(stderr, "bind/listen: %s\n", strerror(errno)), 1;
	unlink(un.sun_path);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s/none", dir);
	SAME(1, NOSETUP, accept4(l, NULL, NULL, SOCK_CLOEXEC),
	     RAW(accept4)(l, NULL, NULL, SOCK_CLOEXEC));
	/* A blocking connect is declared even when it fails at once. */
	SAME(0, NOSETUP, connect(c, (struct sockaddr *)&un, sizeof(un)),
	     RAW(connect)(c, (struct sockaddr *)&un, sizeof(un)));
	SAME(0, NOSETUP, connect(p[0], (struct sockaddr *)&un, sizeof(un)),
	     RAW(connect)(p[0], (struct sockaddr *)&un, sizeof(un)));
	close(l);
	close(c);
	close(p[0]);
	close(p[1]);
	return 0;
}

/* Both sets hold just @fd. */
static void sets(fd_set *a, fd_set *b, int fd)
{
	FD_ZERO(a);
	FD_ZERO(b);
	FD_SET(fd, a);
	FD_SET(fd, b);
}

static int fam_poll(void)
{
	struct pollfd pa = { .events = POLLIN }, pb = { .events = POLLIN };
	struct timespec ts = { 1, 0 }, zero = { 0, 0 };
	struct timeval tv = { 1, 0 }, tz = { 0, 0 };
	struct epoll_event ev = { .events = EPOLLIN }, ea, eb;
	fd_set ra, rb;
	int p[2], ep = epoll_create1(0), closed = dup(ep);

	close(closed);
	if (pipe(p) || ep < 0 || closed < 0)
		return 1;
	pa.fd = pb.fd = p[0];
	ev.data.fd = p[0];
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	SAME(1, NOSETUP, poll(&pa, 1, 0), RAW(poll)(&pb, 1, 0));
	SAME(1, NOSETUP, ppoll(&pa, 1, &zero, NULL),
	     RAW(ppoll)(&pb, 1, &zero, NULL));
	SAME(1, NOSETUP, epoll_wait(ep, &ea, 1, 0), RAW(epoll_wait)(ep, &eb, 1, 0));
	SAME(1, sets(&ra, &rb, p[0]),
	     select(p[0] + 1, &ra, NULL, NULL, &tz),
	     RAW(select)(p[0] + 1, &rb, NULL, NULL, &tz));
	put(p[1], "x");
	SAME(1, NOSETUP, poll(&pa, 1, 1000), RAW(poll)(&pb, 1, 1000));
	if (pa.revents != pb.revents)
		return fprintf(stderr, "poll: revents differ\n"), 1;
	SAME(1, NOSETUP, ppoll(&pa, 1, &ts, NULL), RAW(ppoll)(&pb, 1, &ts, NULL));
	SAME(1, NOSETUP, epoll_wait(ep, &ea, 1, -1),
	     RAW(epoll_wait)(ep, &eb, 1, -1));
	SAME(1, NOSETUP, epoll_pwait(ep, &ea, 1, -1, NULL),
	     RAW(epoll_pwait)(ep, &eb, 1, -1, NULL));
	SAME(1, sets(&ra, &rb, p[0]),
	     select(p[0] + 1, &ra, NULL, NULL, &tv),
	     RAW(select)(p[0] + 1, &rb, NULL, NULL, &tv));
	if (memcmp(&ra, &rb, sizeof(ra)))
		return fprintf(stderr, "select: fd sets differ\n"), 1;
	SAME(1, sets(&ra, &rb, p[0]),
	     pselect(p[0] + 1, &ra, NULL, NULL, &ts, NULL),
	     RAW(pselect)(p[0] + 1, &rb, NULL, NULL, &ts, NULL));
	SAME(1, NOSETUP, epoll_wait(-1, &ea, 1, -1), RAW(epoll_wait)(-1, &eb, 1, -1));
	SAME(1, NOSETUP, epoll_wait(ep, &ea, 0, -1), RAW(epoll_wait)(ep, &eb, 0, -1));
	SAME(1, sets(&ra, &rb, closed), select(closed + 1, &ra, NULL, NULL, &tv),
	     RAW(select)(closed + 1, &rb, NULL, NULL, &tv));
	/* Nothing ready and a timeout: both wait it out (declared). */
	drain(p[0]);
	SAME(0, NOSETUP, poll(&pa, 1, 5), RAW(poll)(&pb, 1, 5));
	close(p[0]);
	close(p[1]);
	close(ep);
	return 0;
}

static int fam_sleep(void)
{
	struct timespec zero = { 0, 0 }, bad = { 0, 2000000000L };
	struct timespec ms = { 0, 1000000 }, past = { 1, 0 };

	SAME(1, NOSETUP, nanosleep(&zero, NULL), RAW(nanosleep)(&zero, NULL));
	SAME(1, NOSETUP, nanosleep(&bad, NULL), RAW(nanosleep)(&bad, NULL));
	SAME(0, NOSETUP, nanosleep(&ms, NULL), RAW(nanosleep)(&ms, NULL));
	SAME(1, NOSETUP, clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL),
	     RAW(clock_nanosleep)(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL));
	SAME(0, NOSETUP, clock_nanosleep(12345, 0, &ms, NULL),
	     RAW(clock_nanosleep)(12345, 0, &ms, NULL));
	SAME(0, NOSETUP, clock_nanosleep(CLOCK_MONOTONIC, 0, &ms, NULL),
	     RAW(clock_nanosleep)(CLOCK_MONOTONIC, 0, &ms, NULL));
	SAME(1, NOSETUP, usleep(0), RAW(usleep)(0));
	SAME(0, NOSETUP, usleep(1000), RAW(usleep)(1000));
	SAME(1, NOSETUP, sleep(0), RAW(sleep)(0));
	return 0;
}

static int fam_open(void)
{
	char path[96], fifo[96], newp[96];
	struct stat st = { 0 };
	int d = open(dir, O_RDONLY | O_DIRECTORY), fa, fb;
	mode_t mask;

	snprintf(path, sizeof(path), "%s/data", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	close(data_file());
	unlink(fifo);
	if (d < 0 || mkfifo(fifo, 0600))
		return 1;
	fa = open(path, O_RDONLY);
	fb = RAW(open)(path, O_RDONLY);
	if (fa < 0 || fb < 0)
		return fprintf(stderr, "open: %d %d\n", fa, fb), 1;
	close(fa);
	close(fb);
	SAME(1, NOSETUP, open("/nonexistent/x", O_RDONLY),
	     RAW(open)("/nonexistent/x", O_RDONLY));
	SAME(1, NOSETUP, open(path, O_RDWR | O_CREAT | O_EXCL, 0600),
	     RAW(open)(path, O_RDWR | O_CREAT | O_EXCL, 0600));
	SAME(1, NOSETUP, openat(d, "nonexistent", O_RDONLY),
	     RAW(openat)(d, "nonexistent", O_RDONLY));
	SAME(1, NOSETUP, open64("/nonexistent/x", O_RDONLY),
	     RAW(open64)("/nonexistent/x", O_RDONLY));
	SAME(1, NOSETUP, openat64(-1, "x", O_RDONLY),
	     RAW(openat64)(-1, "x", O_RDONLY));
	/* No reader: ENXIO at once with O_NONBLOCK. */
	SAME(1, NOSETUP, open(fifo, O_WRONLY | O_NONBLOCK),
	     RAW(open)(fifo, O_WRONLY | O_NONBLOCK));
	/* The variadic mode must arrive (as mode & ~umask). */
	mask = umask(022);
	for (int i = 0; i < 4; i++) {
		mode_t mode = i & 1 ? 0640 : 0604;
		const char *name = newp + strlen(dir) + 1;

		snprintf(newp, sizeof(newp), "%s/new%d", dir, i);
		switch (i) {
		case 0: fa = open(newp, O_WRONLY | O_CREAT, mode); break;
		case 1: fa = open64(newp, O_WRONLY | O_CREAT, mode); break;
		case 2: fa = openat(d, name, O_WRONLY | O_CREAT, mode); break;
		default: fa = openat64(d, name, O_WRONLY | O_CREAT, mode);
		}
		if (fa < 0 || fstat(fa, &st) || (st.st_mode & 0777) != mode)
			return fprintf(stderr, "open %d: mode %o, asked %o\n",
				       i, st.st_mode & 0777, mode), 1;
		close(fa);
		unlink(newp);
	}
	umask(mask);
	unlink(fifo);
	close(d);
	return 0;
}

static int fam_fsync(void)
{
	int f = data_file(), p[2];

	if (f < 0 || pipe(p))
		return 1;
	SAME(0, NOSETUP, fsync(f), RAW(fsync)(f));
	SAME(0, NOSETUP, fdatasync(f), RAW(fdatasync)(f));
	SAME(0, NOSETUP, fsync(-1), RAW(fsync)(-1));
	SAME(0, NOSETUP, fdatasync(p[0]), RAW(fdatasync)(p[0]));
	close(f);
	close(p[0]);
	close(p[1]);
	return 0;
}

/* A child that has exited (a zombie: waited for with WNOWAIT). */
static pid_t zombie(int code)
{
	siginfo_t si;
	pid_t pid = fork();

	if (pid == 0)
		_exit(code);
	if (pid > 0)
		waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
	return pid;
}

static int fam_wait(void)
{
	int sa = 0, sb = 0;
	siginfo_t ia, ib;
	pid_t pa, pb;

	SAME(1, NOSETUP, waitpid(-1, &sa, 0), RAW(waitpid)(-1, &sb, 0));
	SAME(1, NOSETUP, wait(&sa), RAW(wait)(&sb));
	SAME(1, NOSETUP, waitid(P_ALL, 0, &ia, WEXITED),
	     RAW(waitid)(P_ALL, 0, &ib, WEXITED));
	SAME(1, NOSETUP, waitpid(-1, &sa, WNOHANG), RAW(waitpid)(-1, &sb, WNOHANG));
	pa = zombie(3);
	pb = zombie(3);
	if (waitpid(pa, &sa, 0) != pa || RAW(waitpid)(pb, &sb, 0) != pb ||
	    sa != sb || !WIFEXITED(sa) || WEXITSTATUS(sa) != 3)
		return fprintf(stderr, "waitpid: status %#x vs %#x\n", sa, sb), 1;
	pa = zombie(4);
	if (wait(&sa) != pa || WEXITSTATUS(sa) != 4)
		return fprintf(stderr, "wait: status %#x\n", sa), 1;
	pa = zombie(5);
	pb = zombie(5);
	memset(&ia, 0, sizeof(ia));
	memset(&ib, 0, sizeof(ib));
	if (waitid(P_PID, (id_t)pa, &ia, WEXITED) ||
	    RAW(waitid)(P_PID, (id_t)pb, &ib, WEXITED) ||
	    ia.si_pid != pa || ib.si_pid != pb || ia.si_status != ib.si_status ||
	    ia.si_code != ib.si_code)
		return fprintf(stderr, "waitid: differs\n"), 1;
	return 0;
}

static void *ret_arg(void *arg)
{
	return arg;
}

static int fam_pthread(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER, e;
	pthread_mutexattr_t ma;
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
	pthread_barrier_t bar;
	struct timespec past = { 1, 0 };
	pthread_t t;
	void *ret = NULL;

	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&e, &ma);
	SAME(1, NOSETUP, pthread_mutex_lock(&m) + pthread_mutex_unlock(&m),
	     RAW(pthread_mutex_lock)(&m) + RAW(pthread_mutex_unlock)(&m));
	SAME(1, NOSETUP, pthread_mutex_timedlock(&m, &past) +
	     pthread_mutex_unlock(&m),
	     RAW(pthread_mutex_timedlock)(&m, &past) +
	     RAW(pthread_mutex_unlock)(&m));
	pthread_mutex_lock(&e);
	SAME(0, NOSETUP, pthread_mutex_lock(&e), RAW(pthread_mutex_lock)(&e));
	pthread_mutex_lock(&m);
	SAME(0, NOSETUP, pthread_mutex_timedlock(&m, &past),
	     RAW(pthread_mutex_timedlock)(&m, &past));
	SAME(0, NOSETUP, pthread_cond_timedwait(&c, &m, &past),
	     RAWV(pthread_cond_timedwait, "GLIBC_2.3.2")(&c, &m, &past));
	SAME(0, NOSETUP, pthread_cond_clockwait(&c, &m, CLOCK_MONOTONIC, &past),
	     RAW(pthread_cond_clockwait)(&c, &m, CLOCK_MONOTONIC, &past));
	SAME(0, NOSETUP, pthread_cond_clockwait(&c, &m, 12345, &past),
	     RAW(pthread_cond_clockwait)(&c, &m, 12345, &past));
	pthread_mutex_unlock(&m);
	pthread_mutex_unlock(&e);
	SAME(1, NOSETUP, pthread_rwlock_rdlock(&rw) + pthread_rwlock_unlock(&rw),
	     RAW(pthread_rwlock_rdlock)(&rw) + RAW(pthread_rwlock_unlock)(&rw));
	SAME(1, NOSETUP, pthread_rwlock_wrlock(&rw) + pthread_rwlock_unlock(&rw),
	     RAW(pthread_rwlock_wrlock)(&rw) + RAW(pthread_rwlock_unlock)(&rw));
	SAME(1, NOSETUP, pthread_rwlock_timedrdlock(&rw, &past) +
	     pthread_rwlock_unlock(&rw),
	     RAW(pthread_rwlock_timedrdlock)(&rw, &past) +
	     RAW(pthread_rwlock_unlock)(&rw));
	pthread_rwlock_wrlock(&rw);
	SAME(0, NOSETUP, pthread_rwlock_wrlock(&rw), RAW(pthread_rwlock_wrlock)(&rw));
	SAME(0, NOSETUP, pthread_rwlock_rdlock(&rw), RAW(pthread_rwlock_rdlock)(&rw));
	SAME(0, NOSETUP, pthread_rwlock_timedwrlock(&rw, &past),
	     RAW(pthread_rwlock_timedwrlock)(&rw, &past));
	pthread_rwlock_unlock(&rw);
	pthread_barrier_init(&bar, NULL, 1);
	SAME(0, NOSETUP, pthread_barrier_wait(&bar), RAW(pthread_barrier_wait)(&bar));
	pthread_barrier_destroy(&bar);
	/*
	 * Ours only: libc's join would hide the thread from a sanitizer, and
	 * TSan's own join stops the program on a join of oneself.
	 */
	if (pthread_create(&t, NULL, ret_arg, &ret) || pthread_join(t, &ret) ||
	    ret != &ret)
		return fprintf(stderr, "pthread_join: wrong result\n"), 1;
	pthread_mutex_destroy(&e);
	pthread_mutexattr_destroy(&ma);
	return 0;
}

static int fam_sem(void)
{
	struct timespec past = { 1, 0 };
	sem_t s;

	sem_init(&s, 0, 0);
	SAME(1, sem_post(&s), sem_wait(&s), RAW(sem_wait)(&s));
	SAME(1, sem_post(&s), sem_timedwait(&s, &past), RAW(sem_timedwait)(&s, &past));
	SAME(1, sem_post(&s), sem_clockwait(&s, CLOCK_MONOTONIC, &past),
	     RAW(sem_clockwait)(&s, CLOCK_MONOTONIC, &past));
	SAME(0, NOSETUP, sem_timedwait(&s, &past), RAW(sem_timedwait)(&s, &past));
	SAME(0, NOSETUP, sem_clockwait(&s, 12345, &past),
	     RAW(sem_clockwait)(&s, 12345, &past));
	sem_destroy(&s);
	return 0;
}

/* ---- outside and inside a worker --------------------------------------- */

static int in_worker(struct t_worker *w)
{
	int (*fn)(void) = (int (*)(void))atomic_load(&w->data[0]);

	return fn();
}

static int both(int (*fn)(void))
{
	struct t_server s;
	struct t_worker *w;
	int r;

	T_CHECK(fn() == 0, "outside a worker");
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "server");
	w = t_worker_new(&s, in_worker, NULL);
	T_CHECK(w, "worker");
	atomic_store(&w->data[0], (long)fn);
	T_CHECK(t_worker_start(w) == 0, "start");
	r = t_server_run(&s) || atomic_load(&w->result);
	t_server_fini(&s);
	T_CHECK(!r, "in a worker");
	return 0;
}

static int test_read(void)
{
	return both(fam_read);
}

static int test_write(void)
{
	return both(fam_write);
}

static int test_sockets(void)
{
	return both(fam_sock);
}

static int test_accept_connect(void)
{
	return both(fam_accept_connect);
}

static int test_poll_select_epoll(void)
{
	return both(fam_poll);
}

static int test_sleep(void)
{
	return both(fam_sleep);
}

static int test_open(void)
{
	return both(fam_open);
}

static int test_fsync(void)
{
	return both(fam_fsync);
}

static int test_wait(void)
{
	return both(fam_wait);
}

static int test_pthread(void)
{
	return both(fam_pthread);
}

static int test_sem(void)
{
	return both(fam_sem);
}

static void cleanup(void)
{
	char path[96];
	static const char *const names[] = { "data", "fifo", "sock", "new0",
					     "new1", "new2", "new3" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 120);
	signal(SIGPIPE, SIG_IGN);
	libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	if (!libc) {
		printf("SKIP: %s: no libc.so.6 to compare with\n", t_prog);
		return T_EXIT_SKIP;
	}
	snprintf(dir, sizeof(dir), "%s/umcg-hooks-XXXXXX",
		 tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return T_EXIT_FAIL;
	}
	atexit(cleanup);
	T_RUN(test_read, nfail);
	T_RUN(test_write, nfail);
	T_RUN(test_sockets, nfail);
	T_RUN(test_accept_connect, nfail);
	T_RUN(test_poll_select_epoll, nfail);
	T_RUN(test_sleep, nfail);
	T_RUN(test_open, nfail);
	T_RUN(test_fsync, nfail);
	T_RUN(test_wait, nfail);
	T_RUN(test_pthread, nfail);
	T_RUN(test_sem, nfail);
	return t_finish(nfail);
}
