/* SPDX-License-Identifier: MIT */
/*
 * cpuburn: a compute burst that costs a given CPU time.  The loop is
 * calibrated once, at start-up, against the calling thread's own CPU
 * clock (CLOCK_THREAD_CPUTIME_ID), so a burst of N microseconds costs N
 * microseconds of CPU whatever the compiler made of the loop; time the
 * thread spent descheduled during calibration does not count.  The same
 * method as examples/demo.c and bench/peers/inproc.go, so every program
 * of `make peers` spends the same CPU per request.  C and C++.
 */
#ifndef CPUBURN_H
#define CPUBURN_H

#include <stdint.h>
#include <time.h>

static double cpuburn_iters_per_us = 1;
/* Keeps the loop: an atomic add (every thread adds; a plain or relaxed-store
 * sink would be a data race, or a store the compiler may drop). */
static uint64_t cpuburn_sink;

static inline uint64_t cpuburn_thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void cpuburn_iters(uint64_t n)
{
	uint64_t x = n | 1;

	for (uint64_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	__atomic_fetch_add(&cpuburn_sink, x & 1, __ATOMIC_RELAXED);
}

/* Doubles the loop until one run takes 50 ms of this thread's CPU. */
static inline void cpuburn_calibrate(void)
{
	uint64_t n = 1 << 20, t;

	cpuburn_iters(n);
	for (;;) {
		t = cpuburn_thread_ns();
		cpuburn_iters(n);
		t = cpuburn_thread_ns() - t;
		if (t > 50000000ull || n >= (1ull << 40))
			break;
		n *= 2;
	}
	cpuburn_iters_per_us = (double)n / ((double)t / 1000.0);
}

static inline void cpuburn(uint64_t us)
{
	cpuburn_iters((uint64_t)(cpuburn_iters_per_us * (double)us));
}

#endif /* CPUBURN_H */
