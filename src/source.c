/* SPDX-License-Identifier: MIT */
/*
 * source.c - lock-free reads of the VM clock and the host clocks.
 *
 * The reader side of the seqlock described in page.h.  The host clock is read
 * *inside* the sequence: a reader that overlapped a stop retries, so it can
 * never return a value above the one the stop froze (see keeper.c).
 */
#include <errno.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define VMT_HAVE_TSC 1
#endif

#include "keeper-internal.h"
#include "source-internal.h"

static inline vmt_ns clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (vmt_ns)ts.tv_sec * VMT_NS_PER_SEC + (vmt_ns)ts.tv_nsec;
}

vmt_ns vmti_host_now(const vmt_source *src, enum vmt_clock clock)
{
	if (src->host_clock)
		return src->host_clock(src->host_clock_opaque, clock);
	switch (clock) {
	case VMT_CLOCK_WALL:
		return clock_ns(CLOCK_REALTIME);
	case VMT_CLOCK_BOOT:
		return clock_ns(CLOCK_BOOTTIME);
	default:
		return clock_ns(CLOCK_MONOTONIC);
	}
}

vmt_ns vmti_page_host_mono(const vmt_source *src, const struct vmti_page *p, uint64_t flags)
{
	if (src->host_clock)
		return src->host_clock(src->host_clock_opaque, VMT_CLOCK_HOST);
#ifdef VMT_HAVE_TSC
	if (flags & VMTI_PAGE_TSC_VALID) {
		uint64_t base = atomic_load_explicit(&p->tsc_base, memory_order_relaxed);
		uint64_t ns_base = atomic_load_explicit(&p->tsc_ns_base, memory_order_relaxed);
		uint64_t mult = atomic_load_explicit(&p->tsc_mult, memory_order_relaxed);
		uint64_t shift = atomic_load_explicit(&p->tsc_shift, memory_order_relaxed);

		/* A forged or half-initialised page must not freeze host time. */
		if (mult && shift < 64) {
			/*
			 * No fence around rdtsc: it would cost more than the read.
			 * An rdtsc executed early reads an earlier time (clamped
			 * below the base); one executed after the closing
			 * sequence load is covered by the keeper, which waits
			 * out the reordering window before it samples the clock
			 * in a write (see keeper.c).
			 */
			uint64_t tsc = __rdtsc();
			uint64_t delta = tsc > base ? tsc - base : 0;

			return ns_base + (uint64_t)(((unsigned __int128)delta * mult) >> shift);
		}
	}
#else
	(void)p;
	(void)flags;
#endif
	return clock_ns(CLOCK_MONOTONIC);
}

static inline const struct vmti_page *src_page(const vmt_source *src)
{
	return atomic_load_explicit(&src->page, memory_order_acquire);
}

static inline vmt_ns vm_now(const vmt_source *src)
{
	const struct vmti_page *p = src_page(src);

	for (;;) {
		uint64_t s = atomic_load_explicit(&p->seq, memory_order_acquire);

		if (__builtin_expect(s & 1, 0)) {
#ifdef VMT_HAVE_TSC
			_mm_pause();
#endif
			continue;
		}
		uint64_t flags = atomic_load_explicit(&p->flags, memory_order_relaxed);
		vmt_ns v = atomic_load_explicit(&p->vm_base, memory_order_relaxed);

		if ((flags & (VMTI_PAGE_RUNNING | VMTI_PAGE_MANUAL)) == VMTI_PAGE_RUNNING) {
			vmt_ns hb = atomic_load_explicit(&p->host_base, memory_order_relaxed);
			vmt_ns h = vmti_page_host_mono(src, p, flags);

			/* A host reading before the start stamp is clamped: no going back. */
			if (h > hb)
				v = vmt_ns_add(v, h - hb);
			/* Saturate where stop does, so the frozen value is never below. */
			if (v == VMT_NS_NEVER)
				v = VMT_NS_NEVER - 1;
		}
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&p->seq, memory_order_relaxed) == s)
			return v;
	}
}

void vmti_source_state(const vmt_source *src, struct vmti_clock_state *st)
{
	const struct vmti_page *p = src_page(src);

	for (;;) {
		uint64_t s = atomic_load_explicit(&p->seq, memory_order_acquire);

		if (s & 1)
			continue;
		st->flags = atomic_load_explicit(&p->flags, memory_order_relaxed);
		st->vm_base = atomic_load_explicit(&p->vm_base, memory_order_relaxed);
		st->host_base = atomic_load_explicit(&p->host_base, memory_order_relaxed);
		st->generation = atomic_load_explicit(&p->generation, memory_order_relaxed);
		st->reset_count = atomic_load_explicit(&p->reset_count, memory_order_relaxed);
		st->wall_steps = atomic_load_explicit(&p->wall_steps, memory_order_relaxed);
		st->host_now = vmti_page_host_mono(src, p, st->flags);
		st->vm_now = st->vm_base;
		if ((st->flags & (VMTI_PAGE_RUNNING | VMTI_PAGE_MANUAL)) == VMTI_PAGE_RUNNING &&
		    st->host_now > st->host_base)
			st->vm_now = vmt_ns_add(st->vm_now, st->host_now - st->host_base);
		if (st->vm_now == VMT_NS_NEVER)
			st->vm_now = VMT_NS_NEVER - 1;
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&p->seq, memory_order_relaxed) == s)
			return;
	}
}

/* HOST time: the TSC parameters, when used, are read under the sequence. */
static inline vmt_ns host_now(const vmt_source *src)
{
	const struct vmti_page *p = src_page(src);

	if (src->host_clock)
		return src->host_clock(src->host_clock_opaque, VMT_CLOCK_HOST);
	for (;;) {
		uint64_t s = atomic_load_explicit(&p->seq, memory_order_acquire);
		uint64_t flags = atomic_load_explicit(&p->flags, memory_order_relaxed);

		if (!(flags & VMTI_PAGE_TSC_VALID) && !(s & 1))
			return clock_ns(CLOCK_MONOTONIC);
		if (s & 1)
			continue;
		vmt_ns h = vmti_page_host_mono(src, p, flags);

		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&p->seq, memory_order_relaxed) == s)
			return h;
	}
}

vmt_ns vmt_now(const vmt_source *src, enum vmt_clock clock)
{
	if (__builtin_expect(!src, 0))
		return VMT_NS_NEVER;
	switch (clock) {
	case VMT_CLOCK_VM:
		return vm_now(src);
	case VMT_CLOCK_HOST:
		return host_now(src);
	case VMT_CLOCK_WALL:
	case VMT_CLOCK_BOOT:
		return vmti_host_now(src, clock);
	default:
		return VMT_NS_NEVER;
	}
}

int vmt_source_now(const vmt_source *src, enum vmt_clock clock, vmt_ns *ret)
{
	if (!src || !ret || (unsigned)clock >= VMT_CLOCK_COUNT)
		return -EINVAL;
	*ret = vmt_now(src, clock);
	return 0;
}

int vmt_source_running(const vmt_source *src)
{
	if (!src)
		return -EINVAL;
	return (atomic_load_explicit(&src_page(src)->flags, memory_order_acquire) &
		VMTI_PAGE_RUNNING) != 0;
}

int64_t vmt_source_reset_count(const vmt_source *src)
{
	if (!src)
		return -EINVAL;
	return (int64_t)atomic_load_explicit(&src_page(src)->reset_count, memory_order_acquire);
}

int vmti_source_subscribe(vmt_source *src, int efd)
{
	if (src->ops && src->ops->subscribe)
		return src->ops->subscribe(src, efd);
	if (src->keeper)
		return vmti_keeper_subscribe(src->keeper, efd);
	return 0;
}

void vmti_source_unsubscribe(vmt_source *src, int efd)
{
	if (src->ops && src->ops->unsubscribe)
		src->ops->unsubscribe(src, efd);
	else if (src->keeper)
		vmti_keeper_unsubscribe(src->keeper, efd);
}
