/* SPDX-License-Identifier: MIT */
/*
 * The soak test (make soak DURATION=<s>, default 3 s when run by hand).
 * Rounds of: a toolkit scheduler with 3 servers and the slice
 * policy (so spinning workers get preempted), 24 workers that each take
 * work items and, per item, pick one of: yield, sleep, a toolkit mutex,
 * a mutex + condvar handoff, a real blocking call (pipe write + read,
 * nanosleep), a signal to itself, a spin long enough to be preempted, and
 * now and then fork + exec of /bin/true; then join, destroy.
 *
 * Checked: every work item is done exactly once (no worker lost or run
 * twice); at every step a worker is its server's current worker (the
 * invariant monitor); after the warm-up (the first fifth of the run) RSS
 * stays within 5 % and the number of open fds does not change.  Prints
 * the memory curve.  Loopback-free, bounded in time, stops by itself.
 */
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <umcg_sched.h>

#include "t_helpers.h"

#define SERVERS		3
#define WORKERS		24
#define ITEMS		40	/* per worker and round */
#define SAMPLES		10

static atomic_uint done[WORKERS * ITEMS];
static atomic_long ops, monitor_errors, call_errors, sig_seen;
static struct umcg_mutex m = UMCG_MUTEX_INITIALIZER;
static struct umcg_mutex hm = UMCG_MUTEX_INITIALIZER;
static struct umcg_cond hc = UMCG_COND_INITIALIZER;
static bool handoff_busy;
static long shared_counter;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&sig_seen, 1);
}

/* The invariant monitor: running user code, we are our server's current. */
static void monitor(void)
{
	struct umcg_worker *self = umcg_worker_self();

	for (int tries = 0; tries < 3; tries++) {
		struct umcg_server *a = umcg_worker_server(self);
		struct umcg_worker *cur = umcg_server_current(a);

		if (umcg_worker_server(self) != a)
			continue;	/* moved meanwhile: look again */
		if (cur != self)
			atomic_fetch_add(&monitor_errors, 1);
		return;
	}
}

static void spin_us(unsigned us)
{
	uint64_t end = umcg_clock_ns(CLOCK_MONOTONIC) + us * 1000ULL;

	while (umcg_clock_ns(CLOCK_MONOTONIC) < end)
		;
}

static void handoff(void)
{
	umcg_mutex_lock(&hm);
	while (handoff_busy)
		umcg_cond_wait(&hc, &hm);
	handoff_busy = true;
	umcg_mutex_unlock(&hm);
	umcg_worker_yield();
	umcg_mutex_lock(&hm);
	handoff_busy = false;
	umcg_cond_signal(&hc);
	umcg_mutex_unlock(&hm);
}

static void blocking_calls(void)
{
	int p[2];
	char c = 'x';
	struct timespec ts = { 0, 20000 };

	if (pipe(p) == 0) {
		if (write(p[1], &c, 1) != 1 || read(p[0], &c, 1) != 1)
			atomic_fetch_add(&call_errors, 1);
		close(p[0]);
		close(p[1]);
	}
	nanosleep(&ts, NULL);
}

static void fork_exec(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		atomic_fetch_add(&call_errors, 1);
}

static void *work(void *arg)
{
	unsigned idx = (unsigned)(uintptr_t)arg, seed = idx * 2654435761u;

	for (unsigned i = 0; i < ITEMS; i++) {
		seed = seed * 1103515245u + 12345u;
		monitor();
		switch ((seed >> 16) % 9) {
		case 0: umcg_worker_yield(); break;
		case 1: umcg_worker_sleep(50000); break;
		case 2:
			umcg_mutex_lock(&m);
			shared_counter++;
			umcg_mutex_unlock(&m);
			break;
		case 3: handoff(); break;
		case 4: blocking_calls(); break;
		case 5: raise(SIGUSR1); break;
		case 6: spin_us(300); break;	/* longer than a slice */
		case 7:
			if ((seed >> 8) % 32 == 0)
				fork_exec();
			break;
		default: spin_us(5); break;
		}
		monitor();
		atomic_fetch_add(&done[idx * ITEMS + i], 1);
		atomic_fetch_add(&ops, 1);
	}
	return NULL;
}

static int one_round(void)
{
	struct umcg_sched_attr sa;
	struct umcg_sched *s;
	struct umcg_worker *w[WORKERS];

	umcg_sched_attr_init(&sa);
	sa.nr_servers = SERVERS;
	sa.pin = 0;
	sa.policy = umcg_policy_slice;
	T_CHECK_OK(umcg_sched_create(&s, &sa));
	for (unsigned i = 0; i < WORKERS; i++)
		T_CHECK_OK(umcg_worker_spawn(s, &w[i], work, (void *)(uintptr_t)i, NULL));
	for (unsigned i = 0; i < WORKERS; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_destroy(s));
	for (unsigned i = 0; i < WORKERS * ITEMS; i++) {
		unsigned n = atomic_exchange(&done[i], 0);

		T_CHECK(n == 1, "work item %u done %u times", i, n);
	}
	return 0;
}

static long rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3;		/* ., .. and the DIR's own fd */
}

static int soak(double seconds)
{
	uint64_t start = umcg_clock_ns(CLOCK_MONOTONIC);
	uint64_t span = (uint64_t)(seconds * 1e9), warm = span / 5;
	long base_rss = 0, max_rss = 0;
	int base_fds = -1, rounds = 0, sample = 0;
	struct sigaction sa = { .sa_handler = on_usr1 };

	sigaction(SIGUSR1, &sa, NULL);
	for (;;) {
		uint64_t t = umcg_clock_ns(CLOCK_MONOTONIC) - start;

		if (t >= span)
			break;
		if (one_round())
			return 1;
		rounds++;
		t = umcg_clock_ns(CLOCK_MONOTONIC) - start;
		if (t >= warm && base_fds < 0) {
			base_rss = max_rss = rss_kb();
			base_fds = open_fds();
		}
		if (base_fds >= 0) {
			long r = rss_kb();
			int fds = open_fds();

			if (r > max_rss)
				max_rss = r;
			T_CHECK(fds == base_fds, "round %d: %d fds open, %d after warm-up",
				rounds, fds, base_fds);
		}
		if (t * SAMPLES / span >= (uint64_t)sample) {
			printf("soak: t=%5.1fs rounds=%d ops=%ld rss=%ldkB fds=%d\n",
			       t / 1e9, rounds, atomic_load(&ops), rss_kb(), open_fds());
			fflush(stdout);
			sample = (int)(t * SAMPLES / span) + 1;
		}
	}
	printf("soak: %.0fs, %d rounds, %ld work items, each done once; "
	       "signals %ld; RSS after warm-up %ld..%ld kB; fds %d\n",
	       seconds, rounds, atomic_load(&ops), atomic_load(&sig_seen),
	       base_rss, max_rss, base_fds);
	T_CHECK(atomic_load(&monitor_errors) == 0, "%ld monitor errors",
		atomic_load(&monitor_errors));
	T_CHECK(atomic_load(&call_errors) == 0, "%ld failed calls",
		atomic_load(&call_errors));
	T_CHECK(rounds >= 2, "only %d rounds", rounds);
	T_CHECK(base_rss > 0 && max_rss * 100 <= base_rss * 105,
		"RSS grew from %ld to %ld kB after warm-up", base_rss, max_rss);
	return 0;
}

static double duration = 3;

static int test_soak(void)
{
	return soak(duration);
}

int main(int argc, char **argv)
{
	const char *env = getenv("UMCG_SOAK_SECONDS");
	int nfail = 0;

	if (argc > 1)
		duration = atof(argv[1]);
	else if (env)
		duration = atof(env);
	if (!(duration > 0))
		duration = 3;
	t_init(argv[0], (unsigned int)duration + 120);
	T_RUN(test_soak, nfail);
	return t_finish(nfail);
}
