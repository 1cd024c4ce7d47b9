// SPDX-License-Identifier: MIT
/*
 * The BPF half of the emul backend's block detection: three programs on
 * the sys_enter, sys_exit and sched_switch tracepoints, for the threads of
 * one process.  The user half, the path of one block and why each rule is
 * there: bpf.c and docs/bpf.md.
 *
 * Built with clang -target bpf against the running kernel's BTF
 * (vmlinux.h, generated at build time), embedded in libumcg through a
 * bpftool skeleton, loaded with libbpf.  Every program first checks that
 * current belongs to our process (tgid, a constant at load time: other
 * processes pay one helper call) and has a slot.
 *
 * Raw tracepoints (raw_tp/), not BTF-typed ones (tp_btf/): the programs
 * read only the tracepoints' arguments and helpers' results, which need no
 * kernel BTF at load time, and tp_btf/ makes libbpf parse the kernel's
 * whole BTF at every start (~100 ms here against ~10 ms).  The kernel
 * still checks the argument count: a sched_switch without prev_state
 * (before 5.18) refuses to attach.  A program that reads a kernel
 * structure would use BPF_CORE_READ() and then pay for that parse.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpf_shared.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by the loader before the programs are verified. */
const volatile __u32 tgid;
const volatile __u32 preempt_signal;

/* The slots; the detector maps this section and writes done/marked/ignore. */
struct umcg_bpf_slot slots[UMCG_BPF_SLOTS];

/* tid -> slot index, for the watched workers. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UMCG_BPF_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} tids SEC(".maps");

/* Reported sleeps, read by the detector thread. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, UMCG_BPF_RING_BYTES);
} ring SEC(".maps");

/*
 * The detector and the worker's own user code write slot words the
 * programs read: every access is one plain load or store, never cached.
 */
#define LOAD(x)		(*(volatile __u32 *)&(x))
#define STORE(x, v)	(*(volatile __u32 *)&(x) = (v))

/* current's slot if it is a watched thread of ours, else NULL. */
static __always_inline struct umcg_bpf_slot *current_slot(__u32 *tid,
							  __u32 *idx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 *found;

	if ((__u32)(id >> 32) != tgid)
		return NULL;
	*tid = (__u32)id;
	found = bpf_map_lookup_elem(&tids, tid);
	if (!found)
		return NULL;
	*idx = *found;
	if (*idx >= UMCG_BPF_SLOTS)
		return NULL;
	return &slots[*idx];
}

/*
 * Signal the worker for @seq; record it only if the helper took it (from
 * the scheduler it may say EBUSY: the next switch outside a system call
 * tries again).
 */
static __always_inline void signal_seq(struct umcg_bpf_slot *s, __u32 seq)
{
	if (bpf_send_signal_thread(preempt_signal) == 0)
		STORE(s->signaled, seq);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(umcg_sys_enter)
{
	struct umcg_bpf_slot *s;
	__u32 tid, idx;

	s = current_slot(&tid, &idx);
	if (s)
		STORE(s->in_syscall, 1);
	return 0;
}

/* A call in which the worker slept returns: signal it now. */
SEC("raw_tp/sys_exit")
int BPF_PROG(umcg_sys_exit)
{
	struct umcg_bpf_slot *s;
	__u32 tid, idx, seq;

	s = current_slot(&tid, &idx);
	if (!s)
		return 0;
	STORE(s->in_syscall, 0);
	seq = LOAD(s->seq);
	if (seq != LOAD(s->signaled))
		signal_seq(s, seq);
	return 0;
}

/*
 * Post the sleep of a worker.  It is reported only if the worker will
 * settle before it runs user code again: inside a system call sys_exit
 * signals it (from there the helper sends at once); outside one (a page
 * fault) the signal must be queued here first, and if the helper says
 * EBUSY (its per-CPU irq_work is taken, by any BPF program on this CPU)
 * the sleep is not reported at all.  Reported anyway, the detector would
 * mark BLOCKED a worker that wakes and goes on running user code
 * unsignalled, and its server would run a second worker beside it.
 * seq counts only the sleeps posted, so nobody waits for one the full ring
 * dropped.  Returns false if nothing more is to be done for this switch.
 */
static __always_inline bool report_sleep(struct umcg_bpf_slot *s, __u32 tid,
					 __u32 idx)
{
	struct umcg_bpf_event ev;
	__u32 seq;

	if (LOAD(s->ignore))
		return false;
	seq = LOAD(s->seq) + 1;
	if (!LOAD(s->in_syscall)) {
		if (bpf_send_signal_thread(preempt_signal))
			return false;	/* not held: no report */
		STORE(s->signaled, seq);
	}
	ev.tid = tid;
	ev.seq = seq;
	ev.slot = idx;
	ev.pad = 0;
	if (bpf_ringbuf_output(&ring, &ev, sizeof(ev), BPF_RB_FORCE_WAKEUP))
		return false;
	STORE(s->seq, seq);
	return true;
}

/*
 * current is prev.  A sleep (not a preemption, prev_state not RUNNING) is
 * reported; then, for any switch outside a system call, a worker whose seq
 * is ahead of its signal (the ring dropped an event after the signal was
 * queued) is signalled now.  Inside a call sys_exit does it: a signal
 * pending there could cut a later sleep of the same call short
 * (epoll_wait() woken for nothing, preempted, asleep again: EINTR).
 */
SEC("raw_tp/sched_switch")
int BPF_PROG(umcg_sched_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	struct umcg_bpf_slot *s;
	__u32 tid, idx, seq;

	s = current_slot(&tid, &idx);
	if (!s)
		return 0;
	if (!preempt && prev_state != 0 && !report_sleep(s, tid, idx))
		return 0;
	if (LOAD(s->in_syscall))
		return 0;
	seq = LOAD(s->seq);
	if (seq != LOAD(s->signaled))
		signal_seq(s, seq);
	return 0;
}
