/* SPDX-License-Identifier: MIT */
/*
 * USDT trace points: one per transition libumcg makes or sees, for perf,
 * bpftrace and the tools/umcg-top script (docs/tracing.md lists them with
 * their arguments).
 *
 * A probe is a single nop in the code plus an ELF note naming its address
 * and where its arguments live; nothing runs unless a tracer has put a
 * breakpoint on that nop.  The arguments are values the code at hand
 * already holds (tids, ids), so an untraced probe costs no memory access
 * beyond what the code did anyway.  No semaphores: a tracer needs no
 * write access to the process.
 *
 * Built with <sys/sdt.h> (systemtap-sdt-dev) when the Makefile finds it
 * (UMCG_USDT=1); without it every UMCG_TRACE() compiles to nothing.
 */
#ifndef UMCG_TRACE_H
#define UMCG_TRACE_H

#if defined(UMCG_USDT) && UMCG_USDT
#define SDT_USE_VARIADIC 1
#include <sys/sdt.h>
#define UMCG_TRACE(name, ...)	STAP_PROBEV(umcg, name, ##__VA_ARGS__)
#else
#define UMCG_TRACE(name, ...)	do { } while (0)
#endif

#endif /* UMCG_TRACE_H */
