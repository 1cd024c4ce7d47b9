/* SPDX-License-Identifier: MIT */
/*
 * BPF block detection (bpf.c), as the rest of the emul backend sees it.
 *
 * The detector knows workers only by tid and by their slot; what a block
 * means for the state machine it leaves to its client, the emul backend,
 * which hands it two callbacks at umcg_bpf_enable().  So bpf.c includes
 * nothing of the emul backend but this header.
 */
#ifndef UMCG_EMUL_BPF_H
#define UMCG_EMUL_BPF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include <sys/types.h>
#include "backend.h"
#include "bpf_shared.h"	/* struct umcg_bpf_slot: the programs' layout */

/* One watched worker: its slot (NULL: not watched) and what it handled. */
struct umcg_bpf_watch {
	struct umcg_bpf_slot *slot;
	uint32_t settled;	/* slot seq handled by this worker */
};

/* What the detector asks of the emul backend. */
struct umcg_bpf_client {
	/* Fix the preemption signal and return it (or -errno): the programs
	 * carry its number. */
	int (*preempt_signal)(void);
	/*
	 * The worker @tid, watched through @slot, went to sleep: move it
	 * RUNNING -> BLOCKED and wake its server.  True if it did; the
	 * worker's task memory stays valid until the detector publishes
	 * "done" for this sleep.
	 */
	bool (*block_seen)(pid_t tid, const struct umcg_bpf_slot *slot);
};

/*
 * The worker's slot says whether a sleep of its thread is a block to
 * report: not inside libumcg (its own waits) nor inside a hook bracket
 * (already declared).  The programs run on this thread's own context
 * (sched_switch of current), so ordering against them is a compiler
 * barrier.
 */
static inline void umcg_bpf_ignore(struct umcg_bpf_watch *w, int ignore)
{
	if (w->slot) {
		atomic_signal_fence(memory_order_seq_cst);
		atomic_store_explicit((_Atomic uint32_t *)&w->slot->ignore,
				      (uint32_t)ignore, memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst);
	}
}

int umcg_bpf_enable(const struct umcg_bpf_client *client) UMCG_HIDDEN;
void umcg_bpf_disable(void) UMCG_HIDDEN;
bool umcg_bpf_active(void) UMCG_HIDDEN;
void umcg_bpf_forget(void) UMCG_HIDDEN;
void umcg_bpf_attach(struct umcg_bpf_watch *w, pid_t tid) UMCG_HIDDEN;
void umcg_bpf_detach(struct umcg_bpf_watch *w, pid_t tid) UMCG_HIDDEN;
bool umcg_bpf_settle_wait(struct umcg_bpf_watch *w) UMCG_HIDDEN;

#endif /* UMCG_EMUL_BPF_H */
