/* SPDX-License-Identifier: MIT */
/*
 * page.h - the clock page: the VM clock's state, shared read-only.
 *
 * The bottom of the clock core: the page layout, both sides of its seqlock,
 * the one VM-time formula, host time from the TSC, and the frozen copy a
 * reader falls back to when the writer is gone.  Everything above (keeper,
 * source, share, guest, tsc) calls down into it.
 *
 * The keeper is the only writer; readers in any thread or process map the
 * page and read it lock-free behind a 64-bit sequence counter (odd while a
 * write is in progress).  Fields are C11 atomics accessed relaxed, ordered by
 * the fences around the sequence, so sanitizers see no data race and x86
 * compiles every access to a plain mov.
 *
 *   write:  save = state, save.seq = seq -> seq += 1 (full barrier, odd) ->
 *           fields -> seq += 1 (release)
 *   read:   s = seq (acquire) -> fields -> host clock -> fence(acquire) ->
 *           retry if s odd or seq != s
 *
 * The writer samples the host clock only after its odd increment is globally
 * visible (the increment is a locked instruction).  A reader whose read
 * overlapped the write therefore retries, and a reader that finished before
 * sampled its host time before the writer did, so a stop never freezes below
 * a value a reader already returned.
 *
 * A writer in another process can die inside a write and leave the sequence
 * odd forever, and a forged page can be odd from the start.  Readers
 * therefore never wait unboundedly: after a short spin they yield, and past
 * a bound they stop waiting and use the state the writer saved before its
 * odd increment (the save area, consistent by construction), running on to
 * the moment they gave up.  That value is at least every value any reader
 * returned: they all read the saved state or an earlier one, at earlier host
 * times.  The source above freezes there and reports the keeper dead.
 *
 * The layout is an ABI between processes of possibly different builds: fields
 * are only ever appended within a version, and the header says how large the
 * page is.  Version 2 dropped the test-only wall_steps field and added the
 * save area.
 */
#ifndef VMT_PAGE_H
#define VMT_PAGE_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <vmtime/keeper.h>
#include <vmtime/time.h>

#include "internal.h" /* vmti_clock_ns() */

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define VMTI_HAVE_TSC 1
#endif

#define VMTI_PAGE_MAGIC UINT64_C(0x314b4c43544d5600) /* "\0VMTCLK1" little-endian */
#define VMTI_PAGE_VERSION 2
#define VMTI_PAGE_MAP_SIZE 4096

/* flags */
#define VMTI_PAGE_RUNNING (1u << 0)   /* VM clock runs */
#define VMTI_PAGE_MANUAL (1u << 1)    /* VM time moves only by advance */
#define VMTI_PAGE_TSC_VALID (1u << 2) /* tsc_* give host time; else clock_gettime */
#define VMTI_PAGE_DEAD (1u << 3)      /* the keeper is gone; the clock is frozen */

/*
 * The mutable state, listed once: the save area, the readers and the frozen
 * copy all follow this list (X is applied to each field name).
 */
#define VMTI_PAGE_STATE(X) X(flags) X(vm_base) X(host_base) X(generation) X(reset_count) \
	X(restore_policy)
#define VMTI_PAGE_TSC(X) X(tsc_base) X(tsc_ns_base) X(tsc_mult) X(tsc_shift) X(tsc_khz) \
	X(tsc_refreshes)

#define VMTI_PAGE_FIELD_(f) _Atomic uint64_t f;

/* What a writer saved before its odd increment (see the top comment). */
struct vmti_page_save {
	_Atomic uint64_t seq; /* the even sequence the state was saved at */
	VMTI_PAGE_STATE(VMTI_PAGE_FIELD_)
	VMTI_PAGE_TSC(VMTI_PAGE_FIELD_)
};

struct vmti_page {
	/* Constant after creation. */
	uint64_t magic;
	uint32_t version;
	uint32_t size; /* sizeof(struct vmti_page) of the writer */
	uint64_t keeper_pid;
	uint64_t reserved0[5];

	/* Written by the keeper under the sequence; own cache line. */
	_Alignas(64) _Atomic uint64_t seq;
	_Atomic uint64_t flags;
	_Atomic uint64_t vm_base;	/* VM time at host_base (running) or frozen value */
	_Atomic uint64_t host_base;	/* host monotonic ns at the last start */
	_Atomic uint64_t generation;	/* bumped on every state change */
	_Atomic uint64_t reset_count;	/* bumped when VM time is set explicitly */
	_Atomic uint64_t restore_policy;

	/*
	 * Host time from the TSC (valid with VMTI_PAGE_TSC_VALID):
	 *   host_ns = tsc_ns_base + (((tsc - tsc_base) * tsc_mult) >> tsc_shift)
	 * with the product taken on 128 bits.
	 */
	_Alignas(64) _Atomic uint64_t tsc_base;
	_Atomic uint64_t tsc_ns_base;
	_Atomic uint64_t tsc_mult;
	_Atomic uint64_t tsc_shift;
	_Atomic uint64_t tsc_khz;
	_Atomic uint64_t tsc_refreshes;

	/* Written by the keeper outside the sequence, read only by stuck readers. */
	_Alignas(64) struct vmti_page_save save;
};

_Static_assert(sizeof(struct vmti_page) <= VMTI_PAGE_MAP_SIZE, "clock page exceeds its mapping");

#define VMTI_PAGE_SET(p, field, v) atomic_store_explicit(&(p)->field, (v), memory_order_relaxed)
#define VMTI_PAGE_GET(p, field) atomic_load_explicit(&(p)->field, memory_order_relaxed)

/* ---- time math the page is made of ---------------------------------------------- */

__extension__ typedef unsigned __int128 vmti_u128;

/* True if the clock of @flags runs on the host clock (stopped, manual, dead: no). */
static inline bool vmti_page_runs(uint64_t flags)
{
	return (flags & (VMTI_PAGE_RUNNING | VMTI_PAGE_MANUAL | VMTI_PAGE_DEAD)) ==
	       VMTI_PAGE_RUNNING;
}

/*
 * The VM-time formula, the only copy: base + max(0, h - hb) while running.
 * A host reading before the start stamp is clamped (no going back), and the
 * result saturates one below VMT_NS_NEVER, where a stop freezes it too.
 */
static inline vmt_ns vmti_page_vm_at(uint64_t flags, vmt_ns vm_base, vmt_ns host_base, vmt_ns h)
{
	vmt_ns v = vm_base;

	if (vmti_page_runs(flags) && h > host_base)
		v = vmt_ns_add(v, h - host_base);
	return v == VMT_NS_NEVER ? VMT_NS_NEVER - 1 : v;
}

struct vmti_tsc_params {
	uint64_t base;	  /* TSC value at which ns_base holds */
	uint64_t ns_base; /* host ns at base */
	uint64_t mult;	  /* ns per tick << shift */
	uint32_t shift;
};

/* Parameters a reader may use: a positive rate and a shift in range. */
static inline bool vmti_tsc_params_valid(const struct vmti_tsc_params *p)
{
	return p->mult != 0 && p->shift < 64;
}

/*
 * The TSC conversion.  A TSC value before @p->base (another CPU trailing by
 * a few cycles, or an rdtsc executed early) reads as ns_base: the function
 * never goes below the point where the previous parameters handed over.
 */
static inline uint64_t vmti_tsc_to_ns(const struct vmti_tsc_params *p, uint64_t tsc)
{
	uint64_t d = tsc > p->base ? tsc - p->base : 0;

	return p->ns_base + (uint64_t)(((vmti_u128)d * p->mult) >> (p->shift & 127));
}

/* A fenced TSC read, for calibration samples and guest pairs. */
static inline uint64_t vmti_rdtsc(void)
{
#ifdef VMTI_HAVE_TSC
	_mm_lfence();
	return __rdtsc();
#else
	return 0;
#endif
}

/* ---- readers --------------------------------------------------------------------- */

/* A consistent copy of the page's mutable state, with "now" taken inside it. */
struct vmti_clock_state {
	uint64_t flags;
	vmt_ns vm_base;
	vmt_ns host_base;
	uint64_t generation;
	uint64_t reset_count;
	uint64_t restore_policy;
	struct vmti_tsc_params tsc; /* meaningful with VMTI_PAGE_TSC_VALID */
	uint64_t wall_steps; /* filled by the source, not the page */
	vmt_ns vm_now;	     /* VM time at the moment the state was read */
	vmt_ns host_now;     /* host monotonic time at that moment */
	uint64_t tsc_now;    /* with VMTI_READ_TSC_PAIR: the TSC at host_now */
};

/* A host-clock hook (tests, replay); fn NULL for the real clocks. */
struct vmti_host_hook {
	vmt_host_clock_fn fn;
	void *opaque;
};

/* vmti_page_try_read() @what: also pair host_now with a TSC reading. */
#define VMTI_READ_TSC_PAIR 1u
/* ... only VM time is wanted: no host clock read while it stands still. */
#define VMTI_READ_VM_ONLY 2u

/*
 * Host monotonic time for @st, read inside the sequence: the hook, the TSC
 * function the page publishes, or clock_gettime().
 */
static inline vmt_ns vmti_page_host_now(const struct vmti_host_hook *hook,
					struct vmti_clock_state *st, unsigned what)
{
#ifdef VMTI_HAVE_TSC
	if (!hook->fn && (st->flags & VMTI_PAGE_TSC_VALID) && vmti_tsc_params_valid(&st->tsc)) {
		/*
		 * No fence around rdtsc for plain reads: it would cost more than
		 * the read.  An rdtsc executed early reads an earlier time
		 * (clamped below the base); one executed after the closing
		 * sequence load is covered by the keeper, which waits out the
		 * reordering window before it samples the clock in a write.
		 */
		st->tsc_now = (what & VMTI_READ_TSC_PAIR) ? vmti_rdtsc() : __rdtsc();
		return vmti_tsc_to_ns(&st->tsc, st->tsc_now);
	}
	if (what & VMTI_READ_TSC_PAIR) {
		/* Another clock: pair it with the TSC at the bracket's middle. */
		uint64_t t1 = vmti_rdtsc();
		vmt_ns h = hook->fn ? hook->fn(hook->opaque, VMT_CLOCK_HOST)
				    : vmti_clock_ns(CLOCK_MONOTONIC);

		st->tsc_now = t1 + (vmti_rdtsc() - t1) / 2;
		return h;
	}
#endif
	st->tsc_now = 0;
	return hook->fn ? hook->fn(hook->opaque, VMT_CLOCK_HOST) : vmti_clock_ns(CLOCK_MONOTONIC);
}

/*
 * The read loop, the only copy: a consistent state and "now" under one
 * sequence, in a bounded number of tries.  Returns 0, or -EAGAIN if the
 * writer stayed inside a write throughout (then see vmti_page_read()).
 */
static inline int vmti_page_try_read(const struct vmti_page *p, const struct vmti_host_hook *hook,
				     unsigned what, struct vmti_clock_state *st)
{
	for (unsigned tries = 0; tries < 64; tries++) {
		uint64_t s = atomic_load_explicit(&p->seq, memory_order_acquire);

		if (__builtin_expect(s & 1, 0)) {
#ifdef VMTI_HAVE_TSC
			_mm_pause();
#endif
			continue;
		}
		st->flags = atomic_load_explicit(&p->flags, memory_order_relaxed);
		st->vm_base = atomic_load_explicit(&p->vm_base, memory_order_relaxed);
		st->host_base = atomic_load_explicit(&p->host_base, memory_order_relaxed);
		st->generation = atomic_load_explicit(&p->generation, memory_order_relaxed);
		st->reset_count = atomic_load_explicit(&p->reset_count, memory_order_relaxed);
		st->restore_policy = atomic_load_explicit(&p->restore_policy, memory_order_relaxed);
		if (st->flags & VMTI_PAGE_TSC_VALID) {
			st->tsc.base = atomic_load_explicit(&p->tsc_base, memory_order_relaxed);
			st->tsc.ns_base = atomic_load_explicit(&p->tsc_ns_base, memory_order_relaxed);
			st->tsc.mult = atomic_load_explicit(&p->tsc_mult, memory_order_relaxed);
			st->tsc.shift =
				(uint32_t)atomic_load_explicit(&p->tsc_shift, memory_order_relaxed);
		}
		if ((what & VMTI_READ_VM_ONLY) && !vmti_page_runs(st->flags))
			st->host_now = 0; /* a stopped clock reads in a few ns */
		else
			st->host_now = vmti_page_host_now(hook, st, what);
		st->vm_now = vmti_page_vm_at(st->flags, st->vm_base, st->host_base, st->host_now);
		atomic_thread_fence(memory_order_acquire);
		if (__builtin_expect(atomic_load_explicit(&p->seq, memory_order_relaxed) == s, 1))
			return 0;
	}
	return -EAGAIN;
}

/*
 * vmti_page_try_read() that waits: spins, then yields, re-reading *@pagep
 * (a source may swap in its frozen copy meanwhile), for at most @bound_ns of
 * CLOCK_MONOTONIC (VMT_NS_NEVER: for ever, for a writer in this process).
 * Returns 0, or -ETIMEDOUT with @st from the save area of the page, running
 * on to now, and VMTI_PAGE_DEAD in its flags.
 */
int vmti_page_read(_Atomic(const struct vmti_page *) const *pagep,
		   const struct vmti_host_hook *hook, unsigned what, vmt_ns bound_ns,
		   struct vmti_clock_state *st);

/*
 * Fills @copy (VMTI_PAGE_MAP_SIZE bytes, 64-aligned) with a dead, stopped
 * clock at the value *@pagep has now (read as vmti_page_read() does, with
 * @bound_ns), then points *@pagep at it: readers never see a dead keeper's
 * clock run on.  Returns what vmti_page_read() returned.
 */
int vmti_page_freeze(_Atomic(const struct vmti_page *) *pagep, struct vmti_page *copy,
		     const struct vmti_host_hook *hook, vmt_ns bound_ns);

/* ---- the writer ------------------------------------------------------------------ */

/* Lays out a fresh page (@p zeroed, not yet shared). */
void vmti_page_init(struct vmti_page *p, uint64_t keeper_pid, uint64_t flags, vmt_ns vm_base,
		    uint64_t restore_policy);

/*
 * Opens a write: saves the state for readers that might find the writer
 * dead, then makes the sequence odd.  The increment is a locked RMW, a full
 * barrier: the odd sequence is visible to every reader before the writer
 * samples the host clock.  One writer at a time (the keeper's lock).
 */
void vmti_page_write_begin(struct vmti_page *p);

/*
 * Spins out the readers' reordering window; call inside a write, before
 * sampling a clock the write publishes a function of (stop, TSC updates).
 */
void vmti_page_wait_readers(void);

/*
 * Host time for a write that freezes VM time (stop), from the host clock the
 * page publishes; call inside the write.  Waits out the readers' reordering
 * window unless the time comes from @hook.
 */
vmt_ns vmti_page_sample_host(const struct vmti_page *p, const struct vmti_host_hook *hook);

/* Host time from the clock the page publishes, for its writer (no waiting). */
vmt_ns vmti_page_writer_host_now(const struct vmti_page *p, const struct vmti_host_hook *hook);

/* Closes the write opened by vmti_page_write_begin(). */
static inline void vmti_page_write_end(struct vmti_page *p)
{
	atomic_fetch_add_explicit(&p->seq, 1, memory_order_release);
}

#endif /* VMT_PAGE_H */
