/* SPDX-License-Identifier: MIT */
/*
 * What the two backends offer the dispatch layer (src/api.c), and nothing
 * more: the three calls of the ABI, and the emul backend's process-wide
 * settings.  The layers, from the bottom:
 *
 *	src/sys.h, src/helpers.c	raw system calls, cached tid
 *	src/emul/, src/kernel_backend.c	the two backends
 *	src/hooks/			libc interposition (emul's brackets)
 *	src/api.c			the public calls: pick a backend, forward
 *
 * A layer includes and calls only the ones below it.  Nothing here is
 * exported from libumcg.so.
 */
#ifndef UMCG_BACKEND_H
#define UMCG_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>
#include <umcg.h>

#define UMCG_HIDDEN __attribute__((visibility("hidden")))

/* The operations one backend provides; each returns 0 or -errno. */
struct umcg_backend_ops {
	const char *name;
	int (*ctl)(uint32_t flags, struct umcg_task *self, clockid_t clock);
	int (*wait)(uint32_t flags, uint64_t abs_timeout);
	int (*kick)(uint32_t flags, pid_t tid);
};

extern const struct umcg_backend_ops umcg_emul_ops UMCG_HIDDEN;
extern const struct umcg_backend_ops umcg_kernel_ops UMCG_HIDDEN;

/* src/kernel_backend.c: true when the running kernel announces our ABI. */
bool umcg_kernel_available(void) UMCG_HIDDEN;

/*
 * The emul backend's settings (src/emul/); the public calls of the same
 * names without "emul_" document them.  Each returns 0 or -errno.
 */
int emul_preempt_signal(void) UMCG_HIDDEN;
int emul_set_preempt_signal(int sig) UMCG_HIDDEN;
int emul_block_priority(void) UMCG_HIDDEN;
int emul_set_block_priority(int prio) UMCG_HIDDEN;
int emul_detection(void) UMCG_HIDDEN;
int emul_set_detection(int mode) UMCG_HIDDEN;

#endif /* UMCG_BACKEND_H */
