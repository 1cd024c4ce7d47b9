// SPDX-License-Identifier: MIT
/*
 * faults: what precise block detection buys on the emul backend.
 *
 * Four workers share one server, that is one CPU.  Each works through 20
 * records; a record sits on a page that is not there yet -- a userfaultfd
 * region whose faults "fetcher" threads resolve after 2 ms, standing in for
 * a page that comes from a remote store or a slow disk -- and takes 1 ms of
 * computing once it is there.
 *
 * The same job runs twice, with each detection mode of umcg_set_detection(3):
 *
 *   hooks  A page fault goes through no libc call, so nothing tells the
 *          server that its worker waits: the CPU idles through every
 *          fetch.  About 20 x 4 x (2 + 1) ms.
 *   bpf    The host scheduler's switch tracepoint sees the worker sleep in
 *          the fault; the server runs another worker meanwhile, and the
 *          fetches overlap the computing.  About 20 x 4 x 1 ms, plus the
 *          fetches nobody could overlap.
 *
 * On the kernel backend both runs see the faults (it detects them itself).
 * Needs userfaultfd (root, or vm.unprivileged_userfaultfd=1) and, for the
 * second run, the privileges to load BPF; without them it says so.
 *
 *   faults [records-per-worker] [fetch-ms] [compute-ms]
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <umcg.h>
#include <umcg_sched.h>

#define WORKERS		4
#define FETCHERS	WORKERS

static int records = 20;
static long fetch_ms = 2, compute_ms = 1;
static long page;

struct region {
	int uffd;
	char *base;
	size_t len;
	char *fill;		/* one page of content to copy in */
	_Atomic char *fetching;	/* per page: a fetcher has it */
	_Atomic int stop;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void compute(long ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000;

	while (now_ns() < end)
		;
}

/* A fetcher: take a fault, "fetch" for fetch_ms, copy the page in. */
static void *fetcher(void *arg)
{
	struct region *r = arg;
	struct pollfd p = { .fd = r->uffd, .events = POLLIN };

	while (!r->stop) {
		struct uffd_msg msg;
		struct uffdio_copy copy;
		struct timespec ts = { 0, fetch_ms * 1000000 };

		if (poll(&p, 1, 50) != 1 ||
		    read(r->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			continue;	/* timeout, or another fetcher took it */
		copy = (struct uffdio_copy){
			.dst = msg.arg.pagefault.address & ~(uint64_t)(page - 1),
			.src = (uintptr_t)r->fill, .len = (uint64_t)page,
		};
		/*
		 * A fault is reported again each time the worker retries the
		 * access before the page is in (the preemption signal of BPF
		 * detection ends the fault's wait early): fetch each page once.
		 */
		if (atomic_exchange(&r->fetching[(copy.dst - (uintptr_t)r->base) /
						 (uint64_t)page], 1))
			continue;
		nanosleep(&ts, NULL);
		/* EEXIST: a retried fault of a page another fetcher copied */
		if (ioctl(r->uffd, UFFDIO_COPY, &copy) && errno != EEXIST) {
			perror("UFFDIO_COPY");
			exit(1);
		}
	}
	return NULL;
}

static void *worker(void *arg)
{
	char *pages = arg;
	long sum = 0;

	for (int i = 0; i < records; i++) {
		sum += *(volatile char *)(pages + (size_t)i * (size_t)page);
		compute(compute_ms);
	}
	return (void *)sum;
}

static int region_open(struct region *r)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };

	r->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (r->uffd < 0)
		return -errno;
	r->len = (size_t)page * WORKERS * (size_t)records;
	r->base = mmap(NULL, r->len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r->fill = malloc((size_t)page);
	r->fetching = calloc(r->len / (size_t)page, 1);
	if (r->base == MAP_FAILED || !r->fill || !r->fetching ||
	    ioctl(r->uffd, UFFDIO_API, &api))
		return -errno;
	memset(r->fill, 1, (size_t)page);
	reg.range.start = (uintptr_t)r->base;
	reg.range.len = r->len;
	return ioctl(r->uffd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

static void region_close(struct region *r)
{
	munmap(r->base, r->len);
	free(r->fill);
	free((void *)r->fetching);
	close(r->uffd);
}

/* One run of the job; returns its wall time in ns (0 on failure). */
static uint64_t run(const char *mode)
{
	struct umcg_sched_attr attr;
	struct umcg_worker *w[WORKERS];
	pthread_t f[FETCHERS];
	struct umcg_sched *s;
	struct region r = { 0 };
	cpu_set_t one;
	uint64_t t0, t1;
	long total = 0;
	int e;

	if ((e = region_open(&r)) < 0) {
		fprintf(stderr, "faults: userfaultfd: %s\n", strerror(-e));
		return 0;
	}
	for (int i = 0; i < FETCHERS; i++)
		pthread_create(&f[i], NULL, fetcher, &r);

	/* One server on one CPU, its workers pinned there too. */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
	umcg_sched_attr_init(&attr);
	attr.cpus = &one;
	attr.nr_servers = 1;
	attr.pin_workers = 1;
	if ((e = umcg_sched_create(&s, &attr)) < 0) {
		fprintf(stderr, "faults: umcg_sched_create: %s\n", strerror(-e));
		exit(1);
	}
	t0 = now_ns();
	for (int i = 0; i < WORKERS; i++) {
		char *pages = r.base + (size_t)i * (size_t)records * (size_t)page;

		if (umcg_worker_spawn(s, &w[i], worker, pages, NULL) < 0) {
			fprintf(stderr, "faults: spawn failed\n");
			exit(1);
		}
	}
	for (int i = 0; i < WORKERS; i++) {
		void *ret;

		umcg_worker_join(w[i], &ret);
		total += (long)ret;
	}
	t1 = now_ns();
	umcg_sched_destroy(s);
	r.stop = 1;
	for (int i = 0; i < FETCHERS; i++)
		pthread_join(f[i], NULL);
	region_close(&r);
	if (total != (long)WORKERS * records) {
		fprintf(stderr, "faults: read %ld, want %d\n", total,
			WORKERS * records);
		exit(1);
	}
	printf("%-6s %4d records, %ld ms fetch + %ld ms compute each: "
	       "%6.1f ms\n", mode, WORKERS * records, fetch_ms, compute_ms,
	       (double)(t1 - t0) / 1e6);
	return t1 - t0;
}

int main(int argc, char **argv)
{
	uint64_t hooks, bpf;
	int e;

	if (argc > 1)
		records = atoi(argv[1]);
	if (argc > 2)
		fetch_ms = atol(argv[2]);
	if (argc > 3)
		compute_ms = atol(argv[3]);
	if (records < 1 || records > 10000 || fetch_ms < 0 || compute_ms < 0) {
		fprintf(stderr, "usage: %s [records-per-worker] [fetch-ms] "
			"[compute-ms]\n", argv[0]);
		return 2;
	}
	page = sysconf(_SC_PAGESIZE);
	printf("backend %s; %d workers on one CPU\n", umcg_backend_name(),
	       WORKERS);
	if (umcg_backend() == UMCG_BACKEND_EMUL &&
	    umcg_detection() != UMCG_DETECT_HOOKS) {
		fprintf(stderr, "faults: unset UMCG_DETECT: the first run is "
			"the hooks-only one\n");
		return 2;
	}
	hooks = run(umcg_backend() == UMCG_BACKEND_KERNEL ? "kernel" : "hooks");
	if (!hooks)
		return 1;
	e = umcg_set_detection(UMCG_DETECT_BPF);
	if (e < 0) {
		printf("bpf    not available: %s\n", strerror(-e));
		return 0;
	}
	bpf = run(umcg_backend() == UMCG_BACKEND_KERNEL ? "kernel" : "bpf");
	if (!bpf)
		return 1;
	printf("speed-up with precise detection: %.2fx\n",
	       (double)hooks / (double)bpf);
	return 0;
}
