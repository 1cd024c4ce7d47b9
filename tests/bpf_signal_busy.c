/* SPDX-License-Identifier: MIT */
/*
 * Description: BPF detection when the signal helper is busy (issue 15).
 * From sched_switch, bpf_send_signal_thread() goes through one irq_work
 * per CPU that every BPF program shares; while another program's signal is
 * still queued there it fails with EBUSY.  A second process using BPF
 * detection on a busy host makes that happen now and then; here a small
 * "interferer" program of our own, attached to sched_switch before
 * libumcg's, sends signal 0 (no effect) at every sleep of our threads, so
 * libumcg's program meets a busy irq_work at every one, deterministically.
 *
 * A worker then sleeps on a page fault (a userfaultfd page).  Its signal
 * cannot be queued, so nothing will stop it on its way back to user code;
 * such a sleep must not be reported.  Reported, the detector marked the
 * worker BLOCKED while it slept, the worker came back unsignalled and ran
 * user code in state BLOCKED while its server thought its CPU free (the
 * cause of the sched_sync hang of issue 15).  The resolver ends each fault
 * once the worker is BLOCKED or after 200 ms (bounded, no timing is
 * asserted); the worker checks its own state right after the fault.
 * Under UMCG_DETECT=bpf (build@bpf) libumcg attaches its programs before
 * main() runs, the interferer then comes second, and this is a plain
 * page-fault case; the plain build's run is the one that tests the rule.
 */
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "t_helpers.h"

#define ROUNDS 5

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), \
			    .off = (o), .imm = (i) })

static struct t_server s;
static int uffd = -1;
static char *pages;
static long page_size;
static volatile uint64_t *sent;	/* the interferer's successful sends */
static struct t_worker *_Atomic faulting;	/* for the resolver */

static long bpf_call(int cmd, union bpf_attr *a)
{
	return syscall(SYS_bpf, cmd, a, sizeof(*a));
}

/*
 * sched_switch(preempt, prev, next, prev_state): a thread of ours goes to
 * sleep -> bpf_send_signal_thread(0); count the sends that worked.
 * Returns 0, or -errno when BPF is not available.
 */
static int attach_interferer(void)
{
	union bpf_attr a;
	int map, prog;
	void *m;

	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = 4;
	a.value_size = 8;
	a.max_entries = 1;
	a.map_flags = BPF_F_MMAPABLE;
	if ((map = (int)bpf_call(BPF_MAP_CREATE, &a)) < 0)
		return -errno;
	m = mmap(NULL, (size_t)page_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 map, 0);
	if (m == MAP_FAILED)
		return -errno;
	sent = m;

	const struct bpf_insn p[] = {
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0),		/* r6 = ctx */
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_current_pid_tgid),
		INSN(BPF_ALU64 | BPF_RSH | BPF_K, 0, 0, 0, 32),
		INSN(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 17, getpid()),	/* -> out */
		INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, 6, 0, 0),		/* preempt */
		INSN(BPF_JMP | BPF_JNE | BPF_K, 1, 0, 15, 0),
		INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, 6, 24, 0),		/* prev_state */
		INSN(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 13, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 1, 0, 0, 0),		/* signal 0 */
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_send_signal_thread),
		INSN(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 10, 0),
		INSN(BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 0),		/* key 0 */
		INSN(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, map),
		INSN(0, 0, 0, 0, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
		INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 1, 0, 0, 1),
		INSN(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 1, 0, BPF_ADD),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),		/* out */
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
	a.insns = (uintptr_t)p;
	a.insn_cnt = sizeof(p) / sizeof(p[0]);
	a.license = (uintptr_t)"Dual MIT/GPL";
	if ((prog = (int)bpf_call(BPF_PROG_LOAD, &a)) < 0)
		return -errno;
	memset(&a, 0, sizeof(a));
	a.raw_tracepoint.name = (uintptr_t)"sched_switch";
	a.raw_tracepoint.prog_fd = (uint32_t)prog;
	if (bpf_call(BPF_RAW_TRACEPOINT_OPEN, &a) < 0)
		return -errno;
	return 0;
}

/* The worker: ROUNDS faults; data[1] counts the rounds that saw BLOCKED. */
static int faulter(struct t_worker *w)
{
	atomic_store(&faulting, w);
	for (int i = 0; i < ROUNDS; i++) {
		char c = *(volatile char *)(pages + i * page_size);
		uint32_t st = t_state(&w->task) & UMCG_TASK_MASK;

		if (c != 'u') {
			fprintf(stderr, "faulter: read '%c'\n", c);
			return 1;
		}
		if (st != UMCG_TASK_RUNNING) {
			atomic_fetch_add(&w->data[1], 1);
			fprintf(stderr, "round %d: user code runs in state %u "
				"after a sleep whose signal was not sent\n",
				i, st);
		}
	}
	return 0;
}

/* Not a worker: ends each fault once the worker is BLOCKED, or in 200 ms. */
static void *resolver(void *arg)
{
	char *src = arg;

	for (int i = 0; i < ROUNDS; i++) {
		struct uffd_msg msg;
		struct pollfd p = { .fd = uffd, .events = POLLIN };

		if (poll(&p, 1, 20000) != 1 ||
		    read(uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			return (void *)1;
		for (int ms = 0; ms < 200; ms++) {
			struct t_worker *w = atomic_load(&faulting);

			if (w && (t_state(&w->task) & UMCG_TASK_MASK) ==
			    UMCG_TASK_BLOCKED)
				break;
			t_msleep(1);
		}
		struct uffdio_copy copy = {
			.dst = (uintptr_t)(pages + i * page_size),
			.src = (uintptr_t)src, .len = (uint64_t)page_size,
		};
		if (ioctl(uffd, UFFDIO_COPY, &copy))
			return (void *)2;
	}
	return NULL;
}

static int test_busy_signal_not_reported(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	uint64_t sent_before = *sent;
	pthread_t th;
	void *res;
	char *src;
	long bad;

	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0)
		T_FAIL("userfaultfd: %s", strerror(errno));
	T_CHECK(ioctl(uffd, UFFDIO_API, &api) == 0, "UFFDIO_API");
	pages = mmap(NULL, (size_t)(ROUNDS * page_size), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	src = malloc((size_t)page_size);
	T_CHECK(pages != MAP_FAILED && src, "mmap");
	memset(src, 'u', (size_t)page_size);
	reg.range.start = (uintptr_t)pages;
	reg.range.len = (uint64_t)(ROUNDS * page_size);
	T_CHECK(ioctl(uffd, UFFDIO_REGISTER, &reg) == 0, "UFFDIO_REGISTER");

	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "register");
	T_CHECK(pthread_create(&th, NULL, resolver, src) == 0, "thread");
	T_CHECK(t_worker_spawn(&s, faulter, NULL), "spawn");
	T_CHECK(t_server_run(&s) == 0, "server loop failed");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	bad = atomic_load(&s.w[0]->data[1]);
	/* the resolver reads the worker's record: join it before freeing that */
	pthread_join(th, &res);
	t_server_fini(&s);
	T_CHECK(res == NULL, "resolver failed: %ld", (long)(intptr_t)res);
	/* the contention really happened: the interferer queued its signals */
	T_CHECK(*sent > sent_before, "the interferer never sent");
	T_CHECK(bad == 0, "%ld of %d rounds ran user code while BLOCKED", bad,
		ROUNDS);
	munmap(pages, (size_t)(ROUNDS * page_size));
	free(src);
	close(uffd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *want = getenv("UMCG_TEST_BPF");
	int nfail = 0, r;

	(void)argc;
	t_init(argv[0], 60);
	page_size = sysconf(_SC_PAGESIZE);
	if (umcg_backend() != UMCG_BACKEND_EMUL) {
		/* The kernel sees every fault itself; any mode reads KERNEL. */
		T_CHECK(umcg_set_detection(UMCG_DETECT_BPF) == 0, "kernel: BPF mode refused");
		T_CHECK(umcg_detection() == UMCG_DETECT_KERNEL,
			"kernel backend: detection %d", umcg_detection());
		printf("kernel backend: faults are seen by the kernel, no BPF involved\n");
		return t_finish(nfail);
	}
	if (want && !strcmp(want, "0")) {
		/* a kernel without BPF (the test guest): the documented refusal */
		r = umcg_set_detection(UMCG_DETECT_BPF);
		T_CHECK(r == -ENOSYS || r == -EPERM || r == -EINVAL || r == -EOPNOTSUPP,
			"umcg_set_detection(BPF) returned %d on a kernel without BPF", r);
		T_CHECK(umcg_detection() == UMCG_DETECT_HOOKS,
			"detection %d after a failed BPF start", umcg_detection());
		printf("UMCG_TEST_BPF=0: BPF refused with %s, as documented\n", strerror(-r));
		return t_finish(nfail);
	}
	/* first: programs on one tracepoint run in the order attached */
	r = attach_interferer();
	if (r == 0)
		r = umcg_set_detection(UMCG_DETECT_BPF);
	if (r < 0 && !(want && !strcmp(want, "1"))) {
		printf("SKIP: BPF unavailable: %s\n", strerror(-r));
		return 77;
	}
	T_CHECK(r == 0, "BPF: %s (UMCG_TEST_BPF=1 wants it)", strerror(-r));
	T_RUN(test_busy_signal_not_reported, nfail);
	return t_finish(nfail);
}
