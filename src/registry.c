// SPDX-License-Identifier: MIT
/*
 * tid -> registered task, for the emul backend.
 *
 * A fixed table of buckets, each a short chain under its own spinlock.
 * Lookups sit on the switch path (every next_tid, every server wake-up), so
 * they must be a hash and an uncontended lock, not a global mutex.  A
 * spinlock is fine because every locked section is a handful of
 * instructions; a holder that gets preempted is waited out with
 * sched_yield() after a bounded spin.
 */
#include <sched.h>
#include <stdlib.h>
#include "registry.h"

#define REGISTRY_BUCKETS 256
#define SPIN_BEFORE_YIELD 64

struct bucket {
	atomic_int lock;
	struct umcg_thread *head;
} __attribute__((aligned(64)));

static struct bucket table[REGISTRY_BUCKETS];

static struct bucket *bucket_of(pid_t tid)
{
	return &table[(uint32_t)tid % REGISTRY_BUCKETS];
}

static void bucket_lock(struct bucket *b)
{
	for (int spins = 0;; spins++) {
		int unlocked = 0;

		/* acquire: pairs with the release in bucket_unlock() */
		if (atomic_compare_exchange_weak_explicit(&b->lock, &unlocked, 1,
				memory_order_acquire, memory_order_relaxed))
			return;
		if (spins >= SPIN_BEFORE_YIELD)
			sched_yield();
		else
			__builtin_ia32_pause();
	}
}

static void bucket_unlock(struct bucket *b)
{
	atomic_store_explicit(&b->lock, 0, memory_order_release);
}

void registry_insert(struct umcg_thread *t)
{
	struct bucket *b = bucket_of(t->tid);

	bucket_lock(b);
	t->hash_next = b->head;
	b->head = t;
	bucket_unlock(b);
}

void registry_remove(struct umcg_thread *t)
{
	struct bucket *b = bucket_of(t->tid);

	bucket_lock(b);
	for (struct umcg_thread **p = &b->head; *p; p = &(*p)->hash_next) {
		if (*p == t) {
			*p = t->hash_next;
			break;
		}
	}
	bucket_unlock(b);
}

/* Returns the record of @tid with its bucket locked, or NULL unlocked. */
struct umcg_thread *registry_lock_tid(pid_t tid)
{
	struct bucket *b = bucket_of(tid);

	bucket_lock(b);
	for (struct umcg_thread *t = b->head; t; t = t->hash_next)
		if (t->tid == tid)
			return t;
	bucket_unlock(b);
	return NULL;
}

void registry_unlock(pid_t tid)
{
	bucket_unlock(bucket_of(tid));
}

/*
 * In the child of fork() only the forking thread exists, and none of the
 * parent's registrations carry over; a lock may have been held by a thread
 * that is gone.  The records are the child's copies of the parent's heap,
 * so the child frees them.
 */
void registry_forget_all(void)
{
	for (int i = 0; i < REGISTRY_BUCKETS; i++) {
		struct umcg_thread *t = table[i].head;

		while (t) {
			struct umcg_thread *next = t->hash_next;

			free(t);
			t = next;
		}
		table[i].head = NULL;
		atomic_store(&table[i].lock, 0);
	}
}
