/* SPDX-License-Identifier: MIT */
/*
 * Shared machinery of the libc interposition (the files of src/hooks/).
 *
 * Each hook file defines the libc names it replaces (read, poll, ...).
 * libumcg.so exports them unversioned (see src/umcg.map: a versioned
 * read@UMCG_1.0 would not interpose read@GLIBC_2.2.5), so they take the
 * place of libc's both in programs linked against libumcg (it comes before
 * libc in the search order) and in unmodified programs run with
 * LD_PRELOAD.  A hook
 * reaches the function it replaced through a struct umcg_real: the next
 * definition after libumcg (dlsym(RTLD_NEXT)) or, in a fully static
 * program, libumcg's own way to libc's code (src/hooks/libc_static.c),
 * found at load time and kept in an atomic pointer.
 *
 * Every hook has the same shape:
 *
 *	if (!umcg_hook_active())	one TLS load and a branch
 *		return REAL(f)(args);	not a worker: the real call
 *	try f without blocking		RWF_NOWAIT, MSG_DONTWAIT, trylock,
 *					WNOHANG, a zero timeout
 *	if it would have blocked:
 *		umcg_sys_enter(); REAL(f)(args); umcg_sys_exit();
 *
 * so a call that does not block never costs a futex round trip; see
 * docs/hooks.md for the per-call decisions and the measurements.
 *
 * Limits: a worker cancelled (pthread_cancel) inside a declared call leaves
 * without umcg_sys_exit(); its exit path makes it NONE and wakes its server.
 * Calls libc makes internally (printf's write, fopen's open, ...) bind to
 * libc's own internal names and are not seen.
 */
#ifndef UMCG_HOOK_H
#define UMCG_HOOK_H

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "emul/emul.h"

/* glibc's _FORTIFY_SOURCE entry points (src/hooks/fortify.c). */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *alen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		const sigset_t *mask, size_t fdslen);

/*
 * The real definition of one hooked name.
 * @version: for dlvsym(), when libc has several versions of the name and
 * an unversioned dlsym() could return the wrong one (pthread_cond_*).
 * @fallback: what to call if the lookup re-enters this same hook on this
 * thread (dlsym() may take a lock: the mutex hooks need it), else NULL.
 * @static_fn: libc's function in a fully static program, where there is no
 * dynamic linker to ask: umcg_static_<name>, src/hooks/libc_static.c.
 */
struct umcg_real {
	void *_Atomic fn;
	const char *name;
	const char *version;
	void *fallback;
	void *static_fn;
};

/*
 * The slots live in their own section so that a constructor can resolve
 * them all before the program starts threads (src/hooks/resolve.c).
 */
#define UMCG_REAL_VER(sym, ver, fb)					\
	extern __typeof__(sym) umcg_static_##sym UMCG_HIDDEN;		\
	static struct umcg_real real_##sym				\
	__attribute__((section("umcg_real"), used, aligned(8))) =	\
		{ NULL, #sym, ver, fb, (void *)umcg_static_##sym }
#define UMCG_REAL(sym)	UMCG_REAL_VER(sym, NULL, NULL)

void *umcg_real_resolve(struct umcg_real *r) UMCG_HIDDEN;

static inline void *umcg_real_get(struct umcg_real *r)
{
	/* Relaxed: the pointer names code that was mapped before any lookup. */
	void *fn = atomic_load_explicit(&r->fn, memory_order_relaxed);

	if (__builtin_expect(fn != NULL, 1))
		return fn;
	return umcg_real_resolve(r);
}

/* The real function behind hook @sym, with @sym's own type. */
#define REAL(sym)	((__typeof__(&sym))umcg_real_get(&real_##sym))

/* Run @call as a declared block: the server may run another worker. */
#define UMCG_BLOCKING(call) __extension__ ({				\
	umcg_sys_enter();						\
	__typeof__(call) umcg_r_ = (call);				\
	umcg_sys_exit();						\
	umcg_r_;							\
})

/* toolkit/pi.c: the calling toolkit worker waits for @m (priority
 * inheritance); tk_self: the calling thread's toolkit worker, or NULL. */
struct umcg_worker;
extern __thread struct umcg_worker *tk_self UMCG_HIDDEN;
void tk_pi_pthread_wait_begin(pthread_mutex_t *m) UMCG_HIDDEN;
void tk_pi_pthread_wait_end(pthread_mutex_t *m) UMCG_HIDDEN;
extern int _Atomic tk_pi_scheds UMCG_HIDDEN;

/* src/hooks/rw.c: read/write families, the RWF_NOWAIT protocol. */
enum umcg_rw_dir { UMCG_RW_READ, UMCG_RW_WRITE };
ssize_t umcg_hook_rw(int fd, const struct iovec *iov, int cnt, off_t off,
		     enum umcg_rw_dir dir) UMCG_HIDDEN;

/*
 * src/hooks/rw.c: would a blocking call on @fd have given EAGAIN too?  True
 * for an O_NONBLOCK fd; @stream_only: only if @fd is not a regular file or
 * block device (those ignore O_NONBLOCK).  Costs one or two syscalls: only
 * on paths that were about to block anyway.
 */
bool umcg_hook_fd_nonblocking(int fd, bool stream_only) UMCG_HIDDEN;

/*
 * Pass the result @r of a declared call on @fd through; an EAGAIN (or
 * EINPROGRESS) there means the fd is non-blocking after all, which
 * umcg_hook_fd_nonblocking() must not keep believing otherwise.
 */
ssize_t umcg_hook_fd_declared(int fd, ssize_t r) UMCG_HIDDEN;

/* @fd is being closed: its number may next name anything. */
void umcg_hook_fd_forget(int fd) UMCG_HIDDEN;

#endif /* UMCG_HOOK_H */
