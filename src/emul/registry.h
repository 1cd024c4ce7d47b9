/* SPDX-License-Identifier: MIT */
/*
 * The emul backend's stand-in for the kernel's task lookup: tid -> the
 * registered struct umcg_thread.
 *
 * A record may be used by another thread only between registry_lock_tid()
 * and registry_unlock(): removal takes the same bucket lock, so while it is
 * held the record (and the umcg_task memory its owner registered) is live.
 * Keep the locked section to a few loads and one cmpxchg; never make a
 * system call or sleep in it.
 */
#ifndef UMCG_REGISTRY_H
#define UMCG_REGISTRY_H

#include "emul.h"

void registry_insert(struct umcg_thread *t) UMCG_HIDDEN;
void registry_unlink_locked(struct umcg_thread *t) UMCG_HIDDEN;
struct umcg_thread *registry_lock_tid(pid_t tid) UMCG_HIDDEN;
void registry_unlock(pid_t tid) UMCG_HIDDEN;
void registry_forget_all(void) UMCG_HIDDEN;

#endif /* UMCG_REGISTRY_H */
