/* SPDX-License-Identifier: MIT */
/*
 * keeper.c - the one writer of a VM clock.
 *
 * Every state change is one seqlock write of the page (page.h) followed by a
 * wake-up of the subscribed loops.  The stop path is the delicate one:
 *
 *   keeper:  seq odd (full barrier) -> h = host_now -> frozen = base + h - start
 *   reader:  s = seq -> h' = host_now -> v = base + h' - start -> seq == s ?
 *
 * If the reader's second load saw the old even sequence, its h' was sampled
 * before the keeper's increment became visible, hence before h: v <= frozen.
 * Otherwise the reader retries and reads the frozen value.  No reader can
 * have returned more than the clock freezes at.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "keeper-internal.h"
#include "tsc.h"

static int config_check(const struct vmt_keeper_config *cfg, struct vmt_keeper_config *out)
{
	/* The first public version of the struct ends after initial_vm_time. */
	const size_t v1 = offsetof(struct vmt_keeper_config, initial_vm_time) + sizeof(vmt_ns);

	memset(out, 0, sizeof(*out));
	if (!cfg)
		return 0;
	if (cfg->size < v1)
		return -EINVAL;
	if (cfg->size > sizeof(*out)) {
		const unsigned char *tail = (const unsigned char *)cfg + sizeof(*out);

		for (size_t i = 0; i < cfg->size - sizeof(*out); i++)
			if (tail[i])
				return -E2BIG;
	}
	memcpy(out, cfg, cfg->size < sizeof(*out) ? cfg->size : sizeof(*out));
	if (out->mode > VMT_KEEPER_MANUAL || out->tsc > VMT_TSC_AUTO ||
	    out->restore_policy > VMT_RESTORE_CATCHUP || out->initial_vm_time == VMT_NS_NEVER)
		return -EINVAL;
	return 0;
}

static vmt_keeper *of_source(vmt_source *src)
{
	return (vmt_keeper *)src; /* the source is the keeper's first member */
}

static int keeper_src_subscribe(vmt_source *src, int efd)
{
	return vmti_keeper_subscribe(of_source(src), efd);
}

static void keeper_src_unsubscribe(vmt_source *src, int efd)
{
	vmti_keeper_unsubscribe(of_source(src), efd);
}

static int keeper_src_advance(vmt_source *src, vmt_ns ns)
{
	return vmt_keeper_advance(of_source(src), ns);
}

/* No stuck(): the keeper is in the readers' process, they wait for its writes. */
static const struct vmti_source_ops keeper_source_ops = {
	.subscribe = keeper_src_subscribe,
	.unsubscribe = keeper_src_unsubscribe,
	.advance = keeper_src_advance,
};

int vmt_keeper_new(const struct vmt_keeper_config *cfg, vmt_keeper **ret)
{
	struct vmt_keeper_config c;
	vmt_keeper *k;
	int r;

	if (!ret)
		return -EINVAL;
	r = config_check(cfg, &c);
	if (r < 0)
		return r;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->memfd = memfd_create("vmtime-clock", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (k->memfd < 0) {
		r = -errno;
		free(k);
		return r;
	}
	if (ftruncate(k->memfd, VMTI_PAGE_MAP_SIZE) < 0) {
		r = -errno;
		goto fail_fd;
	}
	k->page = mmap(NULL, VMTI_PAGE_MAP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, k->memfd, 0);
	if (k->page == MAP_FAILED) {
		r = -errno;
		goto fail_fd;
	}
	r = pthread_mutex_init(&k->lock, NULL);
	if (r) {
		r = -r;
		goto fail_map;
	}
	k->mode = c.mode;
	k->tsc = c.tsc;
	k->restore_policy = c.restore_policy;
	k->initial_vm_time = c.initial_vm_time;

	vmti_page_init(k->page, (uint64_t)getpid(), c.mode == VMT_KEEPER_MANUAL ? VMTI_PAGE_MANUAL : 0,
		       c.initial_vm_time, c.restore_policy);

	atomic_init(&k->src.page, k->page);
	k->src.hook = (struct vmti_host_hook){ c.host_clock, c.host_clock_opaque };
	k->src.ops = &keeper_source_ops;
	/* TSC mode: a calibration thread publishes and refreshes the TSC parameters. */
	r = vmti_tsc_keeper_start(k);
	if (r < 0)
		goto fail_lock;
	*ret = k;
	return 0;

fail_lock:
	pthread_mutex_destroy(&k->lock);
fail_map:
	munmap(k->page, VMTI_PAGE_MAP_SIZE);
fail_fd:
	close(k->memfd);
	free(k);
	return r;
}

vmt_keeper *vmt_keeper_free(vmt_keeper *k)
{
	if (!k)
		return NULL;
	vmti_tsc_keeper_stop(k);
	/* Attached readers keep their mapping: leave them a stopped, dead clock. */
	if (VMTI_PAGE_GET(k->page, flags) & VMTI_PAGE_RUNNING)
		vmt_keeper_stop(k);
	pthread_mutex_lock(&k->lock);
	vmti_page_write_begin(k->page);
	VMTI_PAGE_SET(k->page, flags, VMTI_PAGE_GET(k->page, flags) | VMTI_PAGE_DEAD);
	VMTI_PAGE_SET(k->page, generation, VMTI_PAGE_GET(k->page, generation) + 1);
	vmti_page_write_end(k->page);
	vmti_keeper_notify_locked(k);
	pthread_mutex_unlock(&k->lock);
	pthread_mutex_destroy(&k->lock);
	munmap(k->page, VMTI_PAGE_MAP_SIZE);
	close(k->memfd);
	vmti_efd_set_free(&k->subs);
	free(k);
	return NULL;
}

void vmti_keeper_notify_locked(vmt_keeper *k)
{
	vmti_efd_set_wake(&k->subs);
}

int vmti_keeper_subscribe(vmt_keeper *k, int efd)
{
	int r;

	pthread_mutex_lock(&k->lock);
	r = vmti_efd_set_add(&k->subs, efd);
	pthread_mutex_unlock(&k->lock);
	return r;
}

void vmti_keeper_unsubscribe(vmt_keeper *k, int efd)
{
	pthread_mutex_lock(&k->lock);
	vmti_efd_set_remove(&k->subs, efd);
	pthread_mutex_unlock(&k->lock);
}

enum vmt_restore_policy vmti_keeper_restore_policy(const vmt_keeper *k)
{
	return (enum vmt_restore_policy)k->restore_policy;
}

/* Bumps the generation and wakes the loops; the caller is inside a write. */
static void changed_locked(vmt_keeper *k)
{
	VMTI_PAGE_SET(k->page, generation, VMTI_PAGE_GET(k->page, generation) + 1);
	vmti_page_write_end(k->page);
	vmti_keeper_notify_locked(k);
	pthread_mutex_unlock(&k->lock);
}

/*
 * Takes the keeper's lock if the clock's running state is @running, with the
 * page's flags in *@flags; otherwise returns @err without the lock.
 */
static int lock_when(vmt_keeper *k, bool running, int err, uint64_t *flags)
{
	pthread_mutex_lock(&k->lock);
	*flags = VMTI_PAGE_GET(k->page, flags);
	if (!!(*flags & VMTI_PAGE_RUNNING) != running) {
		pthread_mutex_unlock(&k->lock);
		return err;
	}
	return 0;
}

int vmt_keeper_start(vmt_keeper *k)
{
	uint64_t flags;
	int r;

	if (!k)
		return -EINVAL;
	r = lock_when(k, false, -EALREADY, &flags);
	if (r)
		return r;
	vmti_page_write_begin(k->page);
	if (k->mode == VMT_KEEPER_REAL)
		VMTI_PAGE_SET(k->page, host_base, vmti_page_writer_host_now(k->page, &k->src.hook));
	VMTI_PAGE_SET(k->page, flags, flags | VMTI_PAGE_RUNNING);
	changed_locked(k);
	return 0;
}

int vmt_keeper_stop(vmt_keeper *k)
{
	struct vmti_page *p;
	uint64_t flags;
	int r;

	if (!k)
		return -EINVAL;
	p = k->page;
	r = lock_when(k, true, -EALREADY, &flags);
	if (r)
		return r;
	vmti_page_write_begin(p);
	if (k->mode == VMT_KEEPER_REAL) {
		/* Sampled after the odd sequence is visible: see the comment on top. */
		vmt_ns h = vmti_page_sample_host(p, &k->src.hook);

		VMTI_PAGE_SET(p, vm_base,
			      vmti_page_vm_at(flags, VMTI_PAGE_GET(p, vm_base),
					      VMTI_PAGE_GET(p, host_base), h));
	}
	VMTI_PAGE_SET(p, flags, flags & ~(uint64_t)VMTI_PAGE_RUNNING);
	changed_locked(k);
	return 0;
}

int vmt_keeper_reset(vmt_keeper *k, vmt_ns t)
{
	uint64_t flags;
	int r;

	if (!k || t == VMT_NS_NEVER)
		return -EINVAL;
	r = lock_when(k, false, -EBUSY, &flags);
	if (r)
		return r;
	vmti_page_write_begin(k->page);
	VMTI_PAGE_SET(k->page, vm_base, t);
	VMTI_PAGE_SET(k->page, reset_count, VMTI_PAGE_GET(k->page, reset_count) + 1);
	changed_locked(k);
	return 0;
}

int vmt_keeper_running(const vmt_keeper *k)
{
	if (!k)
		return -EINVAL;
	return (atomic_load_explicit(&k->page->flags, memory_order_acquire) & VMTI_PAGE_RUNNING) != 0;
}

int vmt_keeper_advance(vmt_keeper *k, vmt_ns ns)
{
	uint64_t flags;
	vmt_ns v;
	int r;

	if (!k)
		return -EINVAL;
	if (k->mode != VMT_KEEPER_MANUAL)
		return -EOPNOTSUPP;
	r = lock_when(k, true, -EPERM, &flags);
	if (r)
		return r;
	v = VMTI_PAGE_GET(k->page, vm_base);
	if (ns >= VMT_NS_NEVER - v) {
		pthread_mutex_unlock(&k->lock);
		return -EOVERFLOW;
	}
	vmti_page_write_begin(k->page);
	VMTI_PAGE_SET(k->page, vm_base, v + ns);
	changed_locked(k);
	return 0;
}

vmt_source *vmt_keeper_source(vmt_keeper *k)
{
	return k ? &k->src : NULL;
}

int vmt_keeper_wall_stepped(vmt_keeper *k)
{
	if (!k)
		return -EINVAL;
	/*
	 * Process-local, outside the page: a test hook has no place in the
	 * cross-process layout, and the loops that care are this keeper's own.
	 */
	atomic_fetch_add_explicit(&k->src.wall_steps, 1, memory_order_release);
	pthread_mutex_lock(&k->lock);
	vmti_keeper_notify_locked(k);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

int vmt_keeper_inspect(const vmt_keeper *k, FILE *out)
{
	struct vmti_clock_state st;
	int n;

	if (!k || !out)
		return -EINVAL;
	vmti_source_state(&k->src, &st);
	n = fprintf(out,
		    "{\"mode\":\"%s\",\"running\":%s,\"vm_ns\":%llu,\"host_ns\":%llu,"
		    "\"wall_ns\":%llu,\"boot_ns\":%llu,\"reset_count\":%llu,\"generation\":%llu,"
		    "\"restore_policy\":\"%s\",\"tsc\":%s}\n",
		    k->mode == VMT_KEEPER_MANUAL ? "manual" : "real",
		    (st.flags & VMTI_PAGE_RUNNING) ? "true" : "false",
		    (unsigned long long)st.vm_now, (unsigned long long)st.host_now,
		    (unsigned long long)vmti_host_now(&k->src, VMT_CLOCK_WALL),
		    (unsigned long long)vmti_host_now(&k->src, VMT_CLOCK_BOOT),
		    (unsigned long long)st.reset_count, (unsigned long long)st.generation,
		    k->restore_policy == VMT_RESTORE_CATCHUP ? "catchup" : "freeze",
		    (st.flags & VMTI_PAGE_TSC_VALID) ? "true" : "false");
	if (n < 0 || fflush(out) != 0)
		return -EIO;
	return 0;
}
