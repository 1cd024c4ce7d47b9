/* SPDX-License-Identifier: MIT */
/*
 * The read/write protocol shared by read, pread, readv, write, pwrite and
 * writev in a worker: try without blocking, declare the block only when
 * the call would wait.
 *
 * 1. preadv2()/pwritev2() with RWF_NOWAIT (offset -1 = the file position,
 *    as read()/write() use), as a raw syscall: it never sleeps, so libc's
 *    cancellation wrapper is replaced by one pthread_testcancel().  Pipes,
 *    sockets and page-cached file data answer at once: that result is
 *    returned, and no futex is touched.
 * 2. A full transfer, EOF, or a real error: done.
 * 3. A short transfer:
 *    - read: from a pipe, socket, terminal or event fd that is what a
 *      blocking read returns too (the data there now).  A regular file or
 *      block device met EOF or a page that is not cached, and a blocking
 *      read would have gone on; so do we: without blocking while we can,
 *      then as a declared block.  Telling the two apart costs an fstat(),
 *      saved when the offset is known (pread) and the read did not stop at
 *      a page boundary (then it was EOF).
 *    - write: a blocking write moves everything, so the rest is written as
 *      a declared block -- unless the fd is O_NONBLOCK, where a short
 *      write is the answer.
 * 4. EAGAIN: on an O_NONBLOCK pipe/socket that is the answer (fcntl(), and
 *    fstat() since regular files ignore O_NONBLOCK); otherwise the call
 *    would wait: run it as a declared block.
 * 5. EOPNOTSUPP (the file does not do RWF_NOWAIT: tmpfs, buffered ext4
 *    writes, terminals, procfs) or ENOSYS (no preadv2): we cannot know, so
 *    the call is run as a declared block.
 *
 * Steps 3-5 cost extra syscalls, but only on paths that are short, would
 * block, or cannot be probed.  A declared transfer is libc's preadv2() /
 * pwritev2() with no flags: readv()/writev() at offset -1, else
 * preadv()/pwritev(), and a cancellation point like them.
 *
 * Limits: a short read of a pipe or socket through read()/readv() pays one
 * fstat() (recv() does not); a signal that cuts a declared write short
 * makes us go on writing the rest, which a blocking write may do as well.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "hook.h"
#include "sys.h"

/* Pages are 4096 bytes or a multiple: a page boundary is 4096-aligned. */
#define MIN_PAGE 4096

static ssize_t xfer(int fd, const struct iovec *iov, int cnt, off_t off,
		    enum umcg_rw_dir dir)
{
	if (dir == UMCG_RW_WRITE)
		return pwritev2(fd, iov, cnt, off, 0);
	return preadv2(fd, iov, cnt, off, 0);
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t n = 0;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

static bool is_file(int fd)
{
	struct stat st;
	int saved = errno;
	bool file = fstat(fd, &st) == 0 &&
		    (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));

	errno = saved;
	return file;
}

/*
 * The fds seen with O_NONBLOCK clear, so that a call that would block does
 * not pay an fcntl() each time (a third of a block notification's cost).
 * Only this direction may be cached.  A stale bit (the fd was made
 * non-blocking, or closed and its number reused where no hook saw it) makes
 * us declare a block around a call that then fails with EAGAIN at once:
 * still the right answer, one wasted round trip, and the bit is cleared.  A
 * cached "non-blocking" could instead answer EAGAIN for an fd that must
 * block.
 */
#define FD_CACHE_SIZE 65536
static _Atomic uint64_t known_blocking[FD_CACHE_SIZE / 64];

static bool fd_cached(int fd)
{
	if (fd < 0 || fd >= FD_CACHE_SIZE)
		return false;
	return atomic_load_explicit(&known_blocking[fd / 64],
				    memory_order_relaxed) >> (fd % 64) & 1;
}

static void fd_cache_set(int fd, bool blocking)
{
	uint64_t bit = 1ULL << (fd % 64);

	if (fd < 0 || fd >= FD_CACHE_SIZE || fd_cached(fd) == blocking)
		return;
	if (blocking)
		atomic_fetch_or_explicit(&known_blocking[fd / 64], bit,
					 memory_order_relaxed);
	else
		atomic_fetch_and_explicit(&known_blocking[fd / 64], ~bit,
					  memory_order_relaxed);
}

bool umcg_hook_fd_nonblocking(int fd, bool stream_only)
{
	int saved = errno;
	int fl;

	if (fd_cached(fd))
		return false;
	fl = fcntl(fd, F_GETFL);
	errno = saved;
	if (fl != -1 && !(fl & O_NONBLOCK))
		fd_cache_set(fd, true);
	if (fl == -1 || !(fl & O_NONBLOCK))
		return false;
	return !stream_only || !is_file(fd);
}

void umcg_hook_fd_forget(int fd)
{
	fd_cache_set(fd, false);
}

ssize_t umcg_hook_fd_declared(int fd, ssize_t r)
{
	if (r < 0 && (errno == EAGAIN || errno == EINPROGRESS))
		fd_cache_set(fd, false);
	return r;
}

/*
 * Move what is left after the first @done bytes (@off is where they ended,
 * or -1).  First without blocking
 * (a short read of a file may just have met EOF: no block to declare), then,
 * from the first EAGAIN/EOPNOTSUPP on, as a declared block.  Stops at EOF
 * or an error: the bytes moved so far are the result.
 */
static ssize_t finish(int fd, const struct iovec *iov, int cnt, off_t off,
		      enum umcg_rw_dir dir, size_t done)
{
	size_t total = done;
	bool declared = false;

	for (;;) {
		while (cnt > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt == 0)
			break;
		struct iovec head = { (char *)iov->iov_base + done,
				      iov->iov_len - done };
		const struct iovec *v = done ? &head : iov;
		int n = done ? 1 : cnt;
		ssize_t r = declared ? xfer(fd, v, n, off, dir)
			: umcg_sys_rw2(dir == UMCG_RW_WRITE, fd, v, n, off,
				       RWF_NOWAIT);
		if (!declared && (r == -EAGAIN || r == -EOPNOTSUPP)) {
			umcg_sys_enter();
			declared = true;
			continue;
		}
		if (r <= 0)
			break;
		total += (size_t)r;
		done += (size_t)r;
		if (off != -1)
			off += r;
	}
	if (declared)
		umcg_sys_exit();
	return (ssize_t)total;
}

/* A short transfer of @r bytes: is it the caller's answer? */
static bool short_is_final(int fd, off_t off, ssize_t r, enum umcg_rw_dir dir)
{
	if (dir == UMCG_RW_WRITE)
		return umcg_hook_fd_nonblocking(fd, false);
	if (off != -1 && (off + r) % MIN_PAGE != 0)
		return true;	/* not a page boundary: EOF, or not a file */
	return !is_file(fd);
}

ssize_t umcg_hook_rw(int fd, const struct iovec *iov, int cnt, off_t off,
		     enum umcg_rw_dir dir)
{
	ssize_t r;

	/* read() and write() are cancellation points; the raw call is not */
	pthread_testcancel();
	r = umcg_sys_rw2(dir == UMCG_RW_WRITE, fd, iov, cnt, off, RWF_NOWAIT);
	if (r > 0) {
		size_t want = cnt == 1 ? iov->iov_len : iov_total(iov, cnt);

		if ((size_t)r >= want || short_is_final(fd, off, r, dir))
			return r;
		return finish(fd, iov, cnt, off == -1 ? -1 : off + r, dir,
			      (size_t)r);
	}
	if (r == 0)
		return 0;
	if (r == -EAGAIN) {
		if (umcg_hook_fd_nonblocking(fd, true)) {
			errno = EAGAIN;
			return -1;
		}
	} else if (r != -EOPNOTSUPP && r != -ENOSYS) {
		errno = (int)-r;
		return -1;
	}
	return umcg_hook_fd_declared(fd, UMCG_BLOCKING(xfer(fd, iov, cnt, off,
							     dir)));
}
