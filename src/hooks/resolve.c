/* SPDX-License-Identifier: MIT */
/*
 * Finding the functions the hooks replace.
 *
 * A hook calls the next definition of its own name after libumcg in the
 * symbol search order: libc's, or another interposer's (a sanitizer runtime
 * comes before us, so it calls us and we call libc).  The lookup is
 * dlsym(RTLD_NEXT) -- or dlvsym() where libc keeps several versions of a
 * name -- done once per name and kept in the slot's atomic pointer.
 *
 * Implements:
 *  - umcg_real_resolve(): the lazy, thread-safe lookup.  Two threads that
 *    race store the same pointer, so the race is harmless.
 *  - a constructor that resolves every slot (the "umcg_real" section) at
 *    load time, while the process is still single-threaded, so that a
 *    worker never pays for dlsym().
 *
 * Re-entry: dlsym() may take locks or allocate.  Should it call a hooked
 * function, and that function is the one being resolved on this thread
 * (pthread_mutex_lock with an older libc), the slot's fallback is used: a
 * direct, link-time reference to libc's alias (__pthread_mutex_lock), which
 * we never interpose.  A re-entry with no fallback aborts with a message
 * rather than recursing until the stack overflows.
 *
 * A fully static program has no dynamic linker to ask, and libc.a's
 * definitions of the hooked names are the weak aliases ours replaced.
 * There every slot takes its umcg_static_<name> (src/hooks/libc_static.c).
 * Such a program is one whose executable names no program interpreter
 * (no PT_INTERP): `gcc -static` and `-static-pie` ones.  dlsym() and
 * dlvsym() are weak references, so that a static link does not pull in
 * libc.a's static dlopen machinery for them.
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>

#include "hook.h"

extern struct umcg_real __start_umcg_real[] UMCG_HIDDEN;
extern struct umcg_real __stop_umcg_real[] UMCG_HIDDEN;

/* The slot this thread is looking up now, or NULL. */
static __thread struct umcg_real *resolving;

#pragma weak dlsym
#pragma weak dlvsym

/* 1 dynamic, -1 fully static, 0 not known yet; every thread finds the same */
static _Atomic int linkage;

static bool dynamic(void)
{
	int l = atomic_load_explicit(&linkage, memory_order_relaxed);

	if (!l) {
		l = umcg_program_is_dynamic() ? 1 : -1;
		atomic_store_explicit(&linkage, l, memory_order_relaxed);
	}
	return l > 0;
}

static void *lookup(struct umcg_real *r)
{
	void *fn = NULL;

	if (!dynamic())
		return r->static_fn;
	if (r->version)
		fn = dlvsym(RTLD_NEXT, r->name, r->version);
	if (!fn)
		fn = dlsym(RTLD_NEXT, r->name);
	return fn;
}

static void __attribute__((noreturn)) die(const char *name, const char *why)
{
	/* stdio writes through libc's internal write, never through a hook */
	fprintf(stderr, "libumcg: %s: %s\n", name, why);
	abort();
}

void *umcg_real_resolve(struct umcg_real *r)
{
	struct umcg_real *outer = resolving;
	void *fn;

	if (outer == r) {
		if (!r->fallback)
			die(r->name, "lookup re-entered itself");
		return r->fallback;
	}
	resolving = r;
	fn = lookup(r);
	resolving = outer;
	if (!fn)
		fn = r->fallback;
	if (!fn)
		die(r->name, dynamic() ? "no next definition (dlsym RTLD_NEXT)"
					 : "no static definition");
	/* Relaxed: every racing thread stores this same value. */
	atomic_store_explicit(&r->fn, fn, memory_order_relaxed);
	return fn;
}

__attribute__((constructor)) static void resolve_all(void)
{
	for (struct umcg_real *r = __start_umcg_real; r < __stop_umcg_real; r++)
		umcg_real_get(r);
}
