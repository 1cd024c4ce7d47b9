// SPDX-License-Identifier: MIT
/*
 * /init of the test guest: mount the pseudo file systems, run /kt/guest,
 * check that page pins balance, and end QEMU through isa-debug-exit with
 * status 0 (QEMU exits 1) when all passed, 1 (QEMU exits 3) otherwise.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static long vmstat(const char *name)
{
	char key[128];
	long v;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%127s %ld", key, &v) == 2) {
		if (!strcmp(key, name)) {
			fclose(f);
			return v;
		}
	}
	fclose(f);
	return -1;
}

static void qemu_exit(int code)
{
	fflush(NULL);
	/*
	 * The exit port ends QEMU at once: wait until the serial line has sent
	 * what we printed, or the last lines (the "GUEST ALL PASSED" marker
	 * that kernel/check.sh looks for) can be lost.  Seen once.
	 */
	tcdrain(STDOUT_FILENO);
	tcdrain(STDERR_FILENO);
	sync();
	if (ioperm(0xf4, 4, 1) == 0)
		outb((unsigned char)code, 0xf4);
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

int main(void)
{
	int status = 1;
	long acq, rel;
	int fd;
	pid_t pid;

	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/dev", 0755);
	mkdir("/tmp", 01777);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
	setenv("PATH", "/bin:/usr/bin", 1);
	setenv("HOME", "/", 1);

	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "/kt/guest", (char *)NULL);
		perror("exec /bin/sh /kt/guest");
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	status = WIFEXITED(status) ? WEXITSTATUS(status) : 1;

	/* Fold the per-CPU vmstat deltas into the global counters first. */
	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1\n", 2) < 0)
			perror("stat_refresh");
		close(fd);
	}
	acq = vmstat("nr_foll_pin_acquired");
	rel = vmstat("nr_foll_pin_released");
	printf("GUEST foll_pin acquired=%ld released=%ld\n", acq, rel);
	if (acq != rel) {
		printf("GUEST FAIL: page pins do not balance\n");
		status = 1;
	}
	printf("GUEST %s\n", status ? "FAILED" : "ALL PASSED");
	qemu_exit(status ? 1 : 0);
	return 0;
}
