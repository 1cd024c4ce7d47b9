// SPDX-License-Identifier: MIT
/*
 * Description: the public headers work from C++.  <umcg.h> and
 * <umcg_sched.h> compile with g++/clang++ -std=c++17 and -std=c++20 under
 * -Wall -Wextra -Werror (the Makefile builds this file with both), and a
 * C++ program drives the toolkit through them: workers on two servers
 * share a umcg_mutex, hand a token round with a umcg_cond, and read their
 * task state with the inline helpers.  The result is checked exactly.
 */
#include <umcg.h>
#include <umcg_sched.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		std::fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);	\
		std::fprintf(stderr, __VA_ARGS__);			\
		std::fputc('\n', stderr);				\
		std::exit(1);						\
	}								\
} while (0)

namespace {

constexpr int kWorkers = 4;
constexpr int kRounds = 500;

struct Shared {
	umcg_mutex mutex = UMCG_MUTEX_INITIALIZER;
	umcg_cond turn_changed = UMCG_COND_INITIALIZER;
	int turn = 0;		// whose turn it is, under mutex
	long passes = 0;	// under mutex
	std::atomic<int> inside{0};
	std::atomic<bool> overlap{false};
};

Shared shared;

struct Arg {
	int id;
};

void *pass_token(void *p)
{
	const int me = static_cast<Arg *>(p)->id;

	for (int i = 0; i < kRounds; i++) {
		umcg_mutex_lock(&shared.mutex);
		if (shared.inside.fetch_add(1) != 0)
			shared.overlap = true;
		while (shared.turn != me) {
			shared.inside.fetch_sub(1);
			umcg_cond_wait(&shared.turn_changed, &shared.mutex);
			shared.inside.fetch_add(1);
		}
		shared.turn = (me + 1) % kWorkers;
		shared.passes++;
		shared.inside.fetch_sub(1);
		umcg_cond_broadcast(&shared.turn_changed);
		umcg_mutex_unlock(&shared.mutex);
	}
	return nullptr;
}

}  // namespace

int main()
{
	// The inline helpers over shared memory, from C++.
	umcg_task t;
	umcg_task_init_worker(&t, 1234);
	CHECK(umcg_task_state(&t) == UMCG_TASK_BLOCKED, "init_worker state %u",
	      umcg_task_state(&t));
	CHECK(t.server_tid == 1234 && t.next_tid == 0, "init_worker fields");
	CHECK(umcg_task_cas_state(&t, UMCG_TASK_BLOCKED, UMCG_TASK_RUNNABLE),
	      "cas from the current state failed");
	CHECK(!umcg_task_cas_state(&t, UMCG_TASK_BLOCKED, UMCG_TASK_RUNNING),
	      "cas from a stale state succeeded");
	CHECK(umcg_runnable_take_all(&t) == nullptr, "empty list not empty");

	umcg_sched_attr attr;
	umcg_sched_attr_init(&attr);
	attr.policy = umcg_policy_by_name("fifo");
	attr.nr_servers = 2;
	umcg_sched *s = nullptr;
	int err = umcg_sched_create(&s, &attr);
	CHECK(err == 0, "umcg_sched_create: %d", err);

	std::vector<Arg> args(kWorkers);
	std::vector<umcg_worker *> workers(kWorkers);
	for (int i = 0; i < kWorkers; i++) {
		args[i].id = i;
		err = umcg_worker_spawn(s, &workers[i], pass_token, &args[i], nullptr);
		CHECK(err == 0, "umcg_worker_spawn: %d", err);
	}
	for (umcg_worker *w : workers) {
		err = umcg_worker_join(w, nullptr);
		CHECK(err == 0, "umcg_worker_join: %d", err);
	}
	umcg_server_stats st;
	CHECK(umcg_sched_stats(s, &st) == 0, "umcg_sched_stats");
	CHECK(st.switches > 0, "no switch counted");
	CHECK(umcg_sched_destroy(s) == 0, "umcg_sched_destroy");

	CHECK(!shared.overlap, "two workers inside the mutex at once");
	CHECK(shared.passes == long(kWorkers) * kRounds, "passes %ld, want %d",
	      shared.passes, kWorkers * kRounds);
	std::printf("cxx_toolkit: %ld token passes on %s\n", shared.passes,
		    umcg_backend_name());
	return 0;
}
