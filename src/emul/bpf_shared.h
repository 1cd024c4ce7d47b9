/* SPDX-License-Identifier: MIT */
/*
 * What the BPF programs (bpf_detect.bpf.c) and the detector (bpf.c) share:
 * a worker's slot, the event the programs post, the sizes.  Included by
 * both sides, so a field is named in one place; the kernel side gets
 * __u32 from vmlinux.h, user space from <linux/types.h>.
 */
#ifndef UMCG_EMUL_BPF_SHARED_H
#define UMCG_EMUL_BPF_SHARED_H

#define UMCG_BPF_SLOTS		4096		/* workers watched at once */
#define UMCG_BPF_RING_BYTES	(256 * 1024)	/* ~16k pending events */

/*
 * A worker's slot in the programs' global array (mapped by the detector):
 * who writes each word is in its comment.
 */
struct umcg_bpf_slot {
	__u32 ignore;		/* user: inside libumcg or a hook bracket */
	__u32 seq;		/* BPF: sleeps reported */
	__u32 signaled;		/* BPF: seq the last signal was sent for */
	__u32 in_syscall;	/* BPF: between sys_enter and sys_exit */
	__u32 done;		/* detector: seq handled up to */
	__u32 marked;		/* detector: seq at which it marked BLOCKED */
	__u32 pad[2];
};

/* One reported sleep, on the ring buffer. */
struct umcg_bpf_event {
	__u32 tid, seq, slot, pad;
};

#endif /* UMCG_EMUL_BPF_SHARED_H */
