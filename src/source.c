/* SPDX-License-Identifier: MIT */
/*
 * source.c - lock-free reads of the VM clock and the host clocks.
 *
 * The page layer (page.h) does the reading; a source adds what to do when
 * the writer stays inside a write: wait for a keeper in this process, give
 * up on one in another process (its ops freeze the source).
 */
#include <errno.h>
#include <time.h>

/* vmt_source_alive() is declared there: without its VMT_EXPORT the
 * definition below is hidden from libvmtime.so (man-coverage checks). */
#include <vmtime/share.h>

#include "source-internal.h"

vmt_ns vmti_host_now(const vmt_source *src, enum vmt_clock clock)
{
	if (src->hook.fn)
		return src->hook.fn(src->hook.opaque, clock);
	switch (clock) {
	case VMT_CLOCK_WALL:
		return vmti_clock_ns(CLOCK_REALTIME);
	case VMT_CLOCK_BOOT:
		return vmti_clock_ns(CLOCK_BOOTTIME);
	default:
		return vmti_clock_ns(CLOCK_MONOTONIC);
	}
}

void vmti_source_read_slow(const vmt_source *src, unsigned what, struct vmti_clock_state *st)
{
	const struct vmti_source_ops *ops = src->ops;
	vmt_ns bound = ops && ops->stuck ? src->stuck_ns : VMT_NS_NEVER;

	/* After stuck() the page is the frozen copy: the next read succeeds. */
	while (vmti_page_read(&src->page, &src->hook, what, bound, st) < 0)
		ops->stuck(src);
}

void vmti_source_state(const vmt_source *src, struct vmti_clock_state *st)
{
	vmti_source_read(src, 0, st);
	st->wall_steps = atomic_load_explicit(&src->wall_steps, memory_order_acquire);
}

vmt_ns vmt_now(const vmt_source *src, enum vmt_clock clock)
{
	struct vmti_clock_state st;

	if (__builtin_expect(!src, 0))
		return VMT_NS_NEVER;
	switch (clock) {
	case VMT_CLOCK_VM:
		vmti_source_read(src, VMTI_READ_VM_ONLY, &st);
		return st.vm_now;
	case VMT_CLOCK_HOST: {
		const struct vmti_page *p = atomic_load_explicit(&src->page, memory_order_acquire);
		uint64_t s = atomic_load_explicit(&p->seq, memory_order_acquire);

		/* Without TSC parameters nothing of the page is needed. */
		if (!src->hook.fn && !(s & 1) &&
		    !(atomic_load_explicit(&p->flags, memory_order_relaxed) & VMTI_PAGE_TSC_VALID))
			return vmti_clock_ns(CLOCK_MONOTONIC);
		/* The TSC parameters, when used, are read under the sequence. */
		vmti_source_read(src, 0, &st);
		return st.host_now;
	}
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

static inline const struct vmti_page *src_page(const vmt_source *src)
{
	return atomic_load_explicit(&src->page, memory_order_acquire);
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

int vmt_source_alive(const vmt_source *src)
{
	if (!src)
		return -EINVAL;
	if (src->ops && src->ops->alive)
		return src->ops->alive(src);
	return (atomic_load_explicit(&src_page(src)->flags, memory_order_acquire) &
		VMTI_PAGE_DEAD) ?
		       -ESHUTDOWN :
		       1;
}

int vmti_source_subscribe(vmt_source *src, int efd)
{
	if (src->ops && src->ops->subscribe)
		return src->ops->subscribe(src, efd);
	return 0;
}

void vmti_source_unsubscribe(vmt_source *src, int efd)
{
	if (src->ops && src->ops->unsubscribe)
		src->ops->unsubscribe(src, efd);
}

int vmti_source_advance(vmt_source *src, vmt_ns ns)
{
	if (!src->ops || !src->ops->advance)
		return -EOPNOTSUPP;
	return src->ops->advance(src, ns);
}
