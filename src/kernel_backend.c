// SPDX-License-Identifier: MIT
/*
 * The kernel backend: the UMCG system calls of our Linux patch (kernel/).
 *
 * The numbers of the calls are not fixed: the patch takes free numbers after
 * the last call of the kernel it applies to, and later kernels give those
 * numbers to other calls.  So the running kernel is asked first, through
 * files that a kernel without UMCG does not have:
 *
 *   /sys/kernel/umcg/abi_version   "1\n"           (UMCG_ABI_VERSION)
 *   /sys/kernel/umcg/syscalls      "463 464 465\n" (ctl, wait, kick)
 *
 * and a number is never called unless the kernel announced it together with
 * our ABI version.  Without them every call fails with ENOSYS.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "backend.h"

#define UMCG_SYSFS "/sys/kernel/umcg/"

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static bool kernel_ok;
static long nr_ctl = -1, nr_wait = -1, nr_kick = -1;

/* Read a small sysfs file into @buf (NUL-terminated); false on failure. */
static bool read_small_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	size_t off = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	while (off < size - 1) {
		n = read(fd, buf + off, size - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	return off > 0;
}

static void probe(void)
{
	char buf[64], *p, *end;
	long nr[3];
	int saved = errno;
	int i;

	if (!read_small_file(UMCG_SYSFS "abi_version", buf, sizeof(buf)))
		goto out;
	if (strtol(buf, &end, 10) != UMCG_ABI_VERSION || end == buf)
		goto out;
	if (!read_small_file(UMCG_SYSFS "syscalls", buf, sizeof(buf)))
		goto out;
	p = buf;
	for (i = 0; i < 3; i++) {
		nr[i] = strtol(p, &end, 10);
		if (end == p || nr[i] <= 0 || nr[i] > 4095)
			goto out;
		p = end;
	}
	nr_ctl = nr[0];
	nr_wait = nr[1];
	nr_kick = nr[2];
	kernel_ok = true;
out:
	errno = saved;
}

bool umcg_kernel_available(void)
{
	pthread_once(&probe_once, probe);
	return kernel_ok;
}

static long call3(long nr, long a, long b, long c)
{
	int saved = errno;
	long r;

	if (!umcg_kernel_available() || nr < 0)
		return -ENOSYS;
	r = syscall(nr, a, b, c);
	if (r == -1)
		r = -errno;
	errno = saved;
	return r;
}

static int kernel_ctl(uint32_t flags, struct umcg_task *self, clockid_t clock)
{
	umcg_kernel_available();
	return (int)call3(nr_ctl, (long)flags, (long)(uintptr_t)self,
			  (long)clock);
}

static int kernel_wait(uint32_t flags, uint64_t abs_timeout)
{
	umcg_kernel_available();
	return (int)call3(nr_wait, (long)flags, (long)abs_timeout, 0);
}

static int kernel_kick(uint32_t flags, pid_t tid)
{
	umcg_kernel_available();
	return (int)call3(nr_kick, (long)flags, (long)tid, 0);
}

const struct umcg_backend_ops umcg_kernel_ops = {
	.name = "kernel",
	.ctl = kernel_ctl,
	.wait = kernel_wait,
	.kick = kernel_kick,
};
