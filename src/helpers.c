// SPDX-License-Identifier: MIT
/*
 * The public helpers of include/umcg.h that the layers below the dispatch
 * (src/api.c) use too: the caller's tid, cached, and a clock in ns.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/auxv.h>
#include <time.h>
#include <umcg.h>
#include "sys.h"

static __thread pid_t cached_tid;

static void forget_tid(void)
{
	cached_tid = 0;
}

static void register_forget_tid(void)
{
	pthread_atfork(NULL, NULL, forget_tid);
}

/* Cached per thread; the child of fork() is a new thread with a new tid. */
pid_t umcg_gettid(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (__builtin_expect(cached_tid == 0, 0)) {
		pthread_once(&once, register_forget_tid);
		cached_tid = umcg_sys_gettid();
	}
	return cached_tid;
}

uint64_t umcg_clock_ns(clockid_t clock)
{
	struct timespec ts;
	int saved = errno;

	if (clock_gettime(clock, &ts)) {
		errno = saved;
		return 0;
	}
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Was the program started by a dynamic linker (a PT_INTERP header)?  A
 * fully static one has no dlsym() (a weak reference here) to find libc's
 * next definition of a hooked name, and cannot host libbpf.so.1.
 */
#pragma weak dlsym
bool umcg_program_is_dynamic(void)
{
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	unsigned long n = getauxval(AT_PHNUM);

	if (!dlsym || !ph)
		return false;
	for (unsigned long i = 0; i < n; i++)
		if (ph[i].p_type == PT_INTERP)
			return true;
	return false;
}
