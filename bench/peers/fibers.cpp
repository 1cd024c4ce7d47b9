// SPDX-License-Identifier: MIT
/*
 * fibers.cpp: examples/demo.c's in-process workload on Boost.Fiber, the
 * fiber library a C++ programmer would pick: N carrier threads (N = CPUs)
 * running fibers under Boost's work-stealing scheduler.  Fibers switch
 * only where they wait on a fiber primitive (here, a channel); a plain
 * blocking call -- the pread, the fsync and the backend sleep every
 * request makes -- blocks the carrier thread and every fiber queued on it.
 * That is the point of this peer: it is what M:N without kernel help does
 * with code that blocks.
 *
 * The same requests as the demo (open-loop Poisson arrivals from one plain
 * generator thread, 80 % latency-critical, compute -> pread + fsync ->
 * sleep -> compute), the same 16 serving fibers per CPU, a quarter of them
 * on the latency-critical queue; bursts calibrated by thread CPU time
 * (cpuburn.h).  Prints: RESULT fibers throughput= util= lc_p50_us= ...
 */
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <getopt.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <vector>
#include <boost/fiber/all.hpp>
#include "cpuburn.h"

namespace {

enum { LC = 0, BATCH = 1 };

struct options {
	double load = 0.93, rate = 0, duration = 5, warmup = 0.3, mix = 0.8;
	uint64_t burst_us[2] = { 250, 4000 }, sleep_us[2] = { 2000, 10000 };
	int workers = 0;
	std::string name = "fibers", lat_out;
} opt;

struct req {
	uint64_t due = 0;
	std::atomic<uint64_t> done{ 0 };
	int cls = LC;
};

using channel = boost::fibers::buffered_channel<req *>;

uint64_t now_ns()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t process_cpu_ns()
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

void sleep_abs(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000ull), (long)(t % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR)
		;
}

struct run {
	int fd = -1;
	uint64_t t0 = 0, t_warm = 0, t_end = 0;
	std::atomic<uint64_t> work_ns{ 0 };
};

void serve(run &r, req *q, char *buf)
{
	uint64_t b = opt.burst_us[q->cls], t;
	struct timespec sl = { (time_t)(opt.sleep_us[q->cls] / 1000000),
			       (long)(opt.sleep_us[q->cls] % 1000000) * 1000 };
	off_t off = (off_t)((q->due >> 10) % 256) * 4096;

	t = now_ns();
	cpuburn(b);
	if (t >= r.t_warm && t < r.t_end)
		r.work_ns += b * 1000;
	/* Plain blocking calls: they block the carrier thread. */
	if (pread(r.fd, buf, 4096, off) < 0 || fsync(r.fd))
		abort();
	nanosleep(&sl, nullptr);
	t = now_ns();
	cpuburn(b);
	if (t >= r.t_warm && t < r.t_end)
		r.work_ns += b * 1000;
	q->done.store(now_ns());
}

int parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "load", 1, 0, 'L' }, { "rate", 1, 0, 'r' }, { "duration", 1, 0, 'd' },
		{ "warmup", 1, 0, 'W' }, { "mix", 1, 0, 'm' }, { "lc-burst", 1, 0, 1 },
		{ "batch-burst", 1, 0, 2 }, { "lc-sleep", 1, 0, 3 }, { "batch-sleep", 1, 0, 4 },
		{ "workers", 1, 0, 'w' }, { "name", 1, 0, 'n' }, { "lat-out", 1, 0, 'o' },
		{ "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "L:r:d:W:m:w:n:o:h", lo, nullptr)) != -1) {
		switch (c) {
		case 'L': opt.load = atof(optarg); break;
		case 'r': opt.rate = atof(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'W': opt.warmup = atof(optarg); break;
		case 'm': opt.mix = atof(optarg); break;
		case 1: opt.burst_us[LC] = strtoull(optarg, nullptr, 0); break;
		case 2: opt.burst_us[BATCH] = strtoull(optarg, nullptr, 0); break;
		case 3: opt.sleep_us[LC] = strtoull(optarg, nullptr, 0); break;
		case 4: opt.sleep_us[BATCH] = strtoull(optarg, nullptr, 0); break;
		case 'w': opt.workers = atoi(optarg); break;
		case 'n': opt.name = optarg; break;
		case 'o': opt.lat_out = optarg; break;
		case 'h':
			printf("usage: fibers [--load F|--rate R] [--duration S] [--warmup S] [--mix F]\n"
			       "  [--lc-burst US] [--batch-burst US] [--lc-sleep US] [--batch-sleep US]\n"
			       "  [--workers N] [--name NAME] [--lat-out FILE]   (the demo's defaults)\n");
			exit(0);
		default: return -1;
		}
	}
	return opt.duration > 0 && opt.mix >= 0 && opt.mix <= 1 && opt.load > 0 ? 0 : -1;
}

uint64_t pct(const std::vector<uint64_t> &v, double p)
{
	return v.empty() ? 0 : v[(size_t)((double)(v.size() - 1) * p)];
}

} // namespace

int main(int argc, char **argv)
{
	cpu_set_t set;
	run r;

	if (parse(argc, argv))
		return 2;
	sched_getaffinity(0, sizeof(set), &set);
	const int ncpu = CPU_COUNT(&set);
	if (!opt.workers)
		opt.workers = 16 * ncpu;
	double mean_cpu_us = 2.0 * (opt.mix * (double)opt.burst_us[LC] +
				    (1 - opt.mix) * (double)opt.burst_us[BATCH]);
	if (!opt.rate)
		opt.rate = opt.load * ncpu * 1e6 / mean_cpu_us;

	char dir[] = "/tmp/umcg-peer-fibers-XXXXXX", path[64];
	static char block[1 << 20];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/data", dir);
	r.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	unlink(path);
	rmdir(dir);
	memset(block, 0xa5, sizeof(block));
	if (r.fd < 0 || write(r.fd, block, sizeof(block)) != (ssize_t)sizeof(block) || fsync(r.fd)) {
		perror("fibers: data file");
		return 1;
	}
	cpuburn_calibrate();

	size_t cap = (size_t)(opt.rate * (opt.duration + opt.warmup) * 1.5) + 1000, chcap = 2;
	while (chcap <= cap)
		chcap *= 2;
	std::vector<req> reqs(cap);
	channel ch_lc(chcap), ch_batch(chcap);
	channel *ch[2] = { &ch_lc, &ch_batch };
	int nr_lc = std::max(1, opt.workers / 4);

	/*
	 * N carriers, each installs work stealing and starts its share of
	 * fibers.  A stealer picks a random victim among all N: none may
	 * look before every carrier has registered (a plain barrier, before
	 * any fiber exists).
	 */
	pthread_barrier_t ready;
	pthread_barrier_init(&ready, nullptr, (unsigned)ncpu);
	std::vector<std::thread> carriers;
	for (int t = 0; t < ncpu; t++)
		carriers.emplace_back([&, t] {
			boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(
				(uint32_t)ncpu, true);
			pthread_barrier_wait(&ready);
			std::vector<boost::fibers::fiber> fibers;
			for (int i = t; i < opt.workers; i += ncpu) {
				channel *c = ch[i < nr_lc ? LC : BATCH];
				fibers.emplace_back([&r, c] {
					char buf[4096];
					req *q;

					while (c->pop(q) == boost::fibers::channel_op_status::success)
						serve(r, q, buf);
				});
			}
			for (auto &f : fibers)
				f.join();
		});

	r.t0 = now_ns() + 20000000ull;
	r.t_warm = r.t0 + (uint64_t)(opt.warmup * 1e9);
	r.t_end = r.t_warm + (uint64_t)(opt.duration * 1e9);
	std::atomic<size_t> issued{ 0 };
	uint64_t gen_cpu_warm = 0, gen_cpu_end = 0, cpu_warm = 0, cpu_end = 0;
	std::thread gen([&] {
		uint64_t seed = 0x9e3779b97f4a7c15ull, due = r.t0;
		bool warm_seen = false;

		for (;;) {
			due += (uint64_t)(-log(1.0 - rng_unit(&seed)) / opt.rate * 1e9);
			size_t i = issued.load();
			if (due >= r.t_end || i >= cap)
				break;
			sleep_abs(due);
			if (!warm_seen && now_ns() >= r.t_warm) {
				warm_seen = true;
				gen_cpu_warm = cpuburn_thread_ns();
				cpu_warm = process_cpu_ns();
			}
			reqs[i].due = due;
			reqs[i].cls = rng_unit(&seed) < opt.mix ? LC : BATCH;
			issued.store(i + 1);
			ch[reqs[i].cls]->push(&reqs[i]);
		}
		if (!warm_seen) {
			gen_cpu_warm = cpuburn_thread_ns();
			cpu_warm = process_cpu_ns();
		}
		sleep_abs(r.t_end);
		gen_cpu_end = cpuburn_thread_ns();
		cpu_end = process_cpu_ns();
	});
	gen.join();
	/* Drain: what was issued gets up to a second to finish. */
	uint64_t cut = r.t_end + 1000000000ull;
	size_t n = issued.load();
	for (size_t i = 0; i < n;) {
		if (reqs[i].done.load()) {
			i++;
			continue;
		}
		if (now_ns() >= cut)
			break;
		usleep(10000);
	}
	cut = now_ns();

	std::vector<uint64_t> lat[2];
	size_t done_in = 0, unfinished = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t d = reqs[i].done.load();

		if (d >= r.t_warm && d < r.t_end)
			done_in++;
		if (reqs[i].due < r.t_warm)
			continue;
		if (!d) {
			unfinished++;
			d = cut;
		}
		lat[reqs[i].cls].push_back((d - reqs[i].due) / 1000);
	}
	ch_lc.close();
	ch_batch.close();
	for (auto &t : carriers)
		t.join();

	double win = (double)(r.t_end - r.t_warm) / 1e9;
	double util = (double)(cpu_end - cpu_warm - (gen_cpu_end - gen_cpu_warm)) / 1e9 / win / ncpu;
	FILE *f = opt.lat_out.empty() ? nullptr : fopen(opt.lat_out.c_str(), "a");
	static const char *const names[2] = { "lc", "batch" };
	for (int c = 0; c < 2; c++) {
		std::sort(lat[c].begin(), lat[c].end());
		for (size_t i = 0; f && i < lat[c].size(); i++)
			fprintf(f, "%s %s %llu\n", opt.name.c_str(), names[c],
				(unsigned long long)lat[c][i]);
	}
	if (f)
		fclose(f);
	fprintf(stderr, "fibers: %d carriers (work stealing), %.0f req/s offered, %d fibers, "
		"work=%.3f, unfinished=%zu\n", ncpu, opt.rate, opt.workers,
		(double)r.work_ns.load() / 1e9 / win / ncpu, unfinished);
	printf("RESULT %s throughput=%.1f util=%.3f lc_p50_us=%llu lc_p99_us=%llu "
	       "batch_p50_us=%llu batch_p99_us=%llu\n",
	       opt.name.c_str(), (double)done_in / win, util,
	       (unsigned long long)pct(lat[LC], 0.5), (unsigned long long)pct(lat[LC], 0.99),
	       (unsigned long long)pct(lat[BATCH], 0.5), (unsigned long long)pct(lat[BATCH], 0.99));
	close(r.fd);
	return 0;
}
