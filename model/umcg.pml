/*
 * SPDX-License-Identifier: MIT
 *
 * A Promela model of the lock-free core shared by the emul backend
 * (src/emul/emul.c, block.c, preempt.c) and the scheduler toolkit
 * (toolkit/sched.c, toolkit/worker.c): NS servers, NW workers, one
 * toolkit mutex.  `make model` checks it with spin (docs/reliability.md).
 *
 * Every `atomic`/`d_step` block is one atomic instruction of the C code
 * (a cmpxchg, an exchange, a load or a store), or a region the C code runs
 * under a registry or queue lock; each names the function it stands for.
 * Sleeping on a futex is a blocking guard on the state word: the emul
 * backend's sleepers count makes a FUTEX_WAKE reach every sleeper whose
 * word changed, so "sleep until the word says RUNNING" is exact.
 *
 * Abstractions (the reasons are in docs/reliability.md): a runnable list
 * and a policy queue are bit sets (their order does not matter to any
 * property checked); the policy is FIFO-free "any queued worker"; servers
 * do not balance or steal; a slice timeout or a park timeout may fire at
 * any time (nondeterminism covers every timing); a worker makes OPS
 * choices among block, yield, sleep and lock+unlock, then exits.
 *
 * Mutants (-D at spin -a time, `make model-mutants`): each removes one
 * step of the protocol, and spin must then find the bug it guards against.
 *   MUTANT_NO_RECHECK   phase_wait() skips the re-check after announcing
 *   MUTANT_NO_COND_WAIT do_wait() stores RUNNABLE instead of the cmpxchg
 *                       from RUNNABLE|COND_WAIT
 *   MUTANT_PARK_ORDER   park() clears the server's owner before its
 *                       next_tid (the order the model found wrong)
 */

#define NS 2
#ifndef NW
#define NW 3
#endif
#ifndef OPS
#define OPS 1		/* rounds of the script (or FREE_OPS choices) */
#endif
#define NOBODY 255
#define BIT(w) (1 << (w))

/* UMCG_TASK_* */
#define T_NONE     0
#define T_RUNNING  1
#define T_RUNNABLE 2
#define T_BLOCKED  3

/* struct umcg_thread.parked (emul.h) */
#define P_UNPARKED 0
#define P_PARKED   1
#define P_QUEUING  2
#define P_QUEUED   3

/* Workers: struct umcg_task state (state + TF_COND_WAIT + TF_PREEMPT). */
byte st[NW];
bit  cw[NW];
bit  pre[NW];
byte wsrv[NW];		/* server_tid (and umcg_worker.server) */
byte parked[NW];	/* umcg_thread.parked */
bit  tkparked[NW];	/* umcg_worker.tk_state == TK_W_PARKED */
byte grants[NW];	/* ghost: RUNNABLE -> RUNNING by others, this wait */
bit  got[NW];		/* umcg_worker.got_mutex */

/* Servers */
byte sst[NS];		/* RUNNING or RUNNABLE */
bit  scw[NS];		/* TF_COND_WAIT */
byte list[NS];		/* runnable_workers_ptr: the LIFO list, as a set */
byte rq[NS];		/* the policy's queue */
byte owner[NS];		/* umcg_server.owner */
byte snext[NS];		/* next_tid: the worker named, or NOBODY */
bit  snextrun[NS];	/* next_tid & UMCG_TID_RUNNING */

/* The scheduler (umcg_sched) */
byte live = NW;
#ifndef SLICES
#define SLICES 1
#endif
byte slices = SLICES;		/* slice timeouts left in the run: bounded */
bit  exiting;
byte sdone;

/* One umcg_mutex: 0 free, 1 locked, 2 waiters (M_*); waiters as a set. */
byte mstate;
byte mowner = NOBODY;
byte mwait;

/* ---- invariants ----------------------------------------------------------- */

/* At most one worker per server is RUNNING (checked after every move to
 * RUNNING: the only way the count grows). */
inline check_one_running(s)
{
	assert((st[0] == T_RUNNING && wsrv[0] == s) +
	       (st[1] == T_RUNNING && wsrv[1] == s) +
	       (NW > 2 && st[NW - 1] == T_RUNNING && wsrv[NW - 1] == s) <= 1)
}

/* wake_task_locked(): RUNNABLE (any flags) -> RUNNING, by another task. */
inline wake_worker(w, ok)
{
	if
	:: st[w] == T_RUNNABLE ->
		st[w] = T_RUNNING; cw[w] = 0; pre[w] = 0;
		grants[w]++;
		assert(grants[w] == 1);		/* run exactly once per wait */
		check_one_running(wsrv[w]);
		ok = 1
	:: else -> ok = 0
	fi
}

/* wake_task_locked() on a server (emul_wake_server_of(), push_self(),
 * kick_checked()). */
inline wake_server(s)
{
	d_step {
		if
		:: sst[s] == T_RUNNABLE -> sst[s] = T_RUNNING; scw[s] = 0
		:: else -> skip
		fi
	}
}

/* force_running() on a worker's own word. */
inline force_running(w)
{
	d_step { st[w] = T_RUNNING; cw[w] = 0; pre[w] = 0; check_one_running(wsrv[w]) }
}

/* A worker back in user code after a wait: it runs once, from nowhere. */
inline check_resumed(w)
{
	assert(st[w] == T_RUNNING);
	assert(((list[0] | list[1] | rq[0] | rq[1]) & BIT(w)) == 0)
}

/* ---- the worker side ------------------------------------------------------- */

/* push_self(): push on the server's list (cmpxchg), then wake it. */
inline push_self(w)
{
	d_step { list[wsrv[w]] = list[wsrv[w]] | BIT(w) }
	wake_server(wsrv[w])
}

/* sleep_until_running() */
inline sleep_until_running(w)
{
	(st[w] == T_RUNNING)
}

/* leave_begin() (toolkit/worker.c): RUNNING -> RUNNABLE|COND_WAIT. */
inline leave_begin(w)
{
	d_step { st[w] = T_RUNNABLE; cw[w] = 1; pre[w] = 0; grants[w] = 0 }
}

/* leave_cancel() */
inline leave_cancel(w)
{
	force_running(w)
}

/*
 * do_wait()'s common start: RUNNABLE|COND_WAIT -> RUNNABLE by cmpxchg, or
 * EAGAIN (a wake-up came first, the state says RUNNING).
 */
inline cond_wait_enter(w, ok)
{
	d_step {
		if
		:: st[w] == T_RUNNABLE && cw[w] -> cw[w] = 0; ok = 1
		:: else -> ok = 0
		fi
	}
}

/* emul_handle_preempt(): RUNNING|TF_PREEMPT -> RUNNABLE, enqueue, wait.
 * The signal handler, or leave_library() for a deferred one. */
inline maybe_preempted(w)
{
	if
	:: atomic { st[w] == T_RUNNING && pre[w] -> st[w] = T_RUNNABLE; pre[w] = 0; grants[w] = 0 }
		push_self(w);
		sleep_until_running(w);
		check_resumed(w)
	:: else -> skip
	fi
}

/* umcg_sys_enter() ... the call ... umcg_sys_exit() */
inline block_in_call(w)
{
	/* emul_mark_blocked(): RUNNING -> BLOCKED, TF_PREEMPT dropped */
	d_step {
		if
		:: st[w] == T_RUNNING -> st[w] = T_BLOCKED; pre[w] = 0; grants[w] = 0; blocked = 1
		:: else -> blocked = 0
		fi
	}
	if
	:: blocked ->
		wake_server(wsrv[w]);		/* emul_wake_server_of() */
		/* emul_return_from_block(): BLOCKED -> RUNNABLE, queue, wait */
		d_step { st[w] = T_RUNNABLE }
		push_self(w);
		sleep_until_running(w);
		check_resumed(w)
	:: else -> skip
	fi
}

/* umcg_worker_yield(): leave_begin(), umcg_wait(0, 0) -> emul_enqueue_self() */
inline yield(w, ok)
{
	leave_begin(w);
	cond_wait_enter(w, ok);
	if
	:: ok -> push_self(w); sleep_until_running(w)
	:: else -> force_running(w)
	fi;
	check_resumed(w)
}

/*
 * park() (toolkit/worker.c) and umcg_wait() with a deadline (do_wait(),
 * worker_timed_out()).  @timed: umcg_worker_sleep(); else the untimed
 * park of a mutex waiter.
 */
inline park(w, timed, ok, s)
{
	s = wsrv[w];			/* park(): srv read once */
	tkparked[w] = 1;		/* tk_set_wstate(TK_W_PARKED) */
#ifdef MUTANT_PARK_ORDER
	owner[s] = NOBODY;		/* the order before the model found it */
	d_step { snext[s] = NOBODY; snextrun[s] = 0 }
#else
	/* set_next(srv, 0) before owner = NULL: once owner is NULL the
	 * server may pick and name another worker in next_tid */
	d_step { snext[s] = NOBODY; snextrun[s] = 0 }
	owner[s] = NOBODY;		/* atomic_store(&srv->owner, NULL) */
#endif
	wake_server(s);			/* umcg_kick(server) */
	parked[w] = P_PARKED;		/* do_wait(): parked before RUNNABLE */
	cond_wait_enter(w, ok);
	if
	:: !ok -> parked[w] = P_UNPARKED; force_running(w)
	:: ok ->
		if
		:: sleep_until_running(w)
		:: timed && st[w] != T_RUNNING ->	/* the futex timeout */
			/* worker_timed_out(): PARKED -> QUEUING by cmpxchg */
			d_step {
				if
				:: parked[w] == P_PARKED -> parked[w] = P_QUEUING; ok = 1
				:: else -> ok = 0
				fi
			}
			if
			:: ok ->
				push_self(w);
				parked[w] = P_QUEUED;
				sleep_until_running(w);
				parked[w] = P_UNPARKED
			:: else -> sleep_until_running(w)	/* a claim won */
			fi
		fi
	fi;
	check_resumed(w);
	tkparked[w] = 0			/* resumed() */
}

/*
 * run_next_locked() for worker @self naming worker @t (switch_to()):
 * may_run_worker() claims a parked @t; anything else is EAGAIN, since a
 * worker is never @t's server.
 */
inline name_worker(self, t, ok)
{
	d_step {
		if
		:: parked[t] == P_PARKED -> parked[t] = P_UNPARKED; claimed = 1
		:: else -> claimed = 0
		fi
	}
	if
	:: claimed ->
		d_step {
			wake_worker(t, ok);
			if :: !ok -> parked[t] = P_PARKED :: else -> skip fi
		}
	:: else -> ok = 0
	fi
}

/* switch_to(self, t, false) (toolkit/worker.c), after leave_begin(). */
inline switch_to(w, t, ok, s, ts)
{
	s = wsrv[w];
	do
	:: !tkparked[t] ->			/* not parked yet: let it */
		leave_cancel(w);
		maybe_preempted(w);		/* sched_yield(): user code */
		/* the loop changes nothing until t says PARKED: a wait */
		(tkparked[t] || pre[w]);
		maybe_preempted(w);
		leave_begin(w)
	:: tkparked[t] ->
		ts = wsrv[t];
		wsrv[t] = s;			/* t is parked: on no list */
		owner[s] = t;
		d_step { snext[s] = t; snextrun[s] = 1 }
		/* umcg_wait(0, 0) with next_tid = t: do_wait() */
		cond_wait_enter(w, ok);
		if
		:: ok -> name_worker(w, t, ok)
		:: else -> skip
		fi;
		if
		:: ok ->				/* a yield: queue ourselves */
			push_self(w);
			sleep_until_running(w);
			check_resumed(w);
			break
		:: else ->				/* EAGAIN: still our CPU */
			force_running(w);
			wsrv[t] = ts;
			owner[s] = w;
			d_step { snext[s] = w; snextrun[s] = 1 }
			maybe_preempted(w);
			/* retrying before t's do_wait() says PARKED fails the same way */
			(parked[t] == P_PARKED || pre[w]);
			maybe_preempted(w);
			leave_begin(w)
		fi
	od
}

/* umcg_mutex_lock() */
inline mutex_lock(w, ok, s)
{
	d_step {
		if
		:: mstate == 0 -> mstate = 1; mine = 1
		:: else -> mine = 0
		fi
	}
	if
	:: mine -> mowner = w
	:: else ->
		leave_begin(w);
		/* under __qlock: 0 -> ours, 1 -> 2, then queue ourselves */
		d_step {
			if
			:: mstate == 0 -> mstate = 1; mine = 1
			:: else -> mstate = 2; got[w] = 0; mwait = mwait | BIT(w); mine = 0
			fi
		}
		if
		:: mine -> leave_cancel(w); mowner = w
		:: else ->
			do
			:: park(w, 0, ok, s);
				if
				:: got[w] -> break
				:: else -> leave_begin(w)	/* a stray wake */
				fi
			od
		fi
	fi
}

/* umcg_mutex_unlock(): the fast path, or mutex_pass() and switch_to() */
inline mutex_unlock(w, ok, s, ts, t)
{
	mowner = NOBODY;
	d_step {
		if
		:: mstate == 1 -> mstate = 0; done = 1
		:: else -> done = 0
		fi
	}
	if
	:: done -> skip
	:: else ->
		mowner = w;
		leave_begin(w);
		/* mutex_pass(), under __qlock: pop one waiter */
		d_step {
			mowner = NOBODY;
			t = NOBODY;
			if
			:: mstate == 1 -> mstate = 0
			:: else ->
				if
				:: mwait & BIT(0) -> t = 0
				:: mwait & BIT(1) -> t = 1
				:: NW > 2 && (mwait & BIT(NW - 1)) -> t = NW - 1
				fi;
				mwait = mwait & ~BIT(t);
				mstate = (mwait != 0 -> 2 : 1);
				mowner = t;
				got[t] = 1
			fi
		}
		if
		:: t == NOBODY -> leave_cancel(w)
		:: else -> switch_to(w, t, ok, s, ts)
		fi
	fi
}

proctype worker(byte w)
{
	byte n, s, ts, t;
	bit ok, claimed, blocked, mine, done;	/* the inlines' locals */

	/* umcg_worker_spawn(): new, on its server's list, RUNNABLE */
	sleep_until_running(w);
	check_resumed(w);
	do
	:: n < OPS ->
		n++;
#ifdef FREE_OPS
		if
		:: true -> block_in_call(w)
		:: true -> yield(w, ok)
		:: true -> leave_begin(w); park(w, 1, ok, s)	/* umcg_worker_sleep() */
		:: true -> mutex_lock(w, ok, s);
			maybe_preempted(w);
			mutex_unlock(w, ok, s, ts, t)
		fi;
#else
		/* The script: workers 0 and 1 (on different servers) contend
		 * for the mutex; worker 2 blocks, yields and sleeps. */
		if
		:: w < 2 ->
			mutex_lock(w, ok, s);
			maybe_preempted(w);
			mutex_unlock(w, ok, s, ts, t)
		:: else ->
			block_in_call(w);
			maybe_preempted(w);
#ifdef WITH_YIELD
			yield(w, ok);
			maybe_preempted(w);
#endif
			leave_begin(w);
			park(w, 1, ok, s)		/* umcg_worker_sleep() */
		fi;
#endif
		maybe_preempted(w);
		/* forget dead locals: fewer distinct states */
		d_step { s = 0; ts = 0; t = 0; ok = 0; claimed = 0; blocked = 0; mine = 0; done = 0; grants[w] = 0 }
	:: n == OPS -> break
	od;
	skip;
	/* worker_start() returns: unregister, any -> NONE, wake the server */
	d_step { st[w] = T_NONE; cw[w] = 0; pre[w] = 0 }
	wake_server(wsrv[w])
}

/* ---- the server side ------------------------------------------------------- */

/* phase_collect(): umcg_runnable_take_all() is one exchange. */
inline collect(s, got_)
{
	d_step {
		got_ = list[s];
		list[s] = 0;
		rq[s] = rq[s] | got_;
		if
		:: owner[s] != NOBODY && (got_ & BIT(owner[s])) ->
			owner[s] = NOBODY; snext[s] = NOBODY; snextrun[s] = 0
		:: else -> skip
		fi
	}
}

/* run_next_locked() on a server naming its own picked worker @w. */
inline server_run_next(s, w, ok)
{
	/* may_run_worker(): a QUEUING worker is waited for (RUN_AFTER_QUEUING) */
	(parked[w] != P_QUEUING);
	d_step {
		if
		:: parked[w] == P_PARKED -> parked[w] = P_UNPARKED	/* claimed */
		:: else -> skip
		fi;
		snextrun[s] = 1;
		wake_worker(w, ok);
		if :: !ok -> snextrun[s] = 0 :: else -> skip fi
	}
}

proctype server(byte s)
{
	byte got_, cur, w;
	bit ok, busy, nrun;

	do
	:: true ->
		/*
		 * Phases 1-4 as one step: between them the server touches
		 * only its own list (by exchange), queue and owner, and every
		 * worker store into owner/next_tid can still land before or
		 * after them (a 10x smaller state space; the park() order bug
		 * is found through this too).
		 */
		atomic {
		collect(s, got_);
		/* phase_current() */
		cur = owner[s];
		busy = 0;
		if
		:: cur == NOBODY -> skip
		:: cur != NOBODY && snext[s] == cur && !snextrun[s] -> busy = 1
		:: else ->
			if
			:: st[cur] == T_RUNNING -> busy = 1
			:: st[cur] == T_BLOCKED ->
				d_step { owner[s] = NOBODY; snext[s] = NOBODY; snextrun[s] = 0 }
			:: st[cur] == T_NONE ->			/* reap() */
				d_step { owner[s] = NOBODY; snext[s] = NOBODY; snextrun[s] = 0; live-- }
			:: st[cur] == T_RUNNABLE ->		/* CUR_PENDING */
				/* wait_pending(): a spin that changes nothing is a
				 * wait for the worker's next move */
				(list[s] != 0 || owner[s] != cur || st[cur] != T_RUNNABLE ||
				 (snext[s] == cur && !snextrun[s]));
				goto again
			fi
		fi;
		cur = owner[s];
		/* phase_pick() */
		if
		:: cur == NOBODY && rq[s] != 0 ->
			d_step {
				if
				:: rq[s] & BIT(0) -> w = 0
				:: rq[s] & BIT(1) -> w = 1
				:: NW > 2 && (rq[s] & BIT(NW - 1)) -> w = NW - 1
				fi;
				rq[s] = rq[s] & ~BIT(w);
				wsrv[w] = s;
				owner[s] = w;
				snext[s] = w; snextrun[s] = 0
			}
			cur = w
		:: else -> skip
		fi;
		if
		:: cur == NOBODY && exiting -> break		/* servers_must_exit() */
		:: else -> skip
		fi
		};
		/* phase_wait(): announce RUNNABLE|COND_WAIT */
		d_step { sst[s] = T_RUNNABLE; scw[s] = 1 }
#ifndef MUTANT_NO_RECHECK
		if
		:: list[s] != 0 || owner[s] != cur || (cur == NOBODY && exiting) ->
			d_step { if :: sst[s] == T_RUNNABLE && scw[s] -> sst[s] = T_RUNNING; scw[s] = 0 :: else -> skip fi }
			goto again
		:: else -> skip
		fi;
#endif
		/* umcg_wait(): do_wait() reads next_tid once, first */
		d_step { w = snext[s]; nrun = snextrun[s] }
#ifdef MUTANT_NO_COND_WAIT
		d_step { sst[s] = T_RUNNABLE; scw[s] = 0 }
#else
		d_step {
			if
			:: sst[s] == T_RUNNABLE && scw[s] -> scw[s] = 0; ok = 1
			:: else -> sst[s] = T_RUNNING; scw[s] = 0; ok = 0	/* EAGAIN */
			fi
		}
		if :: !ok -> goto again :: else -> skip fi;
#endif
		if
		:: w != NOBODY && !nrun ->
			server_run_next(s, w, ok);
			if
			:: !ok -> d_step { sst[s] = T_RUNNING; scw[s] = 0 }; goto again
			:: else -> skip
			fi
		:: w != NOBODY && nrun ->	/* run_next_locked(): TID_RUNNING set */
			if
			:: st[w] != T_RUNNING -> d_step { sst[s] = T_RUNNING; scw[s] = 0 }; goto again
			:: else -> skip
			fi
		:: else -> skip
		fi;
		/* server_wait(), or a timed wait for the slice of cur */
		if
		:: (sst[s] == T_RUNNING)
		:: cur != NOBODY && sst[s] == T_RUNNABLE && slices > 0 ->
			/* the slice ran out (SLICES times in a run, at any point) */
			slices--;
			d_step { if :: sst[s] == T_RUNNABLE -> sst[s] = T_RUNNING :: else -> skip fi }
			/* phase_tick() -> preempt_worker(): cmpxchg RUNNING -> |PREEMPT, kick */
			d_step {
				if
				:: owner[s] == cur && st[cur] == T_RUNNING && !cw[cur] && !pre[cur] -> pre[cur] = 1
				:: else -> skip
				fi
			}
		fi;
again:		skip;
		d_step { got_ = 0; cur = 0; w = 0; ok = 0; busy = 0; nrun = 0 }
	od;
	sdone++
}

/* umcg_sched_destroy(): wait for every worker, then stop the servers. */
proctype destroy()
{
	(live == 0);
	exiting = 1;
	wake_server(0);
	wake_server(1)
}

init {
	byte i;
	atomic {
		for (i : 0 .. NW - 1) {
			st[i] = T_RUNNABLE;
			wsrv[i] = i % NS;
			list[i % NS] = list[i % NS] | BIT(i)
		}
		for (i : 0 .. NS - 1) {
			sst[i] = T_RUNNING;
			owner[i] = NOBODY;
			snext[i] = NOBODY
		}
		run server(0);
		run server(1);
		for (i : 0 .. NW - 1) {
			run worker(i)
		}
		run destroy()
	}
}

/* No lost wake-up: under weak fairness every worker runs to its end and
 * every server stops (spin -a -f, with -DNOREDUCE off: see the Makefile). */
ltl all_done { <> (sdone == NS) }
