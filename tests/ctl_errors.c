/* SPDX-License-Identifier: MIT */
/*
 * Description: every error of umcg_ctl(), in the order docs/semantics.md
 * checks them: flags (EINVAL), alignment (EINVAL, before EFAULT), readable
 * and writable memory (EFAULT), clock, already registered, zero fields,
 * role state and server_tid (EINVAL), server_tid not a server of this
 * process (ESRCH); and for UNREGISTER: not registered / other task / wrong
 * role / not RUNNING (EINVAL), while RUNNING with flags and user bits is
 * fine (flags cleared, user bits kept).  Where two checks fail at once the
 * earlier one's errno must win.  A failed call must leave the caller
 * unregistered.  A forced kernel backend (UMCG_BACKEND=kernel) fails every
 * call with ENOSYS exactly when the kernel has no UMCG (the automatic
 * choice then is emul), and works where it has.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_helpers.h"

#define BOGUS_TID 0x3ffffff0

static struct umcg_task *new_server_task(void)
{
	struct umcg_task *t = t_task_alloc();

	umcg_task_init_server(t);
	return t;
}

/* The caller must still be unregistered: a valid register succeeds. */
static int still_unregistered(void)
{
	struct umcg_task *t = new_server_task();

	T_CHECK_OK(umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC));
	T_CHECK_OK(umcg_ctl(UMCG_CTL_UNREGISTER, t, CLOCK_MONOTONIC));
	free(t);
	return 0;
}

static int test_flags(void)
{
	static const uint32_t bad[] = {
		0, UMCG_CTL_WORKER, UMCG_CTL_REGISTER | UMCG_CTL_UNREGISTER,
		UMCG_CTL_REGISTER | UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER,
		0x4, UMCG_CTL_REGISTER | 0x4, UMCG_CTL_REGISTER | 0x20000,
		UMCG_CTL_REGISTER | UMCG_CTL_WORKER | 0x100,
		UMCG_CTL_UNREGISTER | 0x8, 0x80000000u, 0xffffffffu,
	};
	struct umcg_task *t = new_server_task();

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_CHECK_ERR(umcg_ctl(bad[i], t, CLOCK_MONOTONIC), EINVAL);
		/* Flags come first: before alignment and EFAULT. */
		T_CHECK_ERR(umcg_ctl(bad[i], NULL, CLOCK_MONOTONIC), EINVAL);
		T_CHECK_ERR(umcg_ctl(bad[i], (struct umcg_task *)((char *)t + 8),
				     CLOCK_MONOTONIC), EINVAL);
	}
	T_CHECK(t->state == UMCG_TASK_RUNNING, "task changed: state %#x",
		t->state);
	free(t);
	return still_unregistered();
}

static int test_alignment(void)
{
	char *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	static const int offs[] = { 1, 4, 8, 16, 32, 48, 63 };

	T_CHECK(page != MAP_FAILED && none != MAP_FAILED, "mmap failed");
	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		struct umcg_task *t = (struct umcg_task *)(page + 64 + offs[i]);
		struct umcg_task good;

		/* Not through t: the compiler may assume t is aligned. */
		umcg_task_init_server(&good);
		memcpy(page + 64 + offs[i], &good, sizeof(good));
		T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC),
			    EINVAL);
		T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, t,
				     CLOCK_MONOTONIC), EINVAL);
		T_CHECK_ERR(umcg_ctl(UMCG_CTL_UNREGISTER, t, 0), EINVAL);
		/* Alignment before EFAULT: misaligned and unmapped. */
		T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER,
				     (struct umcg_task *)(none + offs[i]),
				     CLOCK_MONOTONIC), EINVAL);
		/* Alignment before the clock (both EINVAL, no crash). */
		T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, t, 12345), EINVAL);
	}
	munmap(page, 8192);
	munmap(none, 4096);
	return still_unregistered();
}

static int test_efault(void)
{
	char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	char *ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	T_CHECK(none != MAP_FAILED && ro != MAP_FAILED, "mmap failed");
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, NULL, CLOCK_MONOTONIC), EFAULT);
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, NULL,
			     CLOCK_MONOTONIC), EFAULT);
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_UNREGISTER, NULL, 0), EFAULT);
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, NULL, 0),
		    EFAULT);
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, (struct umcg_task *)none,
			     CLOCK_MONOTONIC), EFAULT);
	/* EFAULT before the clock check. */
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, NULL, 12345), EFAULT);
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, (struct umcg_task *)none, -1),
		    EFAULT);
	/* Readable but not writable: EFAULT too, even with valid contents. */
	umcg_task_init_server((struct umcg_task *)ro);
	T_CHECK(mprotect(ro, 4096, PROT_READ) == 0, "mprotect: %s",
		strerror(errno));
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, (struct umcg_task *)ro,
			     CLOCK_MONOTONIC), EFAULT);
	munmap(none, 4096);
	munmap(ro, 4096);
	return still_unregistered();
}

static int test_clock(void)
{
	static const clockid_t bad[] = {
		CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID,
		CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE,
		CLOCK_MONOTONIC_COARSE, CLOCK_REALTIME_ALARM,
		CLOCK_BOOTTIME_ALARM, -1, 12, 100,
	};
	static const clockid_t good[] = { CLOCK_REALTIME, CLOCK_MONOTONIC,
					  CLOCK_BOOTTIME, CLOCK_TAI };
	struct umcg_task *t = new_server_task();

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, t, bad[i]), EINVAL);
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		umcg_task_init_server(t);
		T_CHECK_OK(umcg_ctl(UMCG_CTL_REGISTER, t, good[i]));
		T_CHECK(t->state == UMCG_TASK_RUNNING,
			"clock %d: state %#x after register", good[i], t->state);
		T_CHECK_OK(umcg_ctl(UMCG_CTL_UNREGISTER, t, 0));
		T_CHECK(t->state == UMCG_TASK_NONE,
			"clock %d: state %#x after unregister", good[i],
			t->state);
	}
	free(t);
	return still_unregistered();
}

static int test_already_registered(void)
{
	struct umcg_task *t = new_server_task(), *t2 = new_server_task();
	struct umcg_task *w = t_task_alloc();

	T_CHECK_OK(umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC));
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC), EINVAL);
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, t2, CLOCK_MONOTONIC), EINVAL);
	/* As a worker of itself (a real server): EINVAL, it never waits. */
	umcg_task_init_worker(w, t_gettid());
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, w,
			     CLOCK_MONOTONIC), EINVAL);
	/* Already registered before the ESRCH check. */
	umcg_task_init_worker(w, BOGUS_TID);
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, w,
			     CLOCK_MONOTONIC), EINVAL);
	T_CHECK(t->state == UMCG_TASK_RUNNING && t2->state == UMCG_TASK_RUNNING,
		"failed registrations changed a task: %#x %#x", t->state,
		t2->state);
	T_CHECK_OK(umcg_ctl(UMCG_CTL_UNREGISTER, t, 0));
	free(t);
	free(t2);
	free(w);
	return still_unregistered();
}

static int test_zero_fields(void)
{
	struct umcg_task *t = t_task_alloc();

	for (int f = 0; f < 5; f++) {
		for (int worker = 0; worker < 2; worker++) {
			uint32_t fl = UMCG_CTL_REGISTER |
				      (worker ? UMCG_CTL_WORKER : 0);

			if (worker) /* bogus server: EINVAL must beat ESRCH */
				umcg_task_init_worker(t, BOGUS_TID);
			else
				umcg_task_init_server(t);
			switch (f) {
			case 0: t->__zero0 = 1; break;
			case 1: t->__zero[0] = 1; break;
			case 2: t->__zero[1] = 1ULL << 63; break;
			case 3: t->__zero[2] = 1; break;
			case 4: t->next_tid = (uint32_t)t_gettid(); break;
			}
			T_CHECK_ERR(umcg_ctl(fl, t, CLOCK_MONOTONIC), EINVAL);
		}
	}
	/* blocked_ts and runnable_ts need not be zero. */
	umcg_task_init_server(t);
	t->blocked_ts = 123;
	t->runnable_ts = 456;
	T_CHECK_OK(umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC));
	T_CHECK_OK(umcg_ctl(UMCG_CTL_UNREGISTER, t, 0));
	free(t);
	return still_unregistered();
}

static int test_server_state(void)
{
	static const uint32_t bad[] = {
		UMCG_TASK_NONE, UMCG_TASK_RUNNABLE, UMCG_TASK_BLOCKED, 4,
		UMCG_TASK_RUNNING | UMCG_TF_PREEMPT,
		UMCG_TASK_RUNNING | UMCG_TF_COND_WAIT,
		UMCG_TASK_RUNNING | 0x400,
		UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT,
	};
	struct umcg_task *t = t_task_alloc();

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		umcg_task_init_server(t);
		t->state = bad[i];
		T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC),
			    EINVAL);
	}
	umcg_task_init_server(t);
	t->server_tid = 0;
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC), EINVAL);
	t->server_tid = (uint32_t)t_gettid() + 1;
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC), EINVAL);
	t->server_tid = BOGUS_TID;
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC), EINVAL);
	/* User bits are ignored, and kept. */
	umcg_task_init_server(t);
	t->state |= 0xabcd0000u;
	T_CHECK_OK(umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC));
	T_CHECK(t->state == (0xabcd0000u | UMCG_TASK_RUNNING),
		"state %#x after register, want %#x", t->state,
		0xabcd0000u | UMCG_TASK_RUNNING);
	T_CHECK_OK(umcg_ctl(UMCG_CTL_UNREGISTER, t, 0));
	T_CHECK(t->state == 0xabcd0000u,
		"state %#x after unregister, want 0xabcd0000 (NONE, user bits kept)",
		t->state);
	free(t);
	return still_unregistered();
}

/* ---- worker registrations that must fail (never wait) ---- */

struct wreg {
	uint32_t state;
	uint32_t server_tid;
	int want;
	int got;	/* errno, or 0 if the call succeeded */
};

static void *wreg_thread(void *arg)
{
	struct wreg *c = arg;
	struct umcg_task *t = t_task_alloc();

	umcg_task_init_worker(t, (pid_t)c->server_tid);
	t->state = c->state;
	errno = 0;
	c->got = umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, t,
			  CLOCK_MONOTONIC) ? errno : 0;
	free(t);
	return NULL;
}

/* Try @n worker registrations, each from a fresh unregistered thread. */
static int try_worker_regs(struct wreg *c, int n)
{
	for (int i = 0; i < n; i++) {
		pthread_t th;
		char b[64];

		c[i].got = -1;
		T_CHECK(pthread_create(&th, NULL, wreg_thread, &c[i]) == 0,
			"pthread_create");
		pthread_join(th, NULL);
		T_CHECK(c[i].got == c[i].want,
			"worker register state %s server_tid %u: errno %d (%s), want %d (%s)",
			t_state_str(c[i].state, b), c[i].server_tid, c[i].got,
			strerror(c[i].got), c[i].want, strerror(c[i].want));
	}
	return 0;
}

static int parked_worker(struct t_worker *w)
{
	int r = t_park(T_FOREVER);

	if (r != 0)
		fprintf(stderr, "worker %d: park returned %d\n", w->idx, r);
	return r != 0;
}


static int test_worker_state_and_server(void)
{
	struct t_server s;
	struct t_worker *pw;
	uint32_t st;
	int done_fd = -1;
	pid_t other = t_foreign_server(&done_fd);

	T_CHECK(other > 0, "cannot start a server in a child process");
	T_CHECK(t_server_init(&s, 0, CLOCK_MONOTONIC) == 0, "server register");
	/* A registered worker, parked: a valid tid that is not a server. */
	pw = t_worker_spawn(&s, parked_worker, NULL);
	T_CHECK(pw, "spawn");
	T_CHECK(t_queued(&s, pw),
		"the new worker did not show up on the server's list");
	T_CHECK(t_server_run_one(&s, pw, &st) == 0 &&
		(st & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE,
		"worker did not park (state %#x)", st);
	{
		uint32_t me = (uint32_t)s.tid, wt = (uint32_t)pw->tid;
		struct wreg c[] = {
			/* The state must be exactly BLOCKED: EINVAL first. */
			{ UMCG_TASK_RUNNING, me, EINVAL, 0 },
			{ UMCG_TASK_RUNNABLE, me, EINVAL, 0 },
			{ UMCG_TASK_NONE, me, EINVAL, 0 },
			{ UMCG_TASK_BLOCKED | UMCG_TF_COND_WAIT, me, EINVAL, 0 },
			{ UMCG_TASK_BLOCKED | UMCG_TF_PREEMPT, me, EINVAL, 0 },
			{ UMCG_TASK_RUNNING, BOGUS_TID, EINVAL, 0 },
			/* Then server_tid: a registered server of ours. */
			{ UMCG_TASK_BLOCKED, 0, ESRCH, 0 },
			{ UMCG_TASK_BLOCKED, BOGUS_TID, ESRCH, 0 },
			{ UMCG_TASK_BLOCKED, wt, ESRCH, 0 },
			{ UMCG_TASK_BLOCKED, (uint32_t)other, ESRCH, 0 },
		};

		if (try_worker_regs(c, sizeof(c) / sizeof(c[0])))
			return 1;
	}
	/* An unregistered thread of this process as server: ESRCH too. */
	{
		struct wreg c = { UMCG_TASK_BLOCKED, (uint32_t)getpid(), ESRCH, 0 };

		if (s.tid != getpid() && try_worker_regs(&c, 1))
			return 1;
	}
	T_CHECK(t_run_expect(&s, pw, UMCG_TASK_NONE),
		"parked worker did not finish");
	T_CHECK(t_foreign_server_end(other, done_fd) == 0, "child server failed");
	T_CHECK(t_workers_failed(&s) == 0, "worker failed");
	t_server_fini(&s);
	return still_unregistered();
}

/* An unregistered thread's tid must give ESRCH: use the main thread. */
static int test_worker_server_unregistered(void)
{
	struct wreg c = { UMCG_TASK_BLOCKED, (uint32_t)t_gettid(), ESRCH, 0 };

	return try_worker_regs(&c, 1);
}

static int test_unregister(void)
{
	struct umcg_task *t = new_server_task(), *t2 = new_server_task();

	/* Not registered. */
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_UNREGISTER, t, 0), EINVAL);
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, t, 0),
		    EINVAL);
	T_CHECK_OK(umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC));
	/* Not the registered task. */
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_UNREGISTER, t2, 0), EINVAL);
	/* Wrong role. */
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, t, 0),
		    EINVAL);
	/* Not RUNNING. */
	t_store32(&t->state, UMCG_TASK_RUNNABLE);
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_UNREGISTER, t, 0), EINVAL);
	t_store32(&t->state, UMCG_TASK_BLOCKED);
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_UNREGISTER, t, 0), EINVAL);
	/* NULL is EFAULT even for a registered caller (step 3 before 4). */
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_UNREGISTER, NULL, 0), EFAULT);
	/* RUNNING with flags and user bits; the clock is ignored. */
	t_store32(&t->state, UMCG_TASK_RUNNING | UMCG_TF_PREEMPT |
			     UMCG_TF_COND_WAIT | 0x50000);
	T_CHECK_OK(umcg_ctl(UMCG_CTL_UNREGISTER, t, -1));
	T_CHECK(t->state == 0x50000, "state %#x after unregister, want 0x50000",
		t->state);
	T_CHECK_ERR(umcg_ctl(UMCG_CTL_UNREGISTER, t, 0), EINVAL);
	free(t);
	free(t2);
	return still_unregistered();
}

/* ---- a forced kernel backend -------------------------------------------- */

enum { BACKEND_KERNEL = 10, BACKEND_EMUL = 11, FORCED_ENOSYS = 12 };

static const char *self_exe;

/* Run this program again as "<prog> @mode" with UMCG_BACKEND=@backend. */
static int exec_mode(void *arg)
{
	const char *mode = arg;
	char *argv[] = { (char *)self_exe, (char *)mode, NULL };

	if (!strcmp(mode, "--forced-kernel"))
		setenv("UMCG_BACKEND", "kernel", 1);
	else
		unsetenv("UMCG_BACKEND");
	execv("/proc/self/exe", argv);
	return 1;
}

/* The automatic choice: kernel exactly when the kernel has UMCG. */
static int auto_main(void)
{
	const char *name = umcg_backend_name();

	return !strcmp(name, "kernel") ? BACKEND_KERNEL :
	       !strcmp(name, "emul") ? BACKEND_EMUL : 1;
}

static int forced_kernel_main(void)
{
	struct umcg_task *t = new_server_task();

	if (strcmp(umcg_backend_name(), "kernel"))
		return 2;
	if (umcg_ctl(UMCG_CTL_REGISTER, t, CLOCK_MONOTONIC) == 0)
		return umcg_ctl(UMCG_CTL_UNREGISTER, t, 0) ? 3 : 0;
	if (errno != ENOSYS)
		return 4;
	if (umcg_wait(0, 0) != -1 || errno != ENOSYS)
		return 5;
	if (umcg_kick(0, t_gettid()) != -1 || errno != ENOSYS)
		return 6;
	if (umcg_ctl(UMCG_CTL_UNREGISTER, t, 0) != -1 || errno != ENOSYS)
		return 7;
	return FORCED_ENOSYS;
}

static int test_forced_kernel(void)
{
	int chosen = t_fork_run(exec_mode, "--auto");
	int forced = t_fork_run(exec_mode, "--forced-kernel");

	T_CHECK(chosen == BACKEND_KERNEL || chosen == BACKEND_EMUL,
		"automatic choice: child exit %d", chosen);
	if (chosen == BACKEND_KERNEL)
		T_CHECK(forced == 0, "kernel with UMCG, forced kernel backend: "
			"child exit %d, want 0 (its calls work)", forced);
	else
		T_CHECK(forced == FORCED_ENOSYS, "kernel without UMCG, forced "
			"kernel backend: child exit %d, want %d (every call "
			"ENOSYS)", forced, FORCED_ENOSYS);
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	if (argc > 1 && !strcmp(argv[1], "--auto"))
		return auto_main();
	if (argc > 1 && !strcmp(argv[1], "--forced-kernel"))
		return forced_kernel_main();
	self_exe = argv[0];
	t_init(argv[0], 60);
	T_RUN(test_flags, nfail);
	T_RUN(test_alignment, nfail);
	T_RUN(test_efault, nfail);
	T_RUN(test_clock, nfail);
	T_RUN(test_already_registered, nfail);
	T_RUN(test_zero_fields, nfail);
	T_RUN(test_server_state, nfail);
	T_RUN(test_worker_server_unregistered, nfail);
	T_RUN(test_worker_state_and_server, nfail);
	T_RUN(test_unregister, nfail);
	T_RUN(test_forced_kernel, nfail);
	return t_finish(nfail);
}
