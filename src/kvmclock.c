/* SPDX-License-Identifier: MIT */
/*
 * kvmclock.c - the KVM clock bridge: KVM's per-VM clock follows VM time.
 *
 * KVM keeps, per VM, kvmclock = host clock + kvmclock_offset, and computes
 * every vCPU's pvclock page from it.  KVM_SET_CLOCK moves the offset so the
 * clock reads a given value now; KVM_GET_CLOCK reads it.  The bridge sets it
 * to VM time + offset at each start and reads it at each stop; between the
 * two both clocks run with the host, so they agree but for the few ppm by
 * which the host's boot clock and KVM's TSC scaling part from the keeper's
 * clock.  The reading at the stop is the floor of the next start: the guest
 * saw that value last, so the clock must not restart below it.
 *
 *   VM time  ..run..|stop   (paused: VM time frozen)   start|..run..
 *   kvmclock ..run..|GET k                     SET max(vm + off,
 *                                                  k + vm - vm_at_k)|..
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>

#include <vmtime/kvmclock.h>

#include "dev-irq.h"
#include "kvmclock-internal.h"

#if defined(__linux__) && defined(__has_include)
#if __has_include(<linux/kvm.h>)
#include <linux/kvm.h>
#define HAVE_KVM 1
#endif
#endif

#define FIELD_STATE_VERSION 1

enum {
	F_VERSION = 1,
	F_OFFSET = 2,
	F_FLOOR_VALID = 3,
	F_FLOOR_GUEST = 4,	/* the guest's kvmclock at the last stop */
	F_FLOOR_VM = 5,		/* VM time read with it */
};

/* MSR numbers: Intel SDM vol. 4 and Linux's Documentation/virt/kvm/x86/msr.rst. */
#define MSR_IA32_TSC 0x10
#define MSR_KVM_WALL_CLOCK 0x11
#define MSR_KVM_SYSTEM_TIME 0x12
#define MSR_IA32_TSC_ADJUST 0x3b
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define MSR_KVM_STEAL_TIME 0x4b564d03

/* CPUID 0x80000007 EDX bit 8: the TSC runs at a constant rate in every state. */
#define CPUID_APM_LEAF 0x80000007u
#define CPUID_APM_EDX_INVTSC (1u << 8)

static const uint32_t time_msrs[] = {
	MSR_IA32_TSC,	     MSR_IA32_TSC_ADJUST,  MSR_KVM_WALL_CLOCK_NEW, MSR_KVM_SYSTEM_TIME_NEW,
	MSR_KVM_WALL_CLOCK,  MSR_KVM_SYSTEM_TIME,  MSR_KVM_STEAL_TIME,	   MSR_IA32_TSC_DEADLINE,
};
#define N_TIME_MSRS (sizeof(time_msrs) / sizeof(time_msrs[0]))

struct vmt_kvmclock {
	pthread_mutex_t lock;
	vmt_source *src;
	int vm_fd;
	uint64_t offset;
	char name[VMT_UNIT_NAME_MAX + 1];
	int running;
	struct vmti_kvmclock_floor floor;
	struct vmt_kvmclock_stats stats;
	struct vmti_dev_runner unit;
};

/* --- the arithmetic (kvmclock-internal.h) ------------------------------- */

uint64_t vmti_kvmclock_target(vmt_ns vm, uint64_t offset, const struct vmti_kvmclock_floor *f,
			      uint64_t *held)
{
	uint64_t want = vmt_ns_add(vm, offset), floor;

	*held = 0;
	if (!f->valid || vm < f->vm_ns)
		return want;
	floor = vmt_ns_add(f->guest_ns, vm - f->vm_ns);
	if (floor <= want)
		return want;
	*held = floor - want;
	return floor;
}

int64_t vmti_kvmclock_drift(uint64_t guest, vmt_ns vm, uint64_t offset)
{
	uint64_t want = vmt_ns_add(vm, offset);

	if (guest >= want)
		return guest - want > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(guest - want);
	return want - guest > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)(want - guest);
}

/* --- ioctls ---------------------------------------------------------------- */

#ifdef HAVE_KVM
static int kvm_ioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static int get_clock(int vm_fd, uint64_t *ns)
{
	struct kvm_clock_data d;
	int r;

	memset(&d, 0, sizeof(d));
	r = kvm_ioctl(vm_fd, KVM_GET_CLOCK, &d);
	if (r < 0)
		return r;
	*ns = d.clock;
	return 0;
}

static int set_clock(int vm_fd, uint32_t adjust, uint64_t ns, uint64_t realtime)
{
	struct kvm_clock_data d;

	memset(&d, 0, sizeof(d));
	d.clock = ns;
	/* KVM then adds the host time between @realtime and the ioctl. */
	if (adjust & KVM_CLOCK_REALTIME) {
		d.flags = KVM_CLOCK_REALTIME;
		d.realtime = realtime;
	}
	return kvm_ioctl(vm_fd, KVM_SET_CLOCK, &d);
}

static int adjust_flags(int vm_fd, uint32_t *flags)
{
	int r = kvm_ioctl(vm_fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_ADJUST_CLOCK);

	if (r < 0)
		return r;
	if (r == 0)
		return -EOPNOTSUPP;
	*flags = (uint32_t)r;
	return 0;
}

/* One MSR per call: KVM stops at the first MSR it does not know. */
static int msr_io(int vcpu_fd, unsigned long req, uint32_t index, uint64_t *val)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m;
	int r;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = 1;
	m.e.index = index;
	m.e.data = *val;
	r = kvm_ioctl(vcpu_fd, req, &m);
	if (r == 1)
		*val = m.e.data;
	return r;
}
#else
static int get_clock(int vm_fd, uint64_t *ns)
{
	(void)vm_fd, (void)ns;
	return -EOPNOTSUPP;
}

static int set_clock(int vm_fd, uint32_t adjust, uint64_t ns, uint64_t realtime)
{
	(void)vm_fd, (void)adjust, (void)ns, (void)realtime;
	return -EOPNOTSUPP;
}

static int adjust_flags(int vm_fd, uint32_t *flags)
{
	(void)vm_fd, (void)flags;
	return -EOPNOTSUPP;
}
#endif

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- life cycle -------------------------------------------------------------- */

int vmt_kvmclock_config_init(struct vmt_kvmclock_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->vm_fd = -1;
	return 0;
}

int vmt_kvmclock_new(vmt_source *src, const struct vmt_kvmclock_config *cfg, vmt_kvmclock **ret)
{
	char name[VMT_UNIT_NAME_MAX + 1];
	vmt_kvmclock *kc;
	uint32_t flags;
	int r;

	if (!src || !cfg || !ret || cfg->vm_fd < 0)
		return -EINVAL;
	r = vmti_dev_name(cfg->name, VMT_KVMCLOCK_NAME_DEFAULT, name);
	if (r < 0)
		return r;
	r = adjust_flags(cfg->vm_fd, &flags);
	if (r < 0)
		return r;
	kc = calloc(1, sizeof(*kc));
	if (!kc)
		return -ENOMEM;
	pthread_mutex_init(&kc->lock, NULL);
	kc->src = src;
	kc->vm_fd = cfg->vm_fd;
	kc->offset = cfg->offset_ns;
	memcpy(kc->name, name, sizeof(name));
	kc->stats.adjust_flags = flags;
	*ret = kc;
	return 0;
}

vmt_kvmclock *vmt_kvmclock_free(vmt_kvmclock *kc)
{
	if (kc) {
		pthread_mutex_destroy(&kc->lock);
		free(kc);
	}
	return NULL;
}

static void count_error(vmt_kvmclock *kc, int r)
{
	kc->stats.errors++;
	kc->stats.last_error = r;
}

int vmt_kvmclock_start(vmt_kvmclock *kc)
{
	uint64_t val, held, rt;
	vmt_ns vm;
	int r;

	if (!kc)
		return -EINVAL;
	pthread_mutex_lock(&kc->lock);
	if (kc->running) {
		pthread_mutex_unlock(&kc->lock);
		return -EALREADY;
	}
	/* VM time and the host's wall clock as close together as we can. */
	vm = vmt_now(kc->src, VMT_CLOCK_VM);
	rt = realtime_ns();
	val = vmti_kvmclock_target(vm, kc->offset, &kc->floor, &held);
	r = set_clock(kc->vm_fd, kc->stats.adjust_flags, val, rt);
	if (r < 0) {
		count_error(kc, r);
	} else {
		kc->running = 1;
		kc->stats.starts++;
		kc->stats.set_ns = val;
		kc->stats.set_vm_ns = vm;
		kc->stats.held_ns = held;
		r = 0;
	}
	pthread_mutex_unlock(&kc->lock);
	return r;
}

int vmt_kvmclock_stop(vmt_kvmclock *kc)
{
	uint64_t guest = 0;
	vmt_ns vm;
	int r;

	if (!kc)
		return -EINVAL;
	pthread_mutex_lock(&kc->lock);
	if (!kc->running) {
		pthread_mutex_unlock(&kc->lock);
		return -EALREADY;
	}
	kc->running = 0;
	r = get_clock(kc->vm_fd, &guest);
	vm = vmt_now(kc->src, VMT_CLOCK_VM);
	if (r < 0) {
		/* Without a reading there is no floor: the start sets VM + offset. */
		kc->floor.valid = 0;
		count_error(kc, r);
	} else {
		kc->floor = (struct vmti_kvmclock_floor){ 1, guest, vm };
		kc->stats.stops++;
		kc->stats.stop_ns = guest;
		kc->stats.stop_vm_ns = vm;
		kc->stats.drift_ns = vmti_kvmclock_drift(guest, vm, kc->offset);
	}
	pthread_mutex_unlock(&kc->lock);
	return r;
}

int vmt_kvmclock_reset(vmt_kvmclock *kc)
{
	int r = 0;

	if (!kc)
		return -EINVAL;
	pthread_mutex_lock(&kc->lock);
	if (kc->running)
		r = -EBUSY;
	else
		kc->floor.valid = 0;
	pthread_mutex_unlock(&kc->lock);
	return r;
}

int vmt_kvmclock_read(vmt_kvmclock *kc, uint64_t *guest_ns, vmt_ns *vm_ns)
{
	uint64_t g;
	vmt_ns vm;
	int r;

	if (!kc || !guest_ns)
		return -EINVAL;
	r = get_clock(kc->vm_fd, &g);
	vm = vmt_now(kc->src, VMT_CLOCK_VM);
	if (r < 0)
		return r;
	*guest_ns = g;
	if (vm_ns)
		*vm_ns = vm;
	return 0;
}

/* --- save / restore ----------------------------------------------------------- */

int vmt_kvmclock_save(vmt_kvmclock *kc, vmt_fields_writer *w, uint32_t id)
{
	int r;

	if (!kc || !w)
		return -EINVAL;
	pthread_mutex_lock(&kc->lock);
	if (kc->running) {
		pthread_mutex_unlock(&kc->lock);
		return -EBUSY;
	}
	/* The writer's errors are sticky: checking the last call is enough. */
	vmt_fields_begin_group(w, id);
	vmt_fields_put_u64(w, F_VERSION, FIELD_STATE_VERSION);
	vmt_fields_put_u64(w, F_OFFSET, kc->offset);
	vmt_fields_put_u64(w, F_FLOOR_VALID, (uint64_t)kc->floor.valid);
	vmt_fields_put_u64(w, F_FLOOR_GUEST, kc->floor.guest_ns);
	vmt_fields_put_u64(w, F_FLOOR_VM, kc->floor.vm_ns);
	r = vmt_fields_end_group(w);
	pthread_mutex_unlock(&kc->lock);
	return r < 0 ? r : 0;
}

int vmt_kvmclock_restore(vmt_kvmclock *kc, const vmt_fields_reader *r, uint32_t id)
{
	uint64_t version, offset, valid, guest, vm;
	const struct {
		uint32_t id;
		uint64_t *v;
	} u[] = {
		{ F_VERSION, &version },     { F_OFFSET, &offset }, { F_FLOOR_VALID, &valid },
		{ F_FLOOR_GUEST, &guest },   { F_FLOOR_VM, &vm },
	};
	vmt_fields_reader g;
	int e;

	if (!kc || !r)
		return -EINVAL;
	e = vmt_fields_get_group(r, id, &g);
	if (e < 0)
		return e;
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		e = vmt_fields_get_u64(&g, u[i].id, u[i].v);
		if (e < 0)
			return e;
	}
	if (version != FIELD_STATE_VERSION || valid > 1)
		return -EBADMSG;
	pthread_mutex_lock(&kc->lock);
	if (kc->running) {
		pthread_mutex_unlock(&kc->lock);
		return -EBUSY;
	}
	kc->offset = offset;
	kc->floor = (struct vmti_kvmclock_floor){ (int)valid, guest, vm };
	pthread_mutex_unlock(&kc->lock);
	return 0;
}

/* --- vCPU time MSRs ------------------------------------------------------------- */

const uint32_t *vmt_kvmclock_msrs(size_t *n)
{
	if (!n)
		return NULL;
	*n = N_TIME_MSRS;
	return time_msrs;
}

int vmt_kvmclock_cpuid_fixup(uint32_t function, uint32_t index, uint32_t regs[4])
{
	(void)index;
	if (!regs)
		return -EINVAL;
	if (function == CPUID_APM_LEAF && (regs[3] & CPUID_APM_EDX_INVTSC)) {
		regs[3] &= ~CPUID_APM_EDX_INVTSC;
		return 1;
	}
	return 0;
}

static int is_time_msr(uint32_t index)
{
	for (size_t i = 0; i < N_TIME_MSRS; i++)
		if (time_msrs[i] == index)
			return 1;
	return 0;
}

#ifdef HAVE_KVM
int vmt_kvmclock_vcpu_save(vmt_kvmclock *kc, int vcpu_fd, vmt_fields_writer *w, uint32_t id)
{
	uint64_t v;
	int r;

	if (!kc || !w || vcpu_fd < 0)
		return -EINVAL;
	/* Field ids are the MSR numbers; an MSR this host lacks is left out. */
	r = vmt_fields_begin_group(w, id);
	for (size_t i = 0; r >= 0 && i < N_TIME_MSRS; i++) {
		v = 0;
		r = msr_io(vcpu_fd, KVM_GET_MSRS, time_msrs[i], &v);
		if (r == 1)
			r = vmt_fields_put_u64(w, time_msrs[i], v);
	}
	if (r < 0) {
		vmt_fields_end_group(w);
		return r;
	}
	r = vmt_fields_end_group(w);
	return r < 0 ? r : 0;
}

int vmt_kvmclock_vcpu_restore(vmt_kvmclock *kc, int vcpu_fd, const vmt_fields_reader *r,
			      uint32_t id)
{
	vmt_fields_reader g;
	struct vmt_field f;
	uint64_t v;
	int e;

	if (!kc || !r || vcpu_fd < 0)
		return -EINVAL;
	e = vmt_fields_get_group(r, id, &g);
	if (e < 0)
		return e;
	/* Check the whole group before setting anything. */
	while ((e = vmt_fields_next(&g, &f)) > 0)
		if (f.type != VMT_FIELD_U64 || !is_time_msr(f.id))
			return -EBADMSG;
	if (e < 0)
		return e;
	/* In the list's order, not the file's: TSC before what counts on it. */
	for (size_t i = 0; i < N_TIME_MSRS; i++) {
		if (vmt_fields_get_u64(&g, time_msrs[i], &v) < 0)
			continue;
		e = msr_io(vcpu_fd, KVM_SET_MSRS, time_msrs[i], &v);
		if (e < 0)
			return e;
		if (e != 1)
			return -EIO;
	}
	return 0;
}
#else
int vmt_kvmclock_vcpu_save(vmt_kvmclock *kc, int vcpu_fd, vmt_fields_writer *w, uint32_t id)
{
	(void)id;
	return !kc || !w || vcpu_fd < 0 ? -EINVAL : -EOPNOTSUPP;
}

int vmt_kvmclock_vcpu_restore(vmt_kvmclock *kc, int vcpu_fd, const vmt_fields_reader *r,
			      uint32_t id)
{
	(void)id;
	return !kc || !r || vcpu_fd < 0 ? -EINVAL : -EOPNOTSUPP;
}
#endif

/* --- stats, inspect, unit --------------------------------------------------------- */

int vmt_kvmclock_get_stats(vmt_kvmclock *kc, struct vmt_kvmclock_stats *stats)
{
	if (!kc || !stats)
		return -EINVAL;
	pthread_mutex_lock(&kc->lock);
	*stats = kc->stats;
	pthread_mutex_unlock(&kc->lock);
	return 0;
}

int vmt_kvmclock_inspect(vmt_kvmclock *kc, FILE *out)
{
	struct vmt_kvmclock_stats st;
	uint64_t offset;
	int run, n;

	if (!kc || !out)
		return -EINVAL;
	pthread_mutex_lock(&kc->lock);
	st = kc->stats;
	run = kc->running;
	offset = kc->offset;
	pthread_mutex_unlock(&kc->lock);
	/* The name passed vmti_dev_name(): nothing in it needs escaping. */
	n = fprintf(out,
		    "{\"name\":\"%s\",\"running\":%s,\"offset_ns\":%" PRIu64 ",\"adjust_flags\":%" PRIu32
		    ",\"starts\":%" PRIu64 ",\"stops\":%" PRIu64 ",\"set_ns\":%" PRIu64
		    ",\"set_vm_ns\":%" PRIu64 ",\"stop_ns\":%" PRIu64 ",\"stop_vm_ns\":%" PRIu64
		    ",\"drift_ns\":%" PRId64 ",\"held_ns\":%" PRIu64 ",\"errors\":%" PRIu64
		    ",\"last_error\":%d}",
		    kc->name, run ? "true" : "false", offset, st.adjust_flags, st.starts, st.stops,
		    st.set_ns, st.set_vm_ns, st.stop_ns, st.stop_vm_ns, st.drift_ns, st.held_ns,
		    st.errors, st.last_error);
	return n < 0 || ferror(out) ? -EIO : 0;
}

/* Failures are in the stats: a unit start or stop cannot report them. */
static void unit_start(void *dev)
{
	(void)vmt_kvmclock_start(dev);
}

static void unit_stop(void *dev)
{
	(void)vmt_kvmclock_stop(dev);
}

static int unit_op(void *dev, enum vmti_unit_op op, vmt_fields_writer *w,
		   const vmt_fields_reader *r, FILE *out)
{
	switch (op) {
	case VMTI_UNIT_RESET:
		return vmt_kvmclock_reset(dev);
	case VMTI_UNIT_SAVE:
		return vmt_kvmclock_save(dev, w, VMTI_DEV_UNIT_GROUP);
	case VMTI_UNIT_RESTORE:
		return vmt_kvmclock_restore(dev, r, VMTI_DEV_UNIT_GROUP);
	case VMTI_UNIT_INSPECT:
		return vmt_kvmclock_inspect(dev, out);
	}
	return -EINVAL;
}

int vmt_kvmclock_add_unit(vmt_kvmclock *kc, vmt_units *units, vmt_unit **ret)
{
	if (!kc || !units)
		return -EINVAL;
	kc->unit = (struct vmti_dev_runner){ { unit_op, kc, kc->name }, unit_start, unit_stop };
	return vmti_dev_runner_add(units, &kc->unit, ret);
}
