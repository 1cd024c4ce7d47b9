// SPDX-License-Identifier: MIT
/*
 * A worker blocked in a page fault is seen as BLOCKED: the worker touches a
 * page registered with userfaultfd (missing mode), so the fault waits for a
 * resolver thread, deterministically.  The resolver checks that the worker's
 * state is BLOCKED and that the server was woken (it runs a second worker
 * meanwhile), then resolves the fault; the worker must come back through
 * its server and read the resolved data.
 */
#include "kt.h"
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

static char *area;
static long page;
static int uffd;
static _Atomic int other_ran;

static void *faulter(struct kt_worker *w)
{
	(void)w;
	if (area[0] != 42)	/* faults; waits for the resolver */
		KT_FAIL("read %d after the fault, want 42", area[0]);
	KT_CHECK((KT_STATE(&w->task) & UMCG_TASK_MASK) == UMCG_TASK_RUNNING);
	return NULL;
}

static void *other(struct kt_worker *w)
{
	(void)w;
	atomic_store(&other_ran, 1);
	return NULL;
}

static void *resolver(void *arg)
{
	struct kt_worker *w = arg;
	struct uffd_msg msg;
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	struct uffdio_copy copy;
	char *src;
	uint64_t t0 = kt_now();

	if (poll(&pfd, 1, 20000) != 1)
		KT_FAIL("no userfaultfd event");
	if (read(uffd, &msg, sizeof(msg)) != sizeof(msg) ||
	    msg.event != UFFD_EVENT_PAGEFAULT)
		KT_FAIL("bad userfaultfd message");
	/* The worker waits in the fault: it must be BLOCKED by now. */
	while ((KT_STATE(&w->task) & UMCG_TASK_MASK) != UMCG_TASK_BLOCKED) {
		if (kt_now() - t0 > 10ull * 1000000000)
			KT_FAIL("worker in a page fault is not BLOCKED: %#x",
				KT_STATE(&w->task));
		usleep(1000);
	}
	KT_CHECK(w->task.blocked_ts != 0);
	/* ...and its server ran the other worker meanwhile. */
	while (!atomic_load(&other_ran)) {
		if (kt_now() - t0 > 10ull * 1000000000)
			KT_FAIL("server did not run another worker during the fault");
		usleep(1000);
	}
	src = aligned_alloc((size_t)page, (size_t)page);
	memset(src, 42, (size_t)page);
	copy.dst = (uintptr_t)area;
	copy.src = (uintptr_t)src;
	copy.len = (uint64_t)page;
	copy.mode = 0;
	copy.copy = 0;
	if (ioctl(uffd, UFFDIO_COPY, &copy))
		KT_FAIL("UFFDIO_COPY: %s", strerror(errno));
	return NULL;
}

int main(void)
{
	struct kt_server *s = aligned_alloc(64, sizeof(*s));
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct kt_worker *w1, *w2;
	pthread_t r;

	kt_init();
	page = sysconf(_SC_PAGESIZE);
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (uffd < 0)
		uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0)
		KT_FAIL("userfaultfd: %s", strerror(errno));
	if (ioctl(uffd, UFFDIO_API, &api))
		KT_FAIL("UFFDIO_API: %s", strerror(errno));
	area = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_CHECK(area != MAP_FAILED);
	reg.range.start = (uintptr_t)area;
	reg.range.len = (uint64_t)page;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		KT_FAIL("UFFDIO_REGISTER: %s", strerror(errno));

	memset(s, 0, sizeof(*s));
	w1 = kt_start_workers(s, 1, faulter, NULL);
	w2 = kt_start_workers(s, 1, other, NULL);
	pthread_create(&r, NULL, resolver, w1);
	kt_server_register(s);
	kt_server_loop(s);
	pthread_join(r, NULL);
	kt_join_workers(w1, 1);
	kt_join_workers(w2, 1);
	KT_CHECK(atomic_load(&s->blocks) >= 1);
	printf("k_uffd: fault block seen, %d blocks\n", atomic_load(&s->blocks));
	return 0;
}
