/* SPDX-License-Identifier: MIT */
/*
 * Description: umcg_worker_spawn() refuses a worker attribute it cannot
 * honour with -EINVAL and starts nothing: a stack smaller than the thread
 * library accepts (it used to start the worker on libc's default stack),
 * a server index outside the scheduler (it used to be taken modulo the
 * number of servers), a server index below -1.  A valid index still puts
 * the worker on that server.
 */
#include <stdlib.h>
#include <umcg_sched.h>

#include "t_helpers.h"

static atomic_int ran;

static void *note_run(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
	return NULL;
}

static void *report_server(void *arg)
{
	*(int *)arg = umcg_server_id(umcg_worker_server(umcg_worker_self()));
	return NULL;
}

static int create_two_servers(struct umcg_sched **s)
{
	struct umcg_sched_attr a;

	umcg_sched_attr_init(&a);
	a.nr_servers = 2;
	a.server_rt = 0;	/* the test needs no privileges */
	return umcg_sched_create(s, &a);
}

/* Spawn with @attr: must fail with -EINVAL and leave *@out untouched. */
static int expect_refused(struct umcg_sched *s, const struct umcg_worker_attr *attr,
			  const char *what)
{
	struct umcg_worker *w = (struct umcg_worker *)(uintptr_t)1;
	int r = umcg_worker_spawn(s, &w, note_run, NULL, attr);

	T_CHECK(r == -EINVAL, "%s: got %d, want -EINVAL", what, r);
	T_CHECK(w == (struct umcg_worker *)(uintptr_t)1, "%s: *out was written", what);
	return 0;
}

static int test_refused_attrs_start_nothing(void)
{
	struct umcg_sched *s;
	struct umcg_worker_attr a;
	int r;

	T_CHECK_OK(-create_two_servers(&s));
	atomic_store(&ran, 0);

	umcg_worker_attr_init(&a);
	a.stack_size = 1;
	if ((r = expect_refused(s, &a, "stack_size 1")))
		return r;

	umcg_worker_attr_init(&a);
	a.server = 99;
	if ((r = expect_refused(s, &a, "server 99 of 2")))
		return r;
	a.server = 2;
	if ((r = expect_refused(s, &a, "server 2 of 2")))
		return r;
	a.server = -2;
	if ((r = expect_refused(s, &a, "server -2")))
		return r;

	/* A pinning mode that does not exist: no scheduler at all. */
	for (int bad = -1; bad <= 3; bad += 4) {
		struct umcg_sched_attr sa;
		struct umcg_sched *none = (struct umcg_sched *)(uintptr_t)1;

		umcg_sched_attr_init(&sa);
		sa.pin_workers = bad;
		r = umcg_sched_create(&none, &sa);
		T_CHECK(r == -EINVAL, "pin_workers %d: got %d, want -EINVAL", bad, r);
		T_CHECK(none == (struct umcg_sched *)(uintptr_t)1,
			"pin_workers %d: *out was written", bad);
	}

	/* Nothing started: destroy has nobody to join, nothing ran. */
	T_CHECK_OK(umcg_sched_destroy(s));
	T_CHECK(atomic_load(&ran) == 0, "%d refused workers ran", atomic_load(&ran));
	return 0;
}

static int test_valid_attrs_still_work(void)
{
	struct umcg_sched *s;
	struct umcg_worker_attr a;
	struct umcg_worker *w;
	int where = -1;

	T_CHECK_OK(-create_two_servers(&s));
	umcg_worker_attr_init(&a);
	a.server = 1;
	T_CHECK_OK(-umcg_worker_spawn(s, &w, report_server, &where, &a));
	T_CHECK_OK(-umcg_worker_join(w, NULL));
	T_CHECK(where == 1, "asked for server 1, ran on %d", where);

	umcg_worker_attr_init(&a);
	a.stack_size = 256 * 1024;
	T_CHECK_OK(-umcg_worker_spawn(s, &w, report_server, &where, &a));
	T_CHECK_OK(-umcg_worker_join(w, NULL));
	T_CHECK_OK(umcg_sched_destroy(s));

	/* Every pinning mode runs a worker on the server it asked for. */
	for (int mode = UMCG_SCHED_PIN_NEVER; mode <= UMCG_SCHED_PIN_HOLD; mode++) {
		struct umcg_sched_attr sa;

		umcg_sched_attr_init(&sa);
		sa.nr_servers = 2;
		sa.server_rt = 0;
		sa.pin_workers = mode;
		T_CHECK_OK(-umcg_sched_create(&s, &sa));
		umcg_worker_attr_init(&a);
		a.server = 1;
		where = -1;
		T_CHECK_OK(-umcg_worker_spawn(s, &w, report_server, &where, &a));
		T_CHECK_OK(-umcg_worker_join(w, NULL));
		T_CHECK(where == 1, "pin_workers %d: ran on server %d", mode, where);
		T_CHECK_OK(umcg_sched_destroy(s));
	}
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_refused_attrs_start_nothing, nfail);
	T_RUN(test_valid_attrs_still_work, nfail);
	return t_finish(nfail);
}
