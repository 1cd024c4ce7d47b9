// SPDX-License-Identifier: MIT
/*
 * tid -> registered task, for the emul backend.
 *
 * A fixed table of buckets, each a short chain under its own spinlock.
 * Lookups sit on the switch path (every next_tid, every server wake-up), so
 * they must be a hash and an uncontended lock, not a global mutex.  A
 * spinlock is fine because every locked section is a handful of
 * instructions.
 *
 * The lock is glibc's pthread_spinlock_t: an atomic word, no syscalls, so
 * usable on the preemption handler's path, and a lock ThreadSanitizer
 * knows.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "registry.h"

#define REGISTRY_BUCKETS 256

struct bucket {
	pthread_spinlock_t lock;
#ifdef UMCG_DEBUG_LOCKS
	_Atomic pid_t owner;
#endif
	struct umcg_thread *head;
} __attribute__((aligned(64)));

static struct bucket table[REGISTRY_BUCKETS];

/* glibc's unlocked spinlock is not all-zero bits on every architecture. */
static void init_locks(void)
{
	for (int i = 0; i < REGISTRY_BUCKETS; i++)
		pthread_spin_init(&table[i].lock, PTHREAD_PROCESS_PRIVATE);
}

static pthread_once_t locks_once = PTHREAD_ONCE_INIT;

static struct bucket *bucket_of(pid_t tid)
{
	pthread_once(&locks_once, init_locks);
	return &table[(uint32_t)tid % REGISTRY_BUCKETS];
}

/*
 * UMCG_DEBUG_LOCKS (set in the sanitizer builds) checks mutual exclusion
 * itself, independently of the sanitizers' model of the lock: an overlap
 * of two sections aborts at once, naming both owners.
 */
#ifdef UMCG_DEBUG_LOCKS
static void owner_swap(struct bucket *b, pid_t from, pid_t to)
{
	pid_t expected = from;

	if (!atomic_compare_exchange_strong(&b->owner, &expected, to)) {
		static const char msg[] = "libumcg: registry lock broken\n";

		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		abort();
	}
}
#define OWNER_LOCKED(b)		owner_swap(b, 0, umcg_gettid())
#define OWNER_UNLOCKED(b)	owner_swap(b, umcg_gettid(), 0)
#else
#define OWNER_LOCKED(b)		((void)(b))
#define OWNER_UNLOCKED(b)	((void)(b))
#endif

/* The holder may be off its CPU: see umcg_lock_backoff(). */
static void bucket_lock(struct bucket *b)
{
	unsigned int tries = 0;

	while (pthread_spin_trylock(&b->lock))
		umcg_lock_backoff(&tries);
	OWNER_LOCKED(b);
}

static void bucket_unlock(struct bucket *b)
{
	OWNER_UNLOCKED(b);
	pthread_spin_unlock(&b->lock);
}

void registry_insert(struct umcg_thread *t)
{
	struct bucket *b = bucket_of(t->tid);

	bucket_lock(b);
	t->hash_next = b->head;
	b->head = t;
	bucket_unlock(b);
}

/* @t's bucket must be locked (registry_lock_tid(t->tid) returned @t). */
void registry_unlink_locked(struct umcg_thread *t)
{
	struct bucket *b = bucket_of(t->tid);

	for (struct umcg_thread **p = &b->head; *p; p = &(*p)->hash_next) {
		if (*p == t) {
			*p = t->hash_next;
			break;
		}
	}
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
	}
	init_locks();
}
