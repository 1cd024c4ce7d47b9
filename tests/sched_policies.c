/* SPDX-License-Identifier: MIT */
/*
 * Description: the scheduler toolkit's built-in policies.  fifo, global,
 * slice and prio keep yielding workers of one server in a strict rotation
 * (FIFO); an idle fifo server steals work queued on a busy one; slice
 * preempts a worker that never yields so another runs; prio runs the
 * highest class first (a new high worker preempts a running low one) and
 * takes turns within a class when it has a slice; a policy written in the
 * test sees every enqueue reason (new, woken, yielded, preempted, timed
 * out) and its running/exited callbacks.  No timing assertions:
 * each property is an ordering or a "this happened" (the watchdog catches
 * a worker that never gets to run).
 */
#include <stdlib.h>
#include <umcg_sched.h>

#include "t_helpers.h"

#define NW 5
#define ROUNDS 20

static struct {
	struct umcg_sched *s;
	atomic_int started;
	atomic_int go;
	atomic_int n;
	int log[NW * ROUNDS + 16];
	atomic_int flag[4];
	atomic_long count[4];
} ctx;

static void ctx_reset(void)
{
	memset(&ctx, 0, sizeof(ctx));
}

static void log_id(int id)
{
	int i = atomic_fetch_add(&ctx.n, 1);

	if (i < (int)(sizeof(ctx.log) / sizeof(ctx.log[0])))
		ctx.log[i] = id;
}

static struct umcg_sched *make(const struct umcg_policy_ops *ops, int nr,
			       const void *arg)
{
	struct umcg_sched_attr a;
	struct umcg_sched *s = NULL;

	umcg_sched_attr_init(&a);
	a.policy = ops;
	a.nr_servers = nr;
	a.policy_arg = arg;
	if (umcg_sched_create(&s, &a))
		return NULL;
	return s;
}

/* ---- FIFO rotation on one server ------------------------------------------ */

static void *rotator(void *arg)
{
	int id = (int)(intptr_t)arg;

	/* Everyone registered and queued before the rotation starts. */
	atomic_fetch_add(&ctx.started, 1);
	while (atomic_load(&ctx.started) < NW)
		umcg_worker_yield();
	for (int r = 0; r < ROUNDS; r++) {
		log_id(id);
		umcg_worker_yield();
	}
	return NULL;
}

static int check_rotation(const char *policy)
{
	int n = atomic_load(&ctx.n);

	T_CHECK(n == NW * ROUNDS, "%s: %d log entries, want %d", policy, n, NW * ROUNDS);
	/* Skip the first round: the barrier's last yields settle the order. */
	for (int i = NW; i + NW < n - NW; i++)
		T_CHECK(ctx.log[i] == ctx.log[i + NW],
			"%s: entry %d is worker %d but %d entries later worker %d:"
			" the rotation is not FIFO", policy, i, ctx.log[i], NW,
			ctx.log[i + NW]);
	return 0;
}

static int rotation(const struct umcg_policy_ops *ops, const void *arg)
{
	struct umcg_worker *w[NW];

	ctx_reset();
	ctx.s = make(ops, 1, arg);
	T_CHECK(ctx.s, "create %s", ops->name);
	for (int i = 0; i < NW; i++)
		T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[i], rotator, (void *)(intptr_t)i, NULL));
	for (int i = 0; i < NW; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	return check_rotation(ops->name);
}

static int test_fifo_rotation(void)
{
	return rotation(umcg_policy_fifo, NULL);
}

static int test_global_rotation(void)
{
	return rotation(umcg_policy_global, NULL);
}

static int test_slice_rotation(void)
{
	/* Slices far longer than a yield: the rotation is the yields'. */
	struct umcg_policy_slice_arg a = { .slice_ns = 1000 * T_MS };

	return rotation(umcg_policy_slice, &a);
}

static int test_prio_rotation_within_class(void)
{
	return rotation(umcg_policy_prio, NULL);
}

/* ---- Stealing --------------------------------------------------------------- */

/* The server worker 0 of the stealing case runs on: the busy one. */
static atomic_int busy_server;

static void *spin_then_note(void *arg)
{
	(void)arg;
	atomic_store(&busy_server,
		     umcg_server_id(umcg_worker_server(umcg_worker_self())));
	atomic_store(&ctx.flag[0], 1);
	/* Hold the CPU until somebody ran on the other server. */
	while (!atomic_load(&ctx.flag[1]))
		;
	return NULL;
}

static void *note_server(void *arg)
{
	(void)arg;
	if (umcg_server_id(umcg_worker_server(umcg_worker_self())) !=
	    atomic_load(&busy_server))
		atomic_store(&ctx.flag[1], 1);
	return NULL;
}

/*
 * Worker 0 keeps one server busy; three more are queued on that server and
 * can only run if the idle one steals them.  Worker 0 is asked for server 0,
 * but an idle server 1 may steal it before server 0 runs it (a busy host):
 * the busy server is the one it runs on.
 */
static int test_fifo_idle_server_steals(void)
{
	struct umcg_worker *w[4];
	struct umcg_worker_attr wa;
	struct umcg_server_stats st;
	int busy;

	ctx_reset();
	atomic_store(&busy_server, -1);
	ctx.s = make(umcg_policy_fifo, 2, NULL);
	T_CHECK(ctx.s, "create");
	umcg_worker_attr_init(&wa);
	wa.server = 0;
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[0], spin_then_note, NULL, &wa));
	while (!atomic_load(&ctx.flag[0]))
		t_msleep(1);	/* that server is busy from now on */
	busy = atomic_load(&busy_server);
	T_CHECK(busy == 0 || busy == 1, "worker 0 on server %d", busy);
	wa.server = busy;	/* everything else queued on the busy server */
	for (int i = 1; i < 4; i++)
		T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[i], note_server, NULL, &wa));
	for (int i = 0; i < 4; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_server_stats(ctx.s, 1 - busy, &st));
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	T_CHECK(atomic_load(&ctx.flag[1]), "no worker ran on server %d", 1 - busy);
	T_CHECK(st.steals > 0, "server %d stole nothing", 1 - busy);
	return 0;
}

/* ---- Preemption by time slice ------------------------------------------------- */

static void *spin_until_flag(void *arg)
{
	int me = (int)(intptr_t)arg;

	/* Never yields, never blocks: only a preemption lets the other run. */
	atomic_store(&ctx.flag[me], 1);
	while (!atomic_load(&ctx.flag[1 - me]))
		atomic_fetch_add_explicit(&ctx.count[me], 1, memory_order_relaxed);
	return NULL;
}

static int test_slice_preempts(void)
{
	struct umcg_policy_slice_arg a = { .slice_ns = 2 * T_MS };
	struct umcg_worker *w[2];
	struct umcg_server_stats st;

	ctx_reset();
	ctx.s = make(umcg_policy_slice, 1, &a);
	T_CHECK(ctx.s, "create");
	for (int i = 0; i < 2; i++)
		T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[i], spin_until_flag,
					     (void *)(intptr_t)i, NULL));
	for (int i = 0; i < 2; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_stats(ctx.s, &st));
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	T_CHECK(st.preemptions > 0, "both ran, but no preemption was counted");
	return 0;
}

/* ---- Priorities ------------------------------------------------------------------ */

static void *low_spinner(void *arg)
{
	(void)arg;
	atomic_store(&ctx.flag[0], 1);
	/* Runs until the high worker ran: it must preempt us. */
	while (!atomic_load(&ctx.flag[1]))
		;
	log_id(0);
	return NULL;
}

static void *high_marker(void *arg)
{
	(void)arg;
	log_id(1);
	atomic_store(&ctx.flag[1], 1);
	return NULL;
}

static int test_prio_high_preempts_low(void)
{
	struct umcg_policy_prio_arg a = { .nr_classes = 2, .preempt_on_wake = true };
	struct umcg_worker *lo, *hi;
	struct umcg_worker_attr wa;

	ctx_reset();
	ctx.s = make(umcg_policy_prio, 1, &a);
	T_CHECK(ctx.s, "create");
	umcg_worker_attr_init(&wa);
	wa.priority = 0;
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &lo, low_spinner, NULL, &wa));
	while (!atomic_load(&ctx.flag[0]))
		t_msleep(1);
	wa.priority = 1;
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &hi, high_marker, NULL, &wa));
	T_CHECK_OK(umcg_worker_join(hi, NULL));
	T_CHECK_OK(umcg_worker_join(lo, NULL));
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	T_CHECK(ctx.log[0] == 1 && ctx.log[1] == 0, "order %d,%d", ctx.log[0], ctx.log[1]);
	return 0;
}

/* A gate worker of the top class holds the only server while the others
 * queue; then the classes must run strictly from high to low. */
static void *gate(void *arg)
{
	(void)arg;
	atomic_store(&ctx.flag[0], 1);
	while (!atomic_load(&ctx.go))
		;
	return NULL;
}

static void *class_logger(void *arg)
{
	log_id(umcg_worker_priority(umcg_worker_self()));
	(void)arg;
	return NULL;
}

static int test_prio_strict_order(void)
{
	struct umcg_policy_prio_arg a = { .nr_classes = 4, .preempt_on_wake = false };
	struct umcg_worker *g, *w[9];
	struct umcg_worker_attr wa;
	struct umcg_server_stats st;

	ctx_reset();
	ctx.s = make(umcg_policy_prio, 1, &a);
	T_CHECK(ctx.s, "create");
	umcg_worker_attr_init(&wa);
	wa.priority = 3;
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &g, gate, NULL, &wa));
	while (!atomic_load(&ctx.flag[0]))
		t_msleep(1);	/* the gate holds the only server now */
	for (int i = 0; i < 9; i++) {
		wa.priority = i % 3;
		T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[i], class_logger, NULL, &wa));
	}
	/* Wait until all nine are queued behind the gate. */
	do {
		t_msleep(1);
		T_CHECK_OK(umcg_sched_stats(ctx.s, &st));
	} while (st.queued < 9);
	atomic_store(&ctx.go, 1);
	T_CHECK_OK(umcg_worker_join(g, NULL));
	for (int i = 0; i < 9; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	for (int i = 1; i < 9; i++)
		T_CHECK(ctx.log[i - 1] >= ctx.log[i],
			"class %d ran before class %d (position %d)", ctx.log[i - 1],
			ctx.log[i], i);
	return 0;
}

/* Two spinners of one class, each running until both have counted to a
 * thousand: only turns within the class (the slice) let both finish. */
static void *turn_taker(void *arg)
{
	int me = (int)(intptr_t)arg;

	while (atomic_load(&ctx.count[me]) < 1000 || atomic_load(&ctx.count[1 - me]) < 1000)
		atomic_fetch_add(&ctx.count[me], 1);
	return NULL;
}

static int test_prio_no_starvation_within_class(void)
{
	struct umcg_policy_prio_arg a = { .nr_classes = 2, .slice_ns = 1 * T_MS };
	struct umcg_worker *w[2];

	ctx_reset();
	ctx.s = make(umcg_policy_prio, 1, &a);
	T_CHECK(ctx.s, "create");
	for (int i = 0; i < 2; i++)
		T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[i], turn_taker, (void *)(intptr_t)i, NULL));
	for (int i = 0; i < 2; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	return 0;
}

/* ---- A policy written in the test: every reason and callback shows up -------- */

static struct {
	struct umcg_policy_lock lock;
	struct umcg_policy_queue q;
	atomic_int reasons[UMCG_ENQ__COUNT];
	atomic_int running, exited;
} cp;

static void cp_enqueue(struct umcg_server *srv, struct umcg_worker *w,
		       enum umcg_enqueue_reason why)
{
	(void)srv;
	atomic_fetch_add(&cp.reasons[why], 1);
	umcg_policy_lock(&cp.lock);
	umcg_policy_queue_push(&cp.q, w);
	umcg_policy_unlock(&cp.lock);
}

static struct umcg_worker *cp_pick(struct umcg_server *srv)
{
	struct umcg_worker *w;

	(void)srv;
	umcg_policy_lock(&cp.lock);
	w = umcg_policy_queue_pop(&cp.q);
	umcg_policy_unlock(&cp.lock);
	return w;
}

/* Only priority-1 workers have a slice; their tick always preempts. */
static uint64_t cp_slice_ns(struct umcg_server *srv, struct umcg_worker *w)
{
	(void)srv;
	return umcg_worker_priority(w) == 1 ? 1 * T_MS : 0;
}

static bool cp_tick(struct umcg_server *srv, struct umcg_worker *w, uint64_t ran)
{
	(void)srv;
	(void)w;
	(void)ran;
	return true;
}

static void cp_running(struct umcg_server *srv, struct umcg_worker *w)
{
	(void)srv;
	(void)w;
	atomic_fetch_add(&cp.running, 1);
}

static void cp_exited(struct umcg_server *srv, struct umcg_worker *w)
{
	(void)srv;
	(void)w;
	atomic_fetch_add(&cp.exited, 1);
}

static const struct umcg_policy_ops custom_ops = {
	.name = "custom",
	.enqueue = cp_enqueue,
	.pick = cp_pick,
	.slice_ns = cp_slice_ns,
	.tick = cp_tick,
	.running = cp_running,
	.exited = cp_exited,
};

static void *every_reason(void *arg)
{
	struct timespec ts = { 0, 1000000 };

	(void)arg;
	umcg_worker_yield();			/* YIELDED */
	nanosleep(&ts, NULL);			/* a block: WOKEN */
	umcg_worker_sleep(1 * T_MS);		/* TIMEDOUT */
	return NULL;
}

static void *until_preempted(void *arg)
{
	(void)arg;
	while (!atomic_load(&cp.reasons[UMCG_ENQ_PREEMPTED]))
		;				/* PREEMPTED at the slice end */
	return NULL;
}

static int test_custom_policy_sees_every_reason(void)
{
	struct umcg_worker *w[2];
	struct umcg_worker_attr wa;

	memset(&cp, 0, sizeof(cp));
	ctx_reset();
	ctx.s = make(&custom_ops, 1, NULL);
	T_CHECK(ctx.s, "create");
	umcg_worker_attr_init(&wa);
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[0], every_reason, NULL, &wa));
	wa.priority = 1;
	T_CHECK_OK(umcg_worker_spawn(ctx.s, &w[1], until_preempted, NULL, &wa));
	for (int i = 0; i < 2; i++)
		T_CHECK_OK(umcg_worker_join(w[i], NULL));
	T_CHECK_OK(umcg_sched_destroy(ctx.s));
	for (int r = 0; r < UMCG_ENQ__COUNT; r++)
		T_CHECK(atomic_load(&cp.reasons[r]) > 0, "no enqueue with reason %s",
			umcg_policy_reason_name((enum umcg_enqueue_reason)r));
	T_CHECK(atomic_load(&cp.reasons[UMCG_ENQ_NEW]) == 2, "NEW %d times",
		atomic_load(&cp.reasons[UMCG_ENQ_NEW]));
	T_CHECK(atomic_load(&cp.exited) == 2, "exited %d", atomic_load(&cp.exited));
	T_CHECK(atomic_load(&cp.running) >= 5, "running %d", atomic_load(&cp.running));
	return 0;
}

static int test_policy_by_name(void)
{
	T_CHECK(umcg_policy_by_name("fifo") == umcg_policy_fifo, "fifo");
	T_CHECK(umcg_policy_by_name("global") == umcg_policy_global, "global");
	T_CHECK(umcg_policy_by_name("prio") == umcg_policy_prio, "prio");
	T_CHECK(umcg_policy_by_name("slice") == umcg_policy_slice, "slice");
	T_CHECK(umcg_policy_by_name("nope") == NULL, "nope");
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 100);
	T_RUN(test_policy_by_name, nfail);
	T_RUN(test_fifo_rotation, nfail);
	T_RUN(test_global_rotation, nfail);
	T_RUN(test_slice_rotation, nfail);
	T_RUN(test_prio_rotation_within_class, nfail);
	T_RUN(test_fifo_idle_server_steals, nfail);
	T_RUN(test_slice_preempts, nfail);
	T_RUN(test_prio_high_preempts_low, nfail);
	T_RUN(test_prio_strict_order, nfail);
	T_RUN(test_prio_no_starvation_within_class, nfail);
	T_RUN(test_custom_policy_sees_every_reason, nfail);
	return t_finish(nfail);
}
