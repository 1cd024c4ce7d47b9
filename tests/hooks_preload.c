/* SPDX-License-Identifier: MIT */
/*
 * Description: LD_PRELOAD=libumcg.so.1 makes the hooks work in a program
 * that was never linked against libumcg.  The test writes a small C
 * program, builds it with the system compiler and no -lumcg, and runs it:
 *  - without LD_PRELOAD: it must find no umcg_ctl (so it really is an
 *    unmodified binary) and exit 3;
 *  - with LD_PRELOAD: it looks the ABI up with dlsym(), registers a server
 *    and a worker, and the worker's plain read() of an empty pipe must show
 *    up at the server as BLOCKED; once a plain thread writes, the worker
 *    comes back through the runnable list, finishes its read with the
 *    byte, and unregisters.  read() must resolve to libumcg (unless a
 *    sanitizer's runtime comes first: it calls ours).
 *
 * Under a sanitizer the library needs its runtime: with ASan the runtime
 * (libasan, found in our own process) is preloaded first; with TSan the
 * program is built with -fsanitize=thread too (clang, as the library).
 * The compiler is $CC, else cc (clang for TSan); none found: skip.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_helpers.h"

#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif
#ifndef T_TSAN
#define T_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_ASAN 1
#endif
#endif
#ifndef T_ASAN
#define T_ASAN 0
#endif

/* The unmodified program: it knows the ABI only from the ABI page. */
static const char child_src[] =
"#define _GNU_SOURCE\n"
"#include <dlfcn.h>\n"
"#include <pthread.h>\n"
"#include <stdatomic.h>\n"
"#include <stdint.h>\n"
"#include <stdio.h>\n"
"#include <string.h>\n"
"#include <time.h>\n"
"#include <unistd.h>\n"
"#include <sys/syscall.h>\n"
"struct task { _Atomic uint32_t state; _Atomic uint32_t next_tid;\n"
"	uint32_t server_tid, pad; uint64_t blocked_ts, runnable_ts;\n"
"	_Atomic uint64_t list; uint64_t reserved[3]; }\n"
"	__attribute__((aligned(64)));\n"
"enum { RUNNING = 1, RUNNABLE = 2, BLOCKED = 3, COND_WAIT = 0x200,\n"
"	REG = 1, UNREG = 2, WORKER = 0x10000 };\n"
"static int (*ctl)(uint32_t, struct task *, clockid_t);\n"
"static int (*wait_)(uint32_t, uint64_t);\n"
"static struct task srv, wrk;\n"
"static int fds[2];\n"
"static _Atomic int go, got;\n"
"static _Atomic uint32_t wtid;\n"
"static uint64_t deadline(void) {\n"
"	struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);\n"
"	return (uint64_t)(t.tv_sec + 5) * 1000000000u + (uint64_t)t.tv_nsec; }\n"
"/* The worker: a plain read() of an empty pipe. */\n"
"static void *worker(void *a) {\n"
"	char c = 0;\n"
"	wtid = (uint32_t)syscall(SYS_gettid);\n"
"	wrk.server_tid = srv.server_tid; wrk.state = BLOCKED;\n"
"	if (ctl(REG | WORKER, &wrk, CLOCK_MONOTONIC)) { perror(\"reg\"); return a; }\n"
"	if (read(fds[0], &c, 1) == 1 && c == 'x') got = 1;\n"
"	ctl(UNREG | WORKER, &wrk, 0);\n"
"	return a; }\n"
"static void *writer(void *a) {\n"
"	while (!go) usleep(1000);\n"
"	if (write(fds[1], \"x\", 1) != 1) perror(\"write\");\n"
"	return a; }\n"
"/* Sleep as the server, naming @next (0: none), until woken. */\n"
"static void sleep_srv(uint32_t next) {\n"
"	atomic_store(&srv.next_tid, next);\n"
"	atomic_store(&srv.state, RUNNABLE | COND_WAIT);\n"
"	if (!next && atomic_load(&srv.list)) {\n"
"		uint32_t s = RUNNABLE | COND_WAIT;\n"
"		atomic_compare_exchange_strong(&srv.state, &s, RUNNING);\n"
"		return; }\n"
"	wait_(0, deadline()); }\n"
"/* The runnable list, or NULL after many tries. */\n"
"static struct task *take(void) {\n"
"	for (int i = 0; i < 100; i++) {\n"
"		uint64_t h = atomic_exchange(&srv.list, 0);\n"
"		if (h) return (struct task *)(uintptr_t)h;\n"
"		sleep_srv(0); }\n"
"	return NULL; }\n"
"/* Run the worker until it stops RUNNING; its state then. */\n"
"static uint32_t run_worker(void) {\n"
"	uint32_t st = RUNNING;\n"
"	for (int i = 0; i < 100 && st == RUNNING; i++) {\n"
"		sleep_srv(atomic_load(&srv.next_tid) ? atomic_load(&srv.next_tid) : wtid);\n"
"		st = atomic_load(&wrk.state) & 0xff; }\n"
"	atomic_store(&srv.next_tid, 0);\n"
"	return st; }\n"
"int main(void) {\n"
"	pthread_t w, wr; Dl_info di; uint32_t st;\n"
"	ssize_t (*rd)(int, void *, size_t) = read;\n"
"	ctl = (int (*)(uint32_t, struct task *, clockid_t))dlsym(RTLD_DEFAULT, \"umcg_ctl\");\n"
"	wait_ = (int (*)(uint32_t, uint64_t))dlsym(RTLD_DEFAULT, \"umcg_wait\");\n"
"	if (!ctl || !wait_) { printf(\"no umcg_ctl\\n\"); return 3; }\n"
"	if (!SANITIZER && (!dladdr((void *)rd, &di) || !di.dli_fname ||\n"
"		      !strstr(di.dli_fname, \"libumcg\"))) {\n"
"		printf(\"read() is not libumcg's\\n\"); return 1; }\n"
"	if (pipe(fds)) return 1;\n"
"	srv.state = RUNNING; srv.server_tid = (uint32_t)syscall(SYS_gettid);\n"
"	if (ctl(REG, &srv, CLOCK_MONOTONIC)) { perror(\"server\"); return 1; }\n"
"	pthread_create(&w, NULL, worker, NULL);\n"
"	pthread_create(&wr, NULL, writer, NULL);\n"
"	if (take() != &wrk) { printf(\"worker never queued\\n\"); return 1; }\n"
"	st = run_worker();\n"
"	if (st != BLOCKED) { printf(\"worker state %u, want BLOCKED\\n\", st); return 1; }\n"
"	go = 1;\n"
"	if (take() != &wrk) { printf(\"worker never queued again\\n\"); return 1; }\n"
"	st = run_worker();\n"
"	if (st != 0 || !got) { printf(\"worker state %u, read %d\\n\", st, got); return 1; }\n"
"	pthread_join(w, NULL);\n"
"	pthread_join(wr, NULL);\n"
"	ctl(UNREG, &srv, 0);\n"
"	return 0; }\n";

static char tmpdir[64];

static const char *compiler(void)
{
	const char *cc = getenv("CC");

	if (cc && *cc)
		return cc;
	return T_TSAN ? "clang" : "cc";
}

/* The path of the loaded object that holds @sym, or NULL. */
static const char *object_of(void *sym)
{
	static char paths[2][PATH_MAX];
	static int n;
	Dl_info info;

	if (!sym || !dladdr(sym, &info) || !info.dli_fname ||
	    !realpath(info.dli_fname, paths[n % 2]))
		return NULL;
	return paths[n++ % 2];
}

static int write_child(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	/* A sanitizer's read() comes first and calls ours: no name check */
	fprintf(f, "#define SANITIZER %d\n", T_TSAN || T_ASAN);
	fputs(child_src, f);
	return fclose(f);
}

/* Run @prog with LD_PRELOAD=@preload (NULL: none); its exit status or -1. */
static int run(const char *prog, const char *preload)
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		if (preload)
			setenv("LD_PRELOAD", preload, 1);
		else
			unsetenv("LD_PRELOAD");
		execl(prog, prog, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/*
 * The build writes the unmodified program next to the tests
 * (<build>/testdata/preload_child, from "hooks_preload --child-source"), so
 * that a machine with no compiler (the kernel-check guest) runs it too.
 */
static char prebuilt[PATH_MAX];

static int find_prebuilt(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return 0;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return 0;
	*slash = 0;
	snprintf(prebuilt, sizeof(prebuilt), "%.*s/../testdata/preload_child",
		 PATH_MAX - 32, self);
	return access(prebuilt, X_OK) == 0;
}

static int test_preload(void)
{
	char src[96], prog[PATH_MAX], cmd[PATH_MAX + 256];
	char preload[2 * PATH_MAX + 2];
	const char *lib = object_of((void *)umcg_ctl);
	const char *asan = object_of(dlsym(RTLD_DEFAULT, "__asan_init"));
	int r;

	T_CHECK(lib, "cannot find the path of libumcg");
	if (prebuilt[0]) {
		snprintf(prog, sizeof(prog), "%s", prebuilt);
	} else {
		snprintf(src, sizeof(src), "%s/child.c", tmpdir);
		snprintf(prog, sizeof(prog), "%s/child", tmpdir);
		T_CHECK(write_child(src) == 0, "writing %s: %s", src,
			strerror(errno));
		snprintf(cmd, sizeof(cmd), "%s %s -O1 -pthread -o %s %s -ldl",
			 compiler(), T_TSAN ? "-fsanitize=thread" : "", prog,
			 src);
		r = system(cmd);
		T_CHECK(r == 0, "'%s' failed (status %#x)", cmd, r);
	}

	r = run(prog, NULL);
	T_CHECK(r == 3, "without LD_PRELOAD: exit %d, want 3 (no umcg_ctl)", r);

	if (asan && strcmp(asan, lib) != 0)
		snprintf(preload, sizeof(preload), "%s %s", asan, lib);
	else
		snprintf(preload, sizeof(preload), "%s", lib);
	r = run(prog, preload);
	T_CHECK(r == 0, "with LD_PRELOAD=%s: exit %d, want 0", preload, r);
	return 0;
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char probe[256], path[96];
	int nfail = 0;

	if (argc == 2 && !strcmp(argv[1], "--child-source")) {
		printf("#define SANITIZER %d\n%s", T_TSAN || T_ASAN, child_src);
		return 0;
	}
	t_init(argv[0], 120);
	snprintf(probe, sizeof(probe), "command -v %s >/dev/null 2>&1",
		 compiler());
	if (!find_prebuilt() && system(probe) != 0) {
		printf("SKIP: %s: no C compiler (%s) to build the unmodified "
		       "program\n", t_prog, compiler());
		return T_EXIT_SKIP;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/umcg-preload-XXXXXX",
		 tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return T_EXIT_FAIL;
	}
	T_RUN(test_preload, nfail);
	snprintf(path, sizeof(path), "%s/child.c", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/child", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return t_finish(nfail);
}
