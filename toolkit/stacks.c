// SPDX-License-Identifier: MIT
/*
 * Worker stacks, carved from a few large mappings.
 *
 * The thread library maps every thread stack on its own and protects a
 * guard page below it: two memory mappings per thread, so a process stops
 * at vm.max_map_count / 2 threads (32,765 with the default 65,530) however
 * high pid_max and threads-max are.  A scheduler instead maps its workers'
 * stacks in slabs of many slots (16 slots in the first slab, doubling up
 * to 1024: 30,000 workers of 64 KiB take 36 mappings) and hands them to
 * pthread_attr_setstack().
 *
 * Each slot starts with a guard page: a stack that overflows runs into it
 * and faults instead of writing over the next worker's stack.  It is
 * installed with madvise(MADV_GUARD_INSTALL) (Linux 6.13+), which marks the
 * page without splitting the mapping.  On older kernels the guard is
 * mprotect(PROT_NONE), which does split it, and once the mapping count is
 * used up (mprotect fails with ENOMEM) further slots go without a guard:
 * the library never stops at a limit of its own.  docs/toolkit.md,
 * "Limits", has the system limits.
 *
 * A slot is returned at umcg_worker_join() (the thread is gone) and
 * reused; the slabs are unmapped by umcg_sched_destroy().  Workers with a
 * stack size other than the scheduler's get a mapping of their own, laid
 * out the same way.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "tk.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define SLAB_FIRST	16
#define SLAB_MAX	1024

struct tk_slab {
	struct tk_slab *next;
	void *base;
	size_t len;
};

/* A free slot: its first bytes above the guard page. */
struct tk_free_slot {
	struct tk_free_slot *next;
};

static size_t page_size(void)
{
	static size_t ps;

	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

static size_t round_page(size_t n)
{
	size_t ps = page_size();

	return (n + ps - 1) / ps * ps;
}

/* 1 MADV_GUARD_INSTALL works, 0 it does not, -1 not tried yet. */
static _Atomic int guard_madvise = -1;

/* Guard the page at @p: best effort (see the top of this file). */
static void install_guard(void *p)
{
	size_t ps = page_size();

	if (atomic_load(&guard_madvise) != 0) {
		if (madvise(p, ps, MADV_GUARD_INSTALL) == 0) {
			atomic_store(&guard_madvise, 1);
			return;
		}
		atomic_store(&guard_madvise, 0);
	}
	mprotect(p, ps, PROT_NONE);
}

static void *map_stacks(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void tk_stacks_init(struct tk_stacks *st, size_t stack_size)
{
	*st = (struct tk_stacks){ .slot = page_size() + round_page(stack_size) };
	pthread_mutex_init(&st->lock, NULL);
}

/* A new slab: one slot goes to the caller, the others to the free list. */
static void *grow(struct tk_stacks *st)
{
	size_t n = st->next_slab_slots ? st->next_slab_slots : SLAB_FIRST;
	struct tk_slab *slab = malloc(sizeof(*slab));
	char *base;

	if (!slab)
		return NULL;
	base = map_stacks(n * st->slot);
	if (!base) {
		free(slab);
		return NULL;
	}
	*slab = (struct tk_slab){ .next = st->slabs, .base = base,
				  .len = n * st->slot };
	st->slabs = slab;
	st->next_slab_slots = n < SLAB_MAX ? 2 * n : SLAB_MAX;
	for (size_t i = n - 1; i > 0; i--) {
		struct tk_free_slot *f = (void *)(base + i * st->slot + page_size());

		install_guard(base + i * st->slot);
		f->next = st->free;
		st->free = f;
	}
	install_guard(base);
	return base + page_size();
}

int tk_stack_get(struct tk_stacks *st, size_t size, void **stack, size_t *len)
{
	void *p;

	if (size == 0 || round_page(size) + page_size() == st->slot) {
		pthread_mutex_lock(&st->lock);
		p = st->free;
		if (p)
			st->free = st->free->next;
		else
			p = grow(st);
		pthread_mutex_unlock(&st->lock);
		if (!p)
			return -ENOMEM;
		*stack = p;
		*len = st->slot - page_size();
		return 0;
	}
	/* An odd size: a mapping of its own, guard page first. */
	size = round_page(size);
	p = map_stacks(size + page_size());
	if (!p)
		return -ENOMEM;
	install_guard(p);
	*stack = (char *)p + page_size();
	*len = size;
	return 0;
}

void tk_stack_put(struct tk_stacks *st, void *stack, size_t len)
{
	struct tk_free_slot *f = stack;

	if (len + page_size() != st->slot) {
		munmap((char *)stack - page_size(), len + page_size());
		return;
	}
	/* The thread is gone: its old frames need no memory meanwhile. */
	madvise(stack, len, MADV_DONTNEED);
	pthread_mutex_lock(&st->lock);
	f->next = st->free;
	st->free = f;
	pthread_mutex_unlock(&st->lock);
}

void tk_stacks_destroy(struct tk_stacks *st)
{
	struct tk_slab *slab, *next;

	for (slab = st->slabs; slab; slab = next) {
		next = slab->next;
		munmap(slab->base, slab->len);
		free(slab);
	}
	st->slabs = NULL;
	st->free = NULL;
	pthread_mutex_destroy(&st->lock);
}
