/* SPDX-License-Identifier: MIT */
/*
 * Description: blocks that no hook sees -- a raw syscall(SYS_read) or
 * syscall(SYS_ppoll) on an empty pipe (ppoll also proves no signal cut it
 * short), a page fault that waits (a userfaultfd page) -- are seen
 * anyway where detection is precise: the emul backend with
 * umcg_set_detection(UMCG_DETECT_BPF), and the kernel backend always.  The
 * server sees the worker BLOCKED and runs another one; when the block ends
 * the worker is queued and does not continue until its server runs it
 * (the other worker, still running, checks that it did not).
 *
 * On emul, UMCG_TEST_BPF says what to expect: 1, BPF must load (make check
 * sets it: CI runs as root); 0, the kernel has no BPF (the kernel-check
 * guest) and enabling it must fail with a documented error, leaving
 * detection at HOOKS; unset, a failure to load is reported as SKIP with its
 * reason.  umcg_set_detection()'s bad-mode errors are checked always.
 */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "t_helpers.h"

static struct t_server s;
static int pipe_fds[2];
static char *uffd_page;
static long page_size;

/* Yield until @w has run at least once (so both are in the rotation). */
static int wait_for_run(struct t_worker *w)
{
	while (!atomic_load(&w->data[0]))
		if (t_yield() != 0)
			return 1;
	return 0;
}

/* Worker 0: blocks where no hook looks; data[1] = 1 once past it. */
static int raw_reader(struct t_worker *w)
{
	char c = 0;
	long n;

	atomic_store(&w->data[0], 1);
	if (wait_for_run(s.w[1]))
		return 1;
	n = syscall(SYS_read, pipe_fds[0], &c, 1);
	atomic_store(&w->data[1], 1);
	t_log_add(&s.log, T_EV_USER, w->idx, 2);	/* read returned */
	if (n != 1 || c != 'x') {
		fprintf(stderr, "reader: read %ld '%c'\n", n, c);
		return 1;
	}
	return t_worker_check();
}

/*
 * Worker 0, poll flavour: a handled signal makes ppoll() fail with EINTR
 * whatever SA_RESTART says, so this also checks that detection never
 * signals a worker while it sleeps.
 */
static int raw_poller(struct t_worker *w)
{
	struct pollfd p = { .fd = pipe_fds[0], .events = POLLIN };
	char c = 0;
	long n;

	atomic_store(&w->data[0], 1);
	if (wait_for_run(s.w[1]))
		return 1;
	n = syscall(SYS_ppoll, &p, 1, NULL, NULL, 0);
	atomic_store(&w->data[1], 1);
	t_log_add(&s.log, T_EV_USER, w->idx, 2);
	if (n != 1 || syscall(SYS_read, pipe_fds[0], &c, 1) != 1 || c != 'x') {
		fprintf(stderr, "poller: ppoll %ld (%s), read '%c'\n", n,
			n < 0 ? strerror(errno) : "-", c);
		return 1;
	}
	return t_worker_check();
}

static int faulter(struct t_worker *w)
{
	atomic_store(&w->data[0], 1);
	if (wait_for_run(s.w[1]))
		return 1;
	/* a read of a missing uffd page waits for the resolver's UFFDIO_COPY */
	char c = *(volatile char *)uffd_page;

	atomic_store(&w->data[1], 1);
	t_log_add(&s.log, T_EV_USER, w->idx, 2);
	if (c != 'u') {
		fprintf(stderr, "faulter: read '%c'\n", c);
		return 1;
	}
	return t_worker_check();
}

/*
 * Worker 1: waits (yielding) until worker 0 is BLOCKED, ends the block
 * (@release), then stays RUNNING a while: worker 0 must not run meanwhile.
 */
static int (*release)(void);

static int releaser(struct t_worker *w)
{
	struct t_worker *r = s.w[0];
	uint64_t b0;

	atomic_store(&w->data[0], 1);
	if (wait_for_run(r))
		return 1;
	while (t_state(&r->task) != UMCG_TASK_BLOCKED)
		if (t_yield() != 0)
			return 1;
	t_log_add(&s.log, T_EV_USER, w->idx, 1);	/* about to release */
	b0 = t_load64(&w->task.blocked_ts);
	if (release())
		return 1;
	/*
	 * ~50 ms of running: the woken worker must wait for its server.
	 * Unless this one blocked meanwhile (a sleep on the pipe's lock, a
	 * page fault: precise detection reports it, and the server rightly
	 * runs the other): its blocked_ts tells.
	 */
	for (int i = 0; i < 50; i++) {
		t_spin(100000);
		if (atomic_load(&r->data[1]) &&
		    t_load64(&w->task.blocked_ts) == b0) {
			fprintf(stderr, "releaser: the woken worker ran while "
				"this one was RUNNING\n");
			return 1;
		}
	}
	while (!atomic_load(&r->data[1]))
		if (t_yield() != 0)
			return 1;
	return 0;
}

static int write_pipe(void)
{
	return syscall(SYS_write, pipe_fds[1], "x", 1) != 1;
}

static int run_pair(const char *what, int (*blocker)(struct t_worker *))
{
	int b, rel, q, ret;

	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	T_CHECK(t_worker_spawn(&s, blocker, NULL), "spawn");
	T_CHECK(t_worker_spawn(&s, releaser, NULL), "spawn");
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	b = t_log_find(&s.log, 0, T_EV_BLOCKED, 0);
	rel = t_log_find(&s.log, 0, T_EV_USER, 1);
	q = rel < 0 ? -1 : t_log_find(&s.log, rel, T_EV_QUEUED, 0);
	ret = t_log_find(&s.log, 0, T_EV_USER, 0);
	if (b < 0 || rel < b || q < rel || ret < q) {
		t_log_dump(&s.log, what);
		T_FAIL("%s: BLOCKED(w0) %d, release %d, QUEUED(w0) %d, "
		       "returned %d: want this order", what, b, rel, q, ret);
	}
	t_server_fini(&s);
	return 0;
}

/* @blocker waits on an empty pipe that the releaser then writes. */
static int run_pipe_pair(const char *what, int (*blocker)(struct t_worker *))
{
	int r;

	T_CHECK(pipe(pipe_fds) == 0, "pipe");
	release = write_pipe;
	r = run_pair(what, blocker);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	return r;
}

static int test_raw_syscall(void)
{
	return run_pipe_pair("raw read", raw_reader);
}

static int test_raw_poll(void)
{
	return run_pipe_pair("raw ppoll", raw_poller);
}

/* ---- userfaultfd ---- */

static int uffd = -1;
static atomic_int uffd_go;

static int release_fault(void)
{
	atomic_store(&uffd_go, 1);
	return 0;
}

/* Not a worker: resolves the fault when the releaser says so. */
static void *resolver(void *arg)
{
	struct uffd_msg msg;
	struct pollfd p = { .fd = uffd, .events = POLLIN };
	char *src = arg;

	if (poll(&p, 1, 20000) != 1 || read(uffd, &msg, sizeof(msg)) !=
	    sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
		return (void *)1;
	while (!atomic_load(&uffd_go))
		t_msleep(1);
	struct uffdio_copy copy = {
		.dst = (uintptr_t)uffd_page, .src = (uintptr_t)src,
		.len = (uint64_t)page_size,
	};
	return ioctl(uffd, UFFDIO_COPY, &copy) == 0 ? NULL : (void *)2;
}

static int test_page_fault(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	pthread_t th;
	void *res;
	char *src;

	page_size = sysconf(_SC_PAGESIZE);
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0)
		T_FAIL("userfaultfd: %s", strerror(errno));
	T_CHECK(ioctl(uffd, UFFDIO_API, &api) == 0, "UFFDIO_API");
	uffd_page = mmap(NULL, (size_t)page_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	src = malloc((size_t)page_size);
	T_CHECK(uffd_page != MAP_FAILED && src, "mmap");
	memset(src, 'u', (size_t)page_size);
	reg.range.start = (uintptr_t)uffd_page;
	reg.range.len = (uint64_t)page_size;
	T_CHECK(ioctl(uffd, UFFDIO_REGISTER, &reg) == 0, "UFFDIO_REGISTER");
	atomic_store(&uffd_go, 0);
	T_CHECK(pthread_create(&th, NULL, resolver, src) == 0, "thread");
	release = release_fault;
	if (run_pair("page fault", faulter))
		return 1;
	pthread_join(th, &res);
	T_CHECK(res == NULL, "resolver failed: %ld", (long)(intptr_t)res);
	munmap(uffd_page, (size_t)page_size);
	free(src);
	close(uffd);
	return 0;
}

static int test_detection_errors(void)
{
	int before = umcg_detection();

	T_CHECK(umcg_set_detection(0) == -EINVAL, "mode 0 accepted");
	T_CHECK(umcg_set_detection(42) == -EINVAL, "mode 42 accepted");
	T_CHECK(umcg_detection() == before, "a refused mode changed it");
	if (umcg_backend() == UMCG_BACKEND_KERNEL) {
		T_CHECK(umcg_set_detection(UMCG_DETECT_HOOKS) == 0, "hooks");
		T_CHECK(umcg_detection() == UMCG_DETECT_KERNEL,
			"kernel backend: %d", umcg_detection());
	}
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0, r;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_detection_errors, nfail);
	if (umcg_backend() == UMCG_BACKEND_EMUL) {
		const char *want = getenv("UMCG_TEST_BPF");

		r = umcg_set_detection(UMCG_DETECT_BPF);
		if (want && !strcmp(want, "0")) {
			/* a kernel without BPF: the documented failure */
			if (r != -ENOSYS && r != -EPERM && r != -EINVAL &&
			    r != -EOPNOTSUPP) {
				fprintf(stderr, "FAIL: umcg_set_detection(BPF) "
					"returned %d on a kernel without BPF\n", r);
				return 1;
			}
			if (umcg_detection() != UMCG_DETECT_HOOKS) {
				fprintf(stderr, "FAIL: detection %d after a "
					"failed BPF start\n", umcg_detection());
				return 1;
			}
			printf("UMCG_TEST_BPF=0: BPF refused with %s, detection "
			       "stays HOOKS, as documented\n", strerror(-r));
			return t_finish(nfail);
		}
		if (r < 0 && !(want && !strcmp(want, "1"))) {
			printf("SKIP: BPF detection unavailable: %s\n",
			       strerror(-r));
			return 77;
		}
		if (r < 0) {
			fprintf(stderr, "FAIL: umcg_set_detection(BPF): %s "
				"(UMCG_TEST_BPF=1 wants it)\n", strerror(-r));
			return 1;
		}
		if (umcg_detection() != UMCG_DETECT_BPF) {
			fprintf(stderr, "FAIL: umcg_detection() %d after "
				"enabling BPF\n", umcg_detection());
			return 1;
		}
	}
	T_RUN(test_raw_syscall, nfail);
	T_RUN(test_raw_poll, nfail);
	T_RUN(test_page_fault, nfail);
	return t_finish(nfail);
}
