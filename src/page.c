/* SPDX-License-Identifier: MIT */
/*
 * page.c - the slow paths of the clock page: waiting for a writer, the save
 * area, the frozen copy (see page.h for the protocol).
 */
#include <sched.h>
#include <string.h>

#include "page.h"
#include "testing.h"

/*
 * Spins before yielding: a write lasts about a microsecond (a stop waits out
 * the readers' reordering window), so a reader that finds one mostly sees it
 * end while spinning.  A writer preempted mid-write needs the CPU, which on
 * an overloaded machine may be the reader's: yield then.
 */
#define SPINS_BEFORE_YIELD 16

void vmti_page_init(struct vmti_page *p, uint64_t keeper_pid, uint64_t flags, vmt_ns vm_base,
		    uint64_t restore_policy)
{
	p->magic = VMTI_PAGE_MAGIC;
	p->version = VMTI_PAGE_VERSION;
	p->size = sizeof(struct vmti_page);
	p->keeper_pid = keeper_pid;
	VMTI_PAGE_SET(p, flags, flags);
	VMTI_PAGE_SET(p, vm_base, vm_base);
	VMTI_PAGE_SET(p, restore_policy, restore_policy);
}

#define SAVE_(f) VMTI_PAGE_SET(&p->save, f, VMTI_PAGE_GET(p, f));

void vmti_page_write_begin(struct vmti_page *p)
{
	uint64_t s = VMTI_PAGE_GET(p, seq);

	/*
	 * A reader that sees a save store of this write sees, after its
	 * acquire fence, the previous write's closing increment: it can tell
	 * a save in progress from a finished one by the sequence.
	 */
	atomic_thread_fence(memory_order_release);
	VMTI_PAGE_STATE(SAVE_)
	VMTI_PAGE_TSC(SAVE_)
	VMTI_PAGE_SET(&p->save, seq, s);
	/* Released by the increment: a reader that sees it odd sees the save. */
	atomic_fetch_add_explicit(&p->seq, 1, memory_order_seq_cst);
	/* The field stores below stay after the odd sequence (fence pairing). */
	atomic_thread_fence(memory_order_release);
	if (vmti_testing_in_write)
		vmti_testing_in_write(p);
}

/*
 * The host time a write freezes the clock at.  Readers do not fence their
 * clock read (an lfence would cost as much as the read), so a reader's rdtsc
 * (or the vDSO's) may execute a little after its closing sequence load.  Such
 * a read still returns, with the old sequence, a host time sampled slightly
 * after the writer's odd increment became visible.  The window is bounded by
 * the CPU's out-of-order window (an interrupt retires or flushes both), far
 * below REORDER_WINDOW_NS: sampling that long after the increment puts the
 * frozen value above every value a reader can have returned.  Only stop and
 * TSC updates pay it, with readers spinning on the odd sequence meanwhile.
 */
#define REORDER_WINDOW_NS 1000

void vmti_page_wait_readers(void)
{
	vmt_ns t0 = vmti_clock_ns(CLOCK_MONOTONIC);

	while (vmti_clock_ns(CLOCK_MONOTONIC) - t0 < REORDER_WINDOW_NS)
		;
}

vmt_ns vmti_page_writer_host_now(const struct vmti_page *p, const struct vmti_host_hook *hook)
{
	struct vmti_clock_state st = {
		.flags = VMTI_PAGE_GET(p, flags),
		.tsc = { .base = VMTI_PAGE_GET(p, tsc_base),
			 .ns_base = VMTI_PAGE_GET(p, tsc_ns_base),
			 .mult = VMTI_PAGE_GET(p, tsc_mult),
			 .shift = (uint32_t)VMTI_PAGE_GET(p, tsc_shift) },
	};

	return vmti_page_host_now(hook, &st, 0);
}

vmt_ns vmti_page_sample_host(const struct vmti_page *p, const struct vmti_host_hook *hook)
{
	/* Injected time: no hardware reordering to wait for. */
	if (!hook->fn)
		vmti_page_wait_readers();
	return vmti_page_writer_host_now(p, hook);
}

/*
 * The state the writer stuck at sequence @s saved before its increment.  A
 * save that does not belong to @s (a forged page, or a writer that moved on
 * meanwhile) reads as a stopped clock at the saved VM time.
 */
static void read_save(const struct vmti_page *p, uint64_t s, const struct vmti_host_hook *hook,
		      struct vmti_clock_state *st)
{
	bool ok = VMTI_PAGE_GET(&p->save, seq) == s - 1;

	st->flags = VMTI_PAGE_GET(&p->save, flags);
	st->vm_base = VMTI_PAGE_GET(&p->save, vm_base);
	st->host_base = VMTI_PAGE_GET(&p->save, host_base);
	st->generation = VMTI_PAGE_GET(&p->save, generation);
	st->reset_count = VMTI_PAGE_GET(&p->save, reset_count);
	st->restore_policy = VMTI_PAGE_GET(&p->save, restore_policy);
	st->tsc.base = VMTI_PAGE_GET(&p->save, tsc_base);
	st->tsc.ns_base = VMTI_PAGE_GET(&p->save, tsc_ns_base);
	st->tsc.mult = VMTI_PAGE_GET(&p->save, tsc_mult);
	st->tsc.shift = (uint32_t)VMTI_PAGE_GET(&p->save, tsc_shift);
	atomic_thread_fence(memory_order_acquire);
	if (!ok || VMTI_PAGE_GET(p, seq) != s)
		st->flags &= ~(uint64_t)VMTI_PAGE_RUNNING;
	st->host_now = vmti_page_host_now(hook, st, 0);
	st->vm_now = vmti_page_vm_at(st->flags, st->vm_base, st->host_base, st->host_now);
	st->flags = (st->flags & ~(uint64_t)VMTI_PAGE_RUNNING) | VMTI_PAGE_DEAD;
}

int vmti_page_read(_Atomic(const struct vmti_page *) const *pagep,
		   const struct vmti_host_hook *hook, unsigned what, vmt_ns bound_ns,
		   struct vmti_clock_state *st)
{
	vmt_ns deadline = VMT_NS_NEVER;

	for (unsigned n = 0;; n++) {
		const struct vmti_page *p = atomic_load_explicit(pagep, memory_order_acquire);
		uint64_t s;

		if (vmti_page_try_read(p, hook, what, st) == 0)
			return 0;
		if (n < SPINS_BEFORE_YIELD)
			continue;
		if (deadline == VMT_NS_NEVER && bound_ns != VMT_NS_NEVER)
			deadline = vmt_ns_add(vmti_clock_ns(CLOCK_MONOTONIC), bound_ns);
		else if (deadline != VMT_NS_NEVER && vmti_clock_ns(CLOCK_MONOTONIC) >= deadline) {
			s = atomic_load_explicit(&p->seq, memory_order_acquire);
			/* Still inside the same write?  Otherwise it moves: keep reading. */
			if (s & 1) {
				read_save(p, s, hook, st);
				return -ETIMEDOUT;
			}
		}
		sched_yield();
	}
}

int vmti_page_freeze(_Atomic(const struct vmti_page *) *pagep, struct vmti_page *copy,
		     const struct vmti_host_hook *hook, vmt_ns bound_ns)
{
	const struct vmti_page *live = atomic_load_explicit(pagep, memory_order_acquire);
	struct vmti_clock_state st;
	int r = vmti_page_read(pagep, hook, 0, bound_ns, &st);

	memset(copy, 0, sizeof(*copy));
	vmti_page_init(copy, live->keeper_pid, (st.flags & VMTI_PAGE_MANUAL) | VMTI_PAGE_DEAD,
		       st.vm_now, st.restore_policy);
	VMTI_PAGE_SET(copy, reset_count, st.reset_count);
	VMTI_PAGE_SET(copy, generation, st.generation + 1);
	VMTI_PAGE_SET(copy, tsc_khz, VMTI_PAGE_GET(live, tsc_khz));
	VMTI_PAGE_SET(copy, tsc_refreshes, VMTI_PAGE_GET(live, tsc_refreshes));
	atomic_store_explicit(pagep, copy, memory_order_release);
	return r;
}
