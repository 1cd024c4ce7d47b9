// SPDX-License-Identifier: MIT
/*
 * Precise block detection for the emul backend, from the host scheduler:
 * three small BPF programs on raw tracepoints, and a detector thread.
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
 * The programs are written out as instructions below (no libbpf, no BPF
 * compiler: libumcg depends on libc alone) and filter on this process's
 * tgid before any map lookup.  Costs and limits: docs/bpf.md.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "bpf.h"
#include "sys.h"

#define BPF_SLOTS	4096		/* workers with BPF detection at once */
#define RING_BYTES	(256 * 1024)	/* ~16k pending events */

struct bpf_event {
	uint32_t tid, seq, slot, pad;
};

/* ---- Instructions --------------------------------------------------------- */

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), \
			    .off = (o), .imm = (i) })
#define MOV64_REG(d, s)		INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV64_IMM(d, i)		INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV32_REG(d, s)		INSN(BPF_ALU | BPF_MOV | BPF_X, d, s, 0, 0)
#define ADD64_IMM(d, i)		INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define ADD32_IMM(d, i)		INSN(BPF_ALU | BPF_ADD | BPF_K, d, 0, 0, i)
#define RSH64_IMM(d, i)		INSN(BPF_ALU64 | BPF_RSH | BPF_K, d, 0, 0, i)
#define LDX_W(d, s, o)		INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define LDX_DW(d, s, o)		INSN(BPF_LDX | BPF_MEM | BPF_DW, d, s, o, 0)
#define STX_W(d, s, o)		INSN(BPF_STX | BPF_MEM | BPF_W, d, s, o, 0)
#define ST_W(d, o, i)		INSN(BPF_ST | BPF_MEM | BPF_W, d, 0, o, i)
#define JEQ_IMM(d, i, o)	INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, i)
#define JNE_IMM(d, i, o)	INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, i)
#define JEQ_REG(d, s, o)	INSN(BPF_JMP | BPF_JEQ | BPF_X, d, s, o, 0)
#define JA(o)			INSN(BPF_JMP | BPF_JA, 0, 0, o, 0)
#define CALL(f)			INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT()			INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define LD_MAP(d, fd) \
	INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), \
	INSN(0, 0, 0, 0, 0)

/* Slot fields as the programs address them. */
#define S_IGNORE	offsetof(struct umcg_bpf_slot, ignore)
#define S_SEQ		offsetof(struct umcg_bpf_slot, seq)
#define S_SIGNALED	offsetof(struct umcg_bpf_slot, signaled)
#define S_IN_SYSCALL	offsetof(struct umcg_bpf_slot, in_syscall)

/*
 * Every program starts alike: a thread of our process (tgid compare, so
 * other processes pay one helper call) that has a slot.  Afterwards r6 =
 * ctx, r7 = tid, r8 = the slot, fp-8 = the slot index.  Jumps to "out" are
 * written as the distance to the program's last two instructions, which
 * PROLOGUE_OUT() computes from the instruction's own index.
 */
#define PROLOGUE_LEN 22
#define PROLOGUE(tgid, tids, slots, out)				\
	MOV64_REG(6, 1),						\
	CALL(BPF_FUNC_get_current_pid_tgid),				\
	MOV64_REG(7, 0),						\
	RSH64_IMM(7, 32),						\
	JNE_IMM(7, tgid, (out) - 5),					\
	MOV32_REG(7, 0),						\
	STX_W(10, 7, -4),						\
	LD_MAP(1, tids),						\
	MOV64_REG(2, 10),						\
	ADD64_IMM(2, -4),						\
	CALL(BPF_FUNC_map_lookup_elem),					\
	JEQ_IMM(0, 0, (out) - 13),					\
	LDX_W(1, 0, 0),							\
	STX_W(10, 1, -8),						\
	LD_MAP(1, slots),						\
	MOV64_REG(2, 10),						\
	ADD64_IMM(2, -8),						\
	CALL(BPF_FUNC_map_lookup_elem),					\
	JEQ_IMM(0, 0, (out) - 21),					\
	MOV64_REG(8, 0)

#define OUT()	MOV64_IMM(0, 0), EXIT()

/*
 * Send the signal for the seq in r9 (4 instructions); record it only if the
 * helper took it (from the scheduler it may say EBUSY: the next switch
 * outside a system call tries again).
 */
#define SIGNAL_SEQ_IN_R9(sig)						\
	MOV64_IMM(1, sig),						\
	CALL(BPF_FUNC_send_signal_thread),				\
	JNE_IMM(0, 0, 1),						\
	STX_W(8, 9, S_SIGNALED)

static int bpf_sys(int cmd, union bpf_attr *attr)
{
	long r = syscall(SYS_bpf, cmd, attr, sizeof(*attr));

	return r < 0 ? -errno : (int)r;
}

static int load_prog(const struct bpf_insn *insns, size_t n)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
	a.insns = (uintptr_t)insns;
	a.insn_cnt = (uint32_t)n;
	a.license = (uintptr_t)"Dual MIT/GPL";
	return bpf_sys(BPF_PROG_LOAD, &a);
}

static int attach(int prog, const char *tracepoint)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.raw_tracepoint.name = (uintptr_t)tracepoint;
	a.raw_tracepoint.prog_fd = (uint32_t)prog;
	return bpf_sys(BPF_RAW_TRACEPOINT_OPEN, &a);
}

static int create_map(uint32_t type, uint32_t key, uint32_t value,
		      uint32_t entries, uint32_t flags)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = key;
	a.value_size = value;
	a.max_entries = entries;
	a.map_flags = flags;
	return bpf_sys(BPF_MAP_CREATE, &a);
}

/* sys_enter: the worker is inside a system call. */
static int load_sys_enter(int tgid, int tids, int slots)
{
	const struct bpf_insn p[] = {
		PROLOGUE(tgid, tids, slots, PROLOGUE_LEN + 1),
		ST_W(8, S_IN_SYSCALL, 1),
		OUT(),
	};

	return load_prog(p, sizeof(p) / sizeof(p[0]));
}

/* sys_exit: a call in which the worker slept returns: signal it now. */
static int load_sys_exit(int tgid, int tids, int slots, int sig)
{
	enum { BODY = PROLOGUE_LEN, OUT_AT = BODY + 4 + 4 };
	const struct bpf_insn p[] = {
		PROLOGUE(tgid, tids, slots, OUT_AT),
		ST_W(8, S_IN_SYSCALL, 0),
		LDX_W(9, 8, S_SEQ),
		LDX_W(1, 8, S_SIGNALED),
		JEQ_REG(9, 1, OUT_AT - (BODY + 3) - 1),
		SIGNAL_SEQ_IN_R9(sig),
		OUT(),
	};
	_Static_assert(sizeof(p) / sizeof(p[0]) == OUT_AT + 2, "jump targets");

	return load_prog(p, sizeof(p) / sizeof(p[0]));
}

/*
 * sched_switch(preempt, prev, next, prev_state); current is prev.  A sleep
 * is reported (seq bumped, event posted) only if the worker will settle
 * before it runs user code again: inside a system call sys_exit signals it
 * (from there the helper sends at once); outside one (a page fault) the
 * signal must be queued here first, and if the helper says EBUSY (its
 * per-CPU irq_work is taken, by any BPF program on this CPU) the sleep is
 * not reported at all.  Reported anyway, the detector would mark BLOCKED a
 * worker that wakes and goes on running user code unsignalled, and its
 * server would run a second worker beside it (issue 15).  Then, for any
 * switch ("OWED"): outside a system call, a worker whose seq is ahead of
 * its signal is signalled now.  Inside a call sys_exit does it: a signal
 * pending there could cut a later sleep of the same call short
 * (epoll_wait() woken for nothing, preempted, asleep again: EINTR).
 */
static int load_sched_switch(int tgid, int tids, int slots, int ring, int sig)
{
	enum {
		B = PROLOGUE_LEN,
		POST = B + 14,
		OWED = POST + 14,
		OUT_AT = OWED + 5 + 4,
	};
	const struct bpf_insn p[] = {
		PROLOGUE(tgid, tids, slots, OUT_AT),
		LDX_DW(1, 6, 0),				/* B+0: preempt */
		JNE_IMM(1, 0, OWED - (B + 1) - 1),
		LDX_DW(1, 6, 24),				/* prev_state */
		JEQ_IMM(1, 0, OWED - (B + 3) - 1),
		LDX_W(1, 8, S_IGNORE),
		JNE_IMM(1, 0, OUT_AT - (B + 5) - 1),
		LDX_W(9, 8, S_SEQ),				/* B+6 */
		ADD32_IMM(9, 1),
		LDX_W(1, 8, S_IN_SYSCALL),
		JNE_IMM(1, 0, POST - (B + 9) - 1),
		MOV64_IMM(1, sig),				/* B+10 */
		CALL(BPF_FUNC_send_signal_thread),
		JNE_IMM(0, 0, OUT_AT - (B + 12) - 1),		/* not held: no report */
		STX_W(8, 9, S_SIGNALED),
		STX_W(10, 7, -32),				/* POST: event.tid */
		STX_W(10, 9, -28),				/* event.seq */
		LDX_W(1, 10, -8),
		STX_W(10, 1, -24),				/* event.slot */
		ST_W(10, -20, 0),
		LD_MAP(1, ring),				/* POST+5 */
		MOV64_REG(2, 10),				/* POST+7 */
		ADD64_IMM(2, -32),
		MOV64_IMM(3, sizeof(struct bpf_event)),
		MOV64_IMM(4, BPF_RB_FORCE_WAKEUP),
		CALL(BPF_FUNC_ringbuf_output),
		JNE_IMM(0, 0, OUT_AT - (POST + 12) - 1),	/* POST+12 */
		STX_W(8, 9, S_SEQ),				/* POST+13 */
		LDX_W(1, 8, S_IN_SYSCALL),			/* OWED */
		JNE_IMM(1, 0, OUT_AT - (OWED + 1) - 1),
		LDX_W(9, 8, S_SEQ),
		LDX_W(1, 8, S_SIGNALED),
		JEQ_REG(9, 1, OUT_AT - (OWED + 4) - 1),
		SIGNAL_SEQ_IN_R9(sig),
		OUT(),
	};
	_Static_assert(sizeof(p) / sizeof(p[0]) == OUT_AT + 2, "jump targets");

	return load_prog(p, sizeof(p) / sizeof(p[0]));
}

/* ---- State -------------------------------------------------------------- */

static pthread_mutex_t bpf_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct umcg_bpf_client *client;
static int bpf_error;			/* -errno of the failed start, or 0 */
static _Atomic int bpf_ready;		/* programs attached, detector runs */
static _Atomic int bpf_wanted;		/* new workers get a slot */
static int tids_fd, ring_fd;
static struct umcg_bpf_slot *slots;
static uint32_t slot_free[BPF_SLOTS];	/* stack of free slot indexes */
static uint32_t slot_nfree;
static _Atomic uint64_t *ring_consumer;
static const _Atomic uint64_t *ring_producer;
static const uint8_t *ring_data;

/* ---- The detector thread ------------------------------------------------ */

static void handle_event(const struct bpf_event *ev)
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
		    (len & ~BPF_RINGBUF_DISCARD_BIT) >= sizeof(struct bpf_event)) {
			struct bpf_event ev;

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

static int start(void)
{
	int slots_fd, sig = client->preempt_signal(), r;
	int tgid = getpid();
	int progs[3] = { -1, -1, -1 };
	static const char *const tp[3] = { "sys_enter", "sys_exit",
					   "sched_switch" };
	pthread_attr_t attr;
	pthread_t th;
	sigset_t all, old;
	void *m;

	if (sig <= 0)
		return -EINVAL;
	tids_fd = create_map(BPF_MAP_TYPE_HASH, 4, 4, BPF_SLOTS, 0);
	if (tids_fd < 0)
		return tids_fd;
	slots_fd = create_map(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct umcg_bpf_slot),
			      BPF_SLOTS, BPF_F_MMAPABLE);
	if (slots_fd < 0)
		return slots_fd;
	ring_fd = create_map(BPF_MAP_TYPE_RINGBUF, 0, 0, RING_BYTES, 0);
	if (ring_fd < 0)
		return ring_fd;
	m = mmap(NULL, BPF_SLOTS * sizeof(struct umcg_bpf_slot),
		 PROT_READ | PROT_WRITE, MAP_SHARED, slots_fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	slots = m;
	if ((r = map_ring()) < 0)
		return r;
	progs[0] = load_sys_enter(tgid, tids_fd, slots_fd);
	progs[1] = load_sys_exit(tgid, tids_fd, slots_fd, sig);
	progs[2] = load_sched_switch(tgid, tids_fd, slots_fd, ring_fd, sig);
	for (int i = 0; i < 3; i++)
		if (progs[i] < 0)
			return progs[i];
	for (uint32_t i = 0; i < BPF_SLOTS; i++)
		slot_free[i] = BPF_SLOTS - 1 - i;
	slot_nfree = BPF_SLOTS;

	/* The detector takes no signals: the preemption signal is for workers. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	r = -pthread_create(&th, &attr, detector, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return r;
	/* Attach last: from here on events flow and someone reads them. */
	for (int i = 0; i < 3; i++)
		if ((r = attach(progs[i], tp[i])) < 0)
			return r;
	return 0;
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

static void put_slot(uint32_t idx)
{
	pthread_mutex_lock(&bpf_lock);
	slot_free[slot_nfree++] = idx;
	pthread_mutex_unlock(&bpf_lock);
}

void umcg_bpf_attach(struct umcg_bpf_watch *w, pid_t tid)
{
	union bpf_attr a;
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
	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)tids_fd;
	a.key = (uintptr_t)&key;
	a.value = (uintptr_t)&idx;
	a.flags = BPF_ANY;
	if (bpf_sys(BPF_MAP_UPDATE_ELEM, &a) < 0) {
		w->slot = NULL;
		put_slot(idx);
	}
}

/* At unregistration or exit, after the worker's last settle. */
void umcg_bpf_detach(struct umcg_bpf_watch *w, pid_t tid)
{
	union bpf_attr a;
	uint32_t key = (uint32_t)tid;

	if (!w->slot)
		return;
	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)tids_fd;
	a.key = (uintptr_t)&key;
	bpf_sys(BPF_MAP_DELETE_ELEM, &a);
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
