#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Mutation testing: inject one bug at a time into the emul backend's state
# machine (src/emul/) and the toolkit's server loop (toolkit/), rebuild,
# run the tests that should notice, and report whether they did.
#
#   tools/mutants.sh [-l] [id...]     (make mutants)
#
# -l lists the mutants.  With ids, only those run.
#
# The worktree is never modified: the sources are copied to
# $MUTANT_DIR/tree (default build-mutant/tree) and built there into
# $MUTANT_DIR/out once; each mutant is a literal replacement of one
# fragment in the copy of one file (it must occur exactly once, else the
# mutant is STALE: the table below no longer matches the code), then the
# library alone is rebuilt (the tests load libumcg.so, so they need no
# relink) and the mutant's tests run through tests/run.sh.  The copy of
# the file is restored after each mutant and on any exit or interrupt.
#
# Before any mutant, the union of their tests must pass unmutated.
# Outcome per mutant: CAUGHT (some test failed or timed out), SURVIVED, or
# DOCUMENTED (survived, and the table says why: "not needed: ..." for code
# the ABI does not need, "race: ..." for a window no test can force).
# Exit status: 0 if every mutant is caught or documented.
#
# The kernel patch (kernel/src/kernel/sched/umcg.c) is out of reach here:
# every mutant would need a kernel build and a QEMU boot (make
# kernel-check).  docs/testing.md lists its counterparts of these mutants
# and the cases that check them in the guest.
#
# Environment: MUTANT_DIR, TEST_TIMEOUT (seconds per test, default 60).

set -u

here=$(cd "$(dirname "$0")/.." && pwd)
scratch=${MUTANT_DIR:-$here/build-mutant}
case $scratch in /*) ;; *) scratch=$here/$scratch ;; esac
tree=$scratch/tree
out=$scratch/out
TEST_TIMEOUT=${TEST_TIMEOUT:-60}
export TEST_TIMEOUT

# ---- The mutants -----------------------------------------------------------
#
# m <id> <file> <tests> <fragment> <replacement> [<why it survives>]
#
# <tests>: the test binaries (names in tests/) run for this mutant: the
# fast ones that cover the mutated code.

list_mode=0

m() {
	n=$((${n:-0} + 1))
	eval "m_file_$n=\$2 m_tests_$n=\$3 m_from_$n=\$4 m_to_$n=\$5 m_why_$n=\${6:-}"
	eval "m_id_$n=\$1"
}

# emul: umcg_wait() step 5 (run_next_locked, may_run_worker)
m undo_failed_wake src/emul/emul.c 'wait_errors' \
	'atomic_store((_Atomic uint32_t *)&self->task->next_tid, next);' \
	'(void)0;'
m own_worker_on_list src/emul/emul.c 'wait_errors wait_timeout_requeue' \
	'return on_list(self->task, n->task) ? RUN_NO : RUN_YES;' \
	'return on_list(self->task, n->task) ? RUN_YES : RUN_YES;'
m other_servers_worker src/emul/emul.c 'wait_errors direct_switch' \
	'if (load_server_tid(n->task) != self->tid)
		return RUN_NO;' \
	''
m queuing_runs_at_once src/emul/emul.c 'wait_timeout_requeue wait_worker_timeout' \
	'return RUN_AFTER_QUEUING;
	return on_list' \
	'return RUN_YES;
	return on_list' \
	'race: a namer that finds the worker QUEUING must not run it before its push lands; the window is the few instructions between the timeout winning and the push, which no test through the ABI can hold a worker in'
m failed_claim_stays_unparked src/emul/emul.c 'direct_switch wait_worker_timeout' \
	'if (claimed && !woke)
		atomic_store(&n->parked, UMCG_PARKED);' \
	'' \
	'not needed: a claimed worker is RUNNABLE from its step 4 until someone makes it RUNNING, and only its claimer may, so the wake after a claim cannot fail (only a parker that called umcg_wait() in a wrong state can be claimed and not woken, and it resets its park itself)'
m running_check_ignored src/emul/emul.c 'wait_errors wait_server' \
	'return woke ? 0 : -EAGAIN;
	}
	if (n->role' \
	'return 0;
	}
	if (n->role'
# emul: umcg_wait() steps 3, 4, 7
m wake_any_state src/emul/emul.c 'wait_errors kick block_wake' \
	'while ((s & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE) {
		/* seq_cst: pairs with the sleeper' \
	'while ((s & UMCG_TASK_MASK) != UMCG_TASK_RUNNING) {
		/* seq_cst: pairs with the sleeper'
m cond_wait_not_required src/emul/emul.c 'wait_errors' \
	'if ((s & STATE_BITS) != (UMCG_TASK_RUNNABLE | UMCG_TF_COND_WAIT)) {' \
	'if ((s & UMCG_TASK_MASK) != UMCG_TASK_RUNNABLE) {'
m name_self_allowed src/emul/emul.c 'wait_name_self' \
	'if (ntid == self->tid) {' \
	'if (0) {'
m claimed_parker_fails src/emul/emul.c 'direct_switch sched_sync' \
	'if (!parks || atomic_compare_exchange_strong(&self->parked,' \
	'if (1 || atomic_compare_exchange_strong(&self->parked,' \
	'race: a namer must claim the parker between its step 4 and the failure of its own switch; TSan runs of direct_switch hit it about once in six, the plain subset here does not'
m timeout_not_queued src/emul/emul.c 'wait_worker_timeout wait_timeout_requeue' \
	'server_state = push_self(self);
	atomic_store(&self->parked, UMCG_QUEUED);' \
	'server_state = NULL;
	atomic_store(&self->parked, UMCG_QUEUED);'
m timeout_returns_zero src/emul/emul.c 'wait_worker_timeout' \
	'atomic_store(&self->parked, UMCG_UNPARKED);
	return -ETIMEDOUT;' \
	'atomic_store(&self->parked, UMCG_UNPARKED);
	return 0;'
m server_timeout_hides_wake src/emul/emul.c 'wait_errors wait_server' \
	'return move_own_state(t, UMCG_TASK_RUNNABLE, UMCG_TASK_RUNNING) ?
	       -ETIMEDOUT : 0;' \
	'force_running(t);
	return -ETIMEDOUT;' \
	'race: the wake must land between the futex timeout and the state move, a window of a few instructions'
m user_bits_lost src/emul/emul.c 'wait_errors ctl_register user_bits' \
	'static bool move_own_state(struct umcg_task *t, uint32_t from, uint32_t to)
{
	uint32_t s = load_state(t);' \
	'static bool move_own_state(struct umcg_task *t, uint32_t from, uint32_t to)
{
	uint32_t s = load_state(t);
	atomic_fetch_and(state_word(t), STATE_BITS);'
# emul: blocks, queueing, kicks, registration
m block_no_server_wake src/emul/block.c 'hooks_block block_wake' \
	'UMCG_TRACE(block, self->tid, load_server_tid(t), 0);
		emul_wake_server_of(t);' \
	'UMCG_TRACE(block, self->tid, load_server_tid(t), 0);'
m blocked_ts_not_written src/emul/emul.c 'block_wake' \
	'store_u64(&t->blocked_ts, now_ns(clock));' \
	'(void)clock;'
m runnable_ts_not_written src/emul/emul.c 'block_wake' \
	'store_u64(&w->runnable_ts, now_ns(self->clock));
	srv = registry_lock_tid(stid);' \
	'srv = registry_lock_tid(stid);'
m kick_wakes_queued_worker src/emul/emul.c 'kick' \
	'act = (s & UMCG_TASK_MASK) == UMCG_TASK_RUNNING &&
		      (s & UMCG_TF_PREEMPT);
		if (!act)' \
	'act = (s & UMCG_TASK_MASK) == UMCG_TASK_RUNNING &&
		      (s & UMCG_TF_PREEMPT);
		if ((s & UMCG_TASK_MASK) == UMCG_TASK_RUNNABLE)
			wake_task_locked(t);
		if (!act)'
m preempt_flag_ignored src/emul/preempt.c 'preempt kick' \
	'if ((s & UMCG_TASK_MASK) != UMCG_TASK_RUNNING ||
		    !(s & UMCG_TF_PREEMPT))' \
	'if ((s & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)' \
	'race: umcg_kick() signals only a RUNNING|TF_PREEMPT worker; the check matters for a signal that lands after the worker left that state (it yielded and ran again) and for the BPF detector'"'"'s signals (build@bpf), neither of which a plain test can time'
m unregister_not_running src/emul/ctl.c 'ctl_errors' \
	'if ((load_state(task) & UMCG_TASK_MASK) != UMCG_TASK_RUNNING)
		return -EINVAL;
	pthread_setspecific' \
	'pthread_setspecific'
m exit_no_server_wake src/emul/ctl.c 'exit_unregistered' \
	'emul_wake_server_of(t);
	}
	free(self);' \
	'}
	free(self);'
# toolkit: the server loop (toolkit/sched.c) and the worker side
m tk_collect_keeps_owner toolkit/sched.c 'sched_policies sched_sync toolkit_example' \
	'if (atomic_load(&srv->owner) == w) {
			atomic_store(&srv->owner, NULL);' \
	'if (0) {
			atomic_store(&srv->owner, NULL);'
m tk_block_not_seen toolkit/sched.c 'sched_policies sched_sync toolkit_example' \
	'if (rs && atomic_load((_Atomic uint64_t *)&w->task.blocked_ts) >= rs)' \
	'if (rs && 0)' \
	'race: it decides only the reason a policy is told (WOKEN, not PREEMPTED): a preemption must be requested just as the worker enters a blocking call, after its RUNNING check and before the kick'"'"'s signal'
m tk_unstarted_pick_lost toolkit/sched.c 'sched_policies sched_sync toolkit_example' \
	'if ((nt & UMCG_TID_MASK) == (uint32_t)atomic_load(&w->tid) &&
	    !(nt & UMCG_TID_RUNNING))
		return CUR_BUSY;' \
	'(void)nt;'
m tk_no_recheck_before_wait toolkit/sched.c 'sched_policies sched_sync sched_shutdown toolkit_example' \
	'if (atomic_load((_Atomic uint64_t *)&srv->task.runnable_workers_ptr) ||
	    atomic_load(&srv->owner) != cur ||' \
	'if (0 ||'
m tk_no_idle_recheck toolkit/sched.c 'sched_policies sched_sync toolkit_example' \
	'w = phase_pick(srv);
	if (w)
		atomic_store(&srv->idle, 0);' \
	'w = NULL;' \
	'race: another server must queue work and read this one'"'"'s idle flag just before it is set; then the work waits for its own server instead of this idle one (latency, not loss)'
m tk_no_preempt_kick toolkit/sched.c 'sched_policies' \
	'umcg_kick(0, atomic_load(&w->tid));
	tk_stat_add(&srv->st.preemptions, 1);' \
	'tk_stat_add(&srv->st.preemptions, 1);'
m tk_park_no_kick toolkit/worker.c 'sched_sync sched_policies' \
	'umcg_kick(0, atomic_load(&srv->tid));
	set_next(&self->task, 0);' \
	'set_next(&self->task, 0);'
m tk_switch_no_owner toolkit/worker.c 'sched_sync' \
	'atomic_store(&srv->owner, t);
		set_next(&srv->task, ttid | UMCG_TID_RUNNING);' \
	'set_next(&srv->task, ttid | UMCG_TID_RUNNING);'

# ---- Running them ------------------------------------------------------------

get() {	# get <field> <n>
	eval "printf '%s' \"\$m_$1_$2\""
}

while getopts l opt; do
	case $opt in
	l) list_mode=1 ;;
	*) echo "usage: $0 [-l] [id...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
want=" $* "

selected() {
	[ "$want" = "  " ] && return 0
	case $want in *" $(get id "$1") "*) return 0 ;; esac
	return 1
}

if [ $list_mode -eq 1 ]; then
	i=1
	while [ $i -le $n ]; do
		printf '%-28s %-20s %s\n' "$(get id $i)" "$(get file $i)" "$(get tests $i)"
		i=$((i + 1))
	done
	exit 0
fi

cur_file=""
restore() {
	[ -n "$cur_file" ] && cp "$scratch/pristine" "$tree/$cur_file"
	cur_file=""
}
trap 'restore' EXIT
trap 'restore; echo "mutants: interrupted" >&2; exit 130' INT TERM HUP

# A fresh copy of what the build needs, with its times, so that make
# rebuilds in $out only what changed; the worktree stays as it is.  A
# run that stopped while a mutant was built ("dirty") left $out mutated.
[ -e "$scratch/dirty" ] && rm -rf "$out"
rm -rf "$tree" "$scratch/dirty"
mkdir -p "$tree" "$out"
(cd "$here" && cp -pR Makefile src include toolkit tests bench examples "$tree/") ||
	{ echo "mutants: cannot copy the sources" >&2; exit 2; }

build() {
	nice -n 10 make -C "$tree" -s -j2 O="$out" "$@" >"$scratch/build.log" 2>&1
}

start=$(date +%s)
echo "mutants: building $out"
build all || { cat "$scratch/build.log"; echo "mutants: the unmutated tree does not build" >&2; exit 2; }

all_tests=""
i=1
while [ $i -le $n ]; do
	if selected $i; then
		for t in $(get tests $i); do
			case " $all_tests " in *" $t "*) ;; *) all_tests="$all_tests $t" ;; esac
		done
	fi
	i=$((i + 1))
done

run_tests() {	# run_tests <tests>: 0 if they all pass
	TESTS=$1 nice -n 10 sh "$tree/tests/run.sh" "$out" >"$scratch/run.log" 2>&1
}

echo "mutants: baseline:$all_tests"
if ! run_tests "$all_tests"; then
	cat "$scratch/run.log"
	echo "mutants: the tests fail without any mutant" >&2
	exit 2
fi

caught=0 survived=0 documented=0 broken=0
report=""
i=1
while [ $i -le $n ]; do
	selected $i || { i=$((i + 1)); continue; }
	id=$(get id $i)
	file=$(get file $i)
	t0=$(date +%s)
	cp "$tree/$file" "$scratch/pristine"
	cur_file=$file
	touch "$scratch/dirty"
	if ! FROM=$(get from $i) TO=$(get to $i) perl -0777 -i -pe '
		BEGIN { $f = $ENV{FROM}; $t = $ENV{TO} }
		my $c = () = /\Q$f\E/g;
		die "matches $c times\n" if $c != 1;
		s/\Q$f\E/$t/;' "$tree/$file" 2>"$scratch/apply.log"; then
		what="STALE ($(cat "$scratch/apply.log"))"
		broken=$((broken + 1))
	elif ! build lib; then
		what="BROKEN (does not build: $scratch/build.log)"
		broken=$((broken + 1))
		sed -n '1,20p' "$scratch/build.log"
	elif run_tests "$(get tests $i)"; then
		if [ -n "$(get why $i)" ]; then
			what="DOCUMENTED ($(get why $i | cut -d: -f1))"
			documented=$((documented + 1))
		else
			what="SURVIVED"
			survived=$((survived + 1))
		fi
	else
		by=$(sed -n 's/^FAIL [^ ]*\/\([^ /]*\) .*/\1/p' "$scratch/run.log" | tr '\n' ' ')
		what="CAUGHT by ${by% }"
		caught=$((caught + 1))
	fi
	restore
	build lib || { cat "$scratch/build.log"; echo "mutants: cannot rebuild after $id" >&2; exit 2; }
	rm -f "$scratch/dirty"
	line=$(printf '%-28s %-18s %4ss  %s' "$id" "$file" "$(($(date +%s) - t0))" "$what")
	echo "$line"
	report="$report$line
"
	i=$((i + 1))
done
echo
echo "mutants: $caught caught, $documented documented, $survived survived, $broken stale or broken ($(($(date +%s) - start))s)"
[ $survived -eq 0 ] && [ $broken -eq 0 ]
