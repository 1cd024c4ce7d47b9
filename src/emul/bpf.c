// SPDX-License-Identifier: MIT
/*
 * Precise block detection for the emul backend, from the host scheduler:
 * three small BPF programs on tracepoints (bpf_detect.bpf.c), and a
 * detector thread.
 *
 * The hooks (src/hooks/) see only the calls they wrap.  A worker that
 * blocks anywhere else -- a page fault, a raw syscall(), a libc-internal
 * lock -- would keep its server waiting.  With BPF the scheduler itself
 * tells: when a worker of this process leaves its CPU to sleep, sched_switch
 * has prev_state != TASK_RUNNING.
 *
 *  1. sched_switch, a worker goes to sleep (not preempted, not inside
 *     libumcg or a hook bracket: its slot's "ignore" word says so).  If it
 *     sleeps outside a system call (a page fault), send it the preemption
 *     signal now: an uninterruptible sleep is not cut short by it, and it is
 *     delivered on the way back to user space -- where the kernel backend's
 *     return-to-user hook sits.  Then, if the worker is sure to settle
 *     before it runs user code again (in a call, or signalled), bump its
 *     slot's seq and post {tid, seq, slot} on a ring buffer.
 *  2. The detector thread wakes on the ring buffer, moves the worker
 *     RUNNING -> BLOCKED (under its registry lock; only if it is still
 *     RUNNING), stamps blocked_ts and wakes its server: the server runs
 *     another worker.  Then it publishes the slot's "done" = seq.
 *  3. sys_exit of a call in which the worker slept: send it the signal
 *     (delivered before the call returns to user code, so a sleeping call
 *     is never interrupted by it; the kernel backend's syscall-exit hook).
 *  4. The handler (emul_bpf_settle() in preempt.c, through
 *     umcg_bpf_settle_wait()) waits for "done" to reach
 *     seq, and if the detector marked it BLOCKED, does what
 *     umcg_sys_exit() does: RUNNABLE, queued on its server, waits until it
 *     is RUNNING.  So user code never sees its own state BLOCKED.
 *
 * The programs are BPF C, compiled by clang into a bpftool skeleton that
 * this file includes, and loaded with libbpf.  libbpf is not linked: it is
 * dlopen()ed at the first umcg_set_detection(UMCG_DETECT_BPF), so a
 * program that never asks for BPF needs libc alone, and a fully static one
 * is told EOPNOTSUPP.  Costs, limits and the trade-off: docs/bpf.md.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>
#include "bpf.h"
#include "sys.h"

#ifndef UMCG_BPF
#define UMCG_BPF 1
#endif

#define BPF_SLOTS	UMCG_BPF_SLOTS
#define RING_BYTES	UMCG_BPF_RING_BYTES

#if UMCG_BPF
/* ---- libbpf, loaded on demand ------------------------------------------- */

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/*
 * Every libbpf function this file and the skeleton call, resolved by
 * dlsym() into a table whose types come from libbpf's own declarations.
 * A call the table lacks is an undefined symbol at link time (-z defs).
 */
#define LIBBPF_FUNCS(X)				\
	X(bpf_object__open_skeleton)		\
	X(bpf_object__load_skeleton)		\
	X(bpf_object__attach_skeleton)		\
	X(bpf_object__detach_skeleton)		\
	X(bpf_object__destroy_skeleton)		\
	X(bpf_map__fd)				\
	X(bpf_map_update_elem)			\
	X(bpf_map_delete_elem)			\
	X(libbpf_set_print)

static struct {
#define X(f) __typeof__(f) *f;
	LIBBPF_FUNCS(X)
#undef X
} libbpf;

/*
 * dlsym() is a weak reference (src/hooks/resolve.c has the same), and
 * dlopen() is found through it: a static link then names neither, so it
 * neither pulls in libc.a's static dlopen machinery nor warns about it for
 * a feature the program may never use.
 */
#pragma weak dlsym

/* Called once, under bpf_lock; the handle stays for the process's life. */
static int load_libbpf(void)
{
	__typeof__(dlopen) *open_library;
	void *h;

	if (!umcg_program_is_dynamic())
		return -EOPNOTSUPP;
	open_library = (__typeof__(dlopen) *)dlsym(RTLD_DEFAULT, "dlopen");
	if (!open_library)
		return -EOPNOTSUPP;
	h = open_library("libbpf.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -EOPNOTSUPP;
#define X(f)								\
	if (!(libbpf.f = (__typeof__(libbpf.f))dlsym(h, #f)))		\
		return -EOPNOTSUPP;
	LIBBPF_FUNCS(X)
#undef X
	return 0;
}

/* From here on the names call through the table, the skeleton's too. */
#define bpf_object__open_skeleton	libbpf.bpf_object__open_skeleton
#define bpf_object__load_skeleton	libbpf.bpf_object__load_skeleton
#define bpf_object__attach_skeleton	libbpf.bpf_object__attach_skeleton
#define bpf_object__detach_skeleton	libbpf.bpf_object__detach_skeleton
#define bpf_object__destroy_skeleton	libbpf.bpf_object__destroy_skeleton
#define bpf_map__fd			libbpf.bpf_map__fd
#define bpf_map_update_elem		libbpf.bpf_map_update_elem
#define bpf_map_delete_elem		libbpf.bpf_map_delete_elem
#define libbpf_set_print		libbpf.libbpf_set_print

#include "bpf_detect.skel.h"	/* generated: make builds it */

#endif /* UMCG_BPF */

/* ---- State -------------------------------------------------------------- */

static pthread_mutex_t bpf_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct umcg_bpf_client *client;
static int bpf_error;			/* -errno of the failed start, or 0 */
static _Atomic int bpf_ready;		/* programs attached, detector runs */
static _Atomic int bpf_wanted;		/* new workers get a slot */
static int ring_fd;
#if UMCG_BPF
static int tids_fd;
static struct umcg_bpf_progs *progs;
#endif
static struct umcg_bpf_slot *slots;
static uint32_t slot_free[BPF_SLOTS];	/* stack of free slot indexes */
static uint32_t slot_nfree;
static _Atomic uint64_t *ring_consumer;
static const _Atomic uint64_t *ring_producer;
static const uint8_t *ring_data;

/* ---- The detector thread ------------------------------------------------ */

static void handle_event(const struct umcg_bpf_event *ev)
{
	struct umcg_bpf_slot *slot;

	if (ev->slot >= BPF_SLOTS)
		return;
	slot = &slots[ev->slot];
	/*
	 * The worker cannot settle (and so not unregister or exit past its
	 * slot) before "done" says so: the client may use its task memory.
	 */
	if (client->block_seen((pid_t)ev->tid, slot))
		atomic_store((_Atomic uint32_t *)&slot->marked, ev->seq);
	atomic_store((_Atomic uint32_t *)&slot->done, ev->seq);
	umcg_futex_wake(&slot->done);
}

/* Consume what the programs posted; see the BPF ring buffer's layout. */
static void drain_ring(void)
{
	uint64_t cons = atomic_load_explicit(ring_consumer, memory_order_relaxed);
	uint64_t prod = atomic_load_explicit(ring_producer, memory_order_acquire);

	while (cons < prod) {
		const _Atomic uint32_t *hdr =
			(const _Atomic uint32_t *)(ring_data +
						    (cons & (RING_BYTES - 1)));
		uint32_t len = atomic_load_explicit(hdr, memory_order_acquire);

		if (len & BPF_RINGBUF_BUSY_BIT)
			break;
		if (!(len & BPF_RINGBUF_DISCARD_BIT) &&
		    (len & ~BPF_RINGBUF_DISCARD_BIT) >= sizeof(struct umcg_bpf_event)) {
			struct umcg_bpf_event ev;

			memcpy(&ev, (const uint8_t *)hdr + BPF_RINGBUF_HDR_SZ,
			       sizeof(ev));
			handle_event(&ev);
		}
		len &= ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
		cons += (len + BPF_RINGBUF_HDR_SZ + 7) & ~7ULL;
		atomic_store_explicit(ring_consumer, cons, memory_order_release);
		if (cons >= prod)
			prod = atomic_load_explicit(ring_producer,
						    memory_order_acquire);
	}
}

static void *detector(void *arg)
{
	struct pollfd p = { .fd = ring_fd, .events = POLLIN };

	(void)arg;
	for (;;) {
		drain_ring();
		/* raw: the hooked poll() is for workers */
		syscall(SYS_ppoll, &p, 1, NULL, NULL, 0);
	}
	return NULL;
}

/* ---- Start -------------------------------------------------------------- */

#if UMCG_BPF
static int map_ring(void)
{
	long page = sysconf(_SC_PAGESIZE);
	void *c, *p;

	c = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED,
		 ring_fd, 0);
	if (c == MAP_FAILED)
		return -errno;
	/* producer page, then the data area mapped twice (wrapped records) */
	p = mmap(NULL, (size_t)page + 2 * RING_BYTES, PROT_READ, MAP_SHARED,
		 ring_fd, page);
	if (p == MAP_FAILED) {
		int e = -errno;

		munmap(c, (size_t)page);
		return e;
	}
	ring_consumer = c;
	ring_producer = p;
	ring_data = (const uint8_t *)p + page;
	return 0;
}

static void unmap_ring(void)
{
	long page = sysconf(_SC_PAGESIZE);

	munmap((void *)ring_consumer, (size_t)page);
	munmap((void *)ring_producer, (size_t)page + 2 * RING_BYTES);
}

/* libbpf's messages: the caller gets the error as an errno instead. */
static int libbpf_quiet(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

/*
 * Open, load and attach the programs, map the ring.  No thread of ours has
 * a slot yet (bpf_wanted is still 0), so nothing is posted before the
 * detector runs.
 */
static int load_programs(int sig)
{
	int r;

	progs = umcg_bpf_progs__open();
	if (!progs)
		return errno ? -errno : -ENOMEM;
	progs->rodata->tgid = (__u32)getpid();
	progs->rodata->preempt_signal = (__u32)sig;
	if ((r = umcg_bpf_progs__load(progs)) < 0)
		goto fail;
	slots = progs->bss->slots;
	tids_fd = bpf_map__fd(progs->maps.tids);
	ring_fd = bpf_map__fd(progs->maps.ring);
	if ((r = map_ring()) < 0)
		goto fail;
	if ((r = umcg_bpf_progs__attach(progs)) < 0)
		goto fail_ring;
	return 0;
fail_ring:
	unmap_ring();
fail:
	umcg_bpf_progs__destroy(progs);
	progs = NULL;
	return r;
}

static int open_programs(int sig)
{
	static bool have_libbpf;
	libbpf_print_fn_t print;
	int r;

	if (!have_libbpf) {
		if ((r = load_libbpf()) < 0)
			return r;
		have_libbpf = true;
	}
	/* the program's own libbpf messages, if it has any, are left alone */
	print = libbpf_set_print(libbpf_quiet);
	r = load_programs(sig);
	libbpf_set_print(print);
	return r;
}

/* Detaches the programs, frees the maps. */
static void close_programs(void)
{
	unmap_ring();
	umcg_bpf_progs__destroy(progs);
	progs = NULL;
}
#else
/* Built with BPF=0: there are no programs in this library. */
static int open_programs(int sig)
{
	(void)sig;
	return -EOPNOTSUPP;
}

static void close_programs(void)
{
}
#endif /* UMCG_BPF */

static int start_detector(void)
{
	pthread_attr_t attr;
	pthread_t th;
	sigset_t all, old;
	int r;

	/* The detector takes no signals: the preemption signal is for workers. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	r = -pthread_create(&th, &attr, detector, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

static int start(void)
{
	int sig = client->preempt_signal(), r;

	if (sig <= 0)
		return -EINVAL;
	if ((r = open_programs(sig)) < 0)
		return r;
	for (uint32_t i = 0; i < BPF_SLOTS; i++)
		slot_free[i] = BPF_SLOTS - 1 - i;
	slot_nfree = BPF_SLOTS;
	if ((r = start_detector()) < 0)
		close_programs();
	return r;
}

/*
 * Maps, programs and the thread stay for the life of the process (the
 * kernel detaches the programs when it exits).  A failed start is
 * remembered: BPF is then unavailable to this process.
 */
int umcg_bpf_enable(const struct umcg_bpf_client *c)
{
	int r;

	pthread_mutex_lock(&bpf_lock);
	if (!atomic_load(&bpf_ready) && !bpf_error) {
		client = c;	/* no detector thread runs yet */
		r = start();
		if (r < 0)
			bpf_error = r;
		else
			atomic_store(&bpf_ready, 1);
	}
	r = bpf_error;
	if (!r)
		atomic_store(&bpf_wanted, 1);
	pthread_mutex_unlock(&bpf_lock);
	return r;
}

void umcg_bpf_disable(void)
{
	atomic_store(&bpf_wanted, 0);
}

bool umcg_bpf_active(void)
{
	return atomic_load(&bpf_wanted);
}

/*
 * In a forked child: the programs filter on the parent's tgid and the
 * detector thread did not come along.  The child starts afresh if asked.
 */
void umcg_bpf_forget(void)
{
	pthread_mutex_init(&bpf_lock, NULL);
	atomic_store(&bpf_ready, 0);
	atomic_store(&bpf_wanted, 0);
	bpf_error = 0;
}

/* ---- Workers ------------------------------------------------------------ */

#if UMCG_BPF
static int update_tid(uint32_t tid, uint32_t idx)
{
	return bpf_map_update_elem(tids_fd, &tid, &idx, BPF_ANY);
}

static void delete_tid(uint32_t tid)
{
	bpf_map_delete_elem(tids_fd, &tid);
}
#else
/* Never called: without programs no worker gets a slot. */
static int update_tid(uint32_t tid, uint32_t idx)
{
	(void)tid;
	(void)idx;
	return -EOPNOTSUPP;
}

static void delete_tid(uint32_t tid)
{
	(void)tid;
}
#endif

static void put_slot(uint32_t idx)
{
	pthread_mutex_lock(&bpf_lock);
	slot_free[slot_nfree++] = idx;
	pthread_mutex_unlock(&bpf_lock);
}

void umcg_bpf_attach(struct umcg_bpf_watch *w, pid_t tid)
{
	uint32_t key = (uint32_t)tid, idx;
	struct umcg_bpf_slot *slot;

	if (!umcg_bpf_active())
		return;
	pthread_mutex_lock(&bpf_lock);
	if (!slot_nfree) {
		pthread_mutex_unlock(&bpf_lock);
		return;		/* hooks only for this one */
	}
	idx = slot_free[--slot_nfree];
	pthread_mutex_unlock(&bpf_lock);

	slot = &slots[idx];
	atomic_store((_Atomic uint32_t *)&slot->ignore, 1);
	/* seq only grows: what this slot saw before is settled already */
	w->settled = atomic_load((_Atomic uint32_t *)&slot->seq);
	w->slot = slot;
	if (update_tid(key, idx) < 0) {
		w->slot = NULL;
		put_slot(idx);
	}
}

/* At unregistration or exit, after the worker's last settle. */
void umcg_bpf_detach(struct umcg_bpf_watch *w, pid_t tid)
{
	uint32_t key = (uint32_t)tid;

	if (!w->slot)
		return;
	delete_tid(key);
	put_slot((uint32_t)(w->slot - slots));
	w->slot = NULL;
}

/*
 * Called by the worker itself with "ignore" set (inside the library): if
 * the programs saw it sleep since its last settle, wait until the detector
 * handled that, and say whether the detector marked it BLOCKED meanwhile.
 */
bool umcg_bpf_settle_wait(struct umcg_bpf_watch *w)
{
	struct umcg_bpf_slot *slot = w->slot;
	_Atomic uint32_t *done = (_Atomic uint32_t *)&slot->done;
	uint32_t seq = atomic_load((_Atomic uint32_t *)&slot->seq), d;
	uint32_t marked;
	bool took;

	if (seq == w->settled)
		return false;
	while ((int32_t)((d = atomic_load(done)) - seq) < 0)
		umcg_futex_wait(&slot->done, d, NULL, 0);
	marked = atomic_load((_Atomic uint32_t *)&slot->marked);
	/* marked in (settled, seq]: the detector took the CPU from us */
	took = (int32_t)(marked - w->settled) > 0 &&
		    (int32_t)(marked - seq) <= 0;
	w->settled = seq;
	return took;
}
