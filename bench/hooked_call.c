// SPDX-License-Identifier: MIT
/*
 * hooked_call: a hooked libc call that does not block, in a worker.
 *
 * A RUNNING worker read()s 1 byte at a time from a regular file that sits
 * in the page cache: the libc wrapper of libumcg is active (the caller is
 * a registered worker), tries the call without blocking, succeeds, and
 * must not declare a block or touch a futex.  Baseline: the same read()
 * without the wrapper -- libc's own read(), looked up in libc itself -- in
 * the same worker, in the same run.  That is the call a program makes
 * without libumcg; it is a cancellation point, and in a multi-threaded
 * process glibc's read() costs ~20 ns more than syscall(SYS_read).
 *
 * More results from the same binary (all in the worker unless said):
 *  hooked_call_syscall  read() against a raw syscall(SYS_read)
 *  hooked_call_outside  read() against libc's read() in a thread that is
 *                       no worker (the server): the wrappers' cost for
 *                       everybody else, which should be nothing
 *  hooked_pipe_rw       write() 1 byte to a pipe and read() it back,
 *                       against libc's write() and read()
 *  hooked_pipe_short    the same, but read() asks for 64 bytes and gets
 *                       the 1 that is there: a short read, the usual case
 *                       for a pipe or socket read into a buffer
 *
 * Median of per-batch means; all kinds of batch are interleaved.  The
 * server's umcg_wait() calls are counted: a wrapper that declared blocks
 * on these paths would show up there.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "bench.h"

#define OPS		256	/* calls per batch; the file holds FILE_SIZE bytes */
#define FILE_SIZE	4096
#define ROUNDS		200
#define PER_ROUND	2

enum kind {
	W_HOOKED, W_LIBC, W_SYS, M_HOOKED, M_LIBC, W_PIPE_HOOKED,
	W_PIPE_LIBC, W_SHORT_HOOKED, W_SHORT_LIBC, NKINDS
};

static struct bench_sched server;
static struct bench_worker worker;
static int file_fd, pipe_fd[2];

/* The job the worker runs next time it is dispatched. */
static void (*job)(struct bench_series *out);
static struct bench_series *job_out;

static void add_batch(struct bench_series *out, uint64_t t0)
{
	uint64_t t1 = bench_now();

	if (out)
		bench_series_add(out, (double)(t1 - t0) / OPS);
}

static void check(long r, const char *what)
{
	if (r != 1)
		bench_die(what);
}

static ssize_t (*libc_read)(int fd, void *buf, size_t n);
static ssize_t (*libc_write)(int fd, const void *buf, size_t n);

static void read_hooked(struct bench_series *out)
{
	char c;
	uint64_t t0;

	lseek(file_fd, 0, SEEK_SET);
	t0 = bench_now();
	for (int i = 0; i < OPS; i++)
		check(read(file_fd, &c, 1), "read");
	add_batch(out, t0);
}

static void read_libc(struct bench_series *out)
{
	char c;
	uint64_t t0;

	lseek(file_fd, 0, SEEK_SET);
	t0 = bench_now();
	for (int i = 0; i < OPS; i++)
		check(libc_read(file_fd, &c, 1), "libc read");
	add_batch(out, t0);
}

static void read_sys(struct bench_series *out)
{
	char c;
	uint64_t t0;

	lseek(file_fd, 0, SEEK_SET);
	t0 = bench_now();
	for (int i = 0; i < OPS; i++)
		check(syscall(SYS_read, file_fd, &c, 1), "SYS_read");
	add_batch(out, t0);
}

static void pipe_hooked(struct bench_series *out)
{
	char c = 'x';
	uint64_t t0 = bench_now();

	for (int i = 0; i < OPS; i++) {
		check(write(pipe_fd[1], &c, 1), "write");
		check(read(pipe_fd[0], &c, 1), "read (pipe)");
	}
	add_batch(out, t0);
}

static void pipe_libc(struct bench_series *out)
{
	char c = 'x';
	uint64_t t0 = bench_now();

	for (int i = 0; i < OPS; i++) {
		check(libc_write(pipe_fd[1], &c, 1), "libc write");
		check(libc_read(pipe_fd[0], &c, 1), "libc read (pipe)");
	}
	add_batch(out, t0);
}

static void short_hooked(struct bench_series *out)
{
	char buf[64] = "x";
	uint64_t t0 = bench_now();

	for (int i = 0; i < OPS; i++) {
		check(write(pipe_fd[1], buf, 1), "write");
		check(read(pipe_fd[0], buf, sizeof(buf)), "read (short)");
	}
	add_batch(out, t0);
}

static void short_libc(struct bench_series *out)
{
	char buf[64] = "x";
	uint64_t t0 = bench_now();

	for (int i = 0; i < OPS; i++) {
		check(libc_write(pipe_fd[1], buf, 1), "libc write");
		check(libc_read(pipe_fd[0], buf, sizeof(buf)), "libc read (short)");
	}
	add_batch(out, t0);
}

static void worker_fn(struct bench_worker *self)
{
	for (;;) {
		if (job) {
			job(job_out);
			job = NULL;
		}
		bench_worker_yield(self);
	}
}

static enum bench_phase phase(struct bench_sched *s, void *arg)
{
	(void)arg;
	if (job)
		return BENCH_GO;
	return s->qlen == 1 ? BENCH_RETURN : BENCH_HOLD;
}

static unsigned long worker_runs, worker_wakeups;

static void in_worker(void (*fn)(struct bench_series *), struct bench_series *out)
{
	unsigned long w = server.wakeups;

	job = fn;
	job_out = out;
	bench_sched_run(&server, NULL, phase, NULL);
	worker_runs++;
	worker_wakeups += server.wakeups - w;
}

static void w_hooked(struct bench_series *o) { in_worker(read_hooked, o); }
static void w_libc(struct bench_series *o) { in_worker(read_libc, o); }
static void w_sys(struct bench_series *o) { in_worker(read_sys, o); }
static void w_pipe_hooked(struct bench_series *o) { in_worker(pipe_hooked, o); }
static void w_pipe_libc(struct bench_series *o) { in_worker(pipe_libc, o); }
static void w_short_hooked(struct bench_series *o) { in_worker(short_hooked, o); }
static void w_short_libc(struct bench_series *o) { in_worker(short_libc, o); }

/*
 * libc's own read() and write(), past libumcg's wrappers.  Without a
 * libc.so.6 to ask (another C library), fall back to the wrappers: then
 * the baselines are read() outside a worker's reach only in M_*.
 */
static void find_libc(void)
{
	void *h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);

	libc_read = h ? (ssize_t (*)(int, void *, size_t))dlsym(h, "read") : NULL;
	libc_write = h ? (ssize_t (*)(int, const void *, size_t))dlsym(h, "write") : NULL;
	if (!libc_read || !libc_write) {
		bench_note("libc.so.6 not found: baselines use read()/write()");
		libc_read = read;
		libc_write = write;
	}
}

static void make_file(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096], buf[FILE_SIZE];

	snprintf(path, sizeof(path), "%s/umcg-bench-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	file_fd = mkstemp(path);
	if (file_fd < 0)
		bench_die(path);
	unlink(path);
	memset(buf, 'u', sizeof(buf));
	if (write(file_fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		bench_die("write (file)");
	if (pipe(pipe_fd))
		bench_die("pipe");
}

int main(void)
{
	static void (*const fns[NKINDS])(struct bench_series *) = {
		[W_HOOKED] = w_hooked, [W_LIBC] = w_libc, [W_SYS] = w_sys,
		[M_HOOKED] = read_hooked, [M_LIBC] = read_libc,
		[W_PIPE_HOOKED] = w_pipe_hooked, [W_PIPE_LIBC] = w_pipe_libc,
		[W_SHORT_HOOKED] = w_short_hooked, [W_SHORT_LIBC] = w_short_libc,
	};
	struct bench_series res[NKINDS] = { { 0 } };
	ssize_t (*readp)(int, void *, size_t) = read;
	Dl_info info;

	bench_note("cpu %d, backend %s", bench_pin(), umcg_backend_name());
	if (dladdr((void *)readp, &info) && info.dli_fname)
		bench_note("read() resolves to %s", info.dli_fname);
	find_libc();
	make_file();
	bench_sched_init(&server);
	bench_worker_start(&server, &worker, worker_fn, NULL);
	bench_interleave(bench_scaled(ROUNDS), PER_ROUND, NKINDS, fns, res);
	bench_note("server slept %.2f times per worker batch of %d calls "
		   "(1: no block was declared)",
		   (double)worker_wakeups / worker_runs, OPS);
	bench_report("hooked_call", &res[W_HOOKED], &res[W_LIBC]);
	bench_report("hooked_call_syscall", &res[W_HOOKED], &res[W_SYS]);
	bench_report("hooked_call_outside", &res[M_HOOKED], &res[M_LIBC]);
	bench_report("hooked_pipe_rw", &res[W_PIPE_HOOKED], &res[W_PIPE_LIBC]);
	bench_report("hooked_pipe_short", &res[W_SHORT_HOOKED],
		     &res[W_SHORT_LIBC]);
	return 0;
}
