/* SPDX-License-Identifier: MIT */
/*
 * test-kvmclock.c - the KVM clock bridge.
 *
 * The arithmetic (the start's target and floor, the drift) and the helpers
 * that need no KVM run everywhere; the cases on a real VM skip without a
 * usable /dev/kvm.  VMT_TEST_KVM: `make check-kvm` runs them, nested under
 * emulation if need be.  KVM's clock runs in real time while VM time is on
 * a manual keeper, so the KVM cases bound what KVM adds by the real time
 * read around each call.
 */
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <vmtime/keeper.h>
#include <vmtime/kvmclock.h>

#include "kvmclock-internal.h"
#include "tests.h"

#define MS UINT64_C(1000000)
#define SEC UINT64_C(1000000000)

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

/* --- the arithmetic ----------------------------------------------------- */

TEST(target_is_vm_time_plus_offset_without_floor)
{
	struct vmti_kvmclock_floor f = { 0 };
	uint64_t held = 99;

	ASSERT_EQ(vmti_kvmclock_target(5 * SEC, 2 * SEC, &f, &held), 7 * SEC);
	ASSERT_EQ(held, 0);
}

TEST(target_keeps_the_floor_when_kvm_ran_ahead)
{
	/* The guest saw 10 s at VM time 9 s (offset 0): 1 s ahead. */
	struct vmti_kvmclock_floor f = { 1, 10 * SEC, 9 * SEC };
	uint64_t held;

	ASSERT_EQ(vmti_kvmclock_target(9 * SEC, 0, &f, &held), 10 * SEC);
	ASSERT_EQ(held, SEC);
	/* VM time moved 3 s since (a CATCHUP restore): the floor moves too. */
	ASSERT_EQ(vmti_kvmclock_target(12 * SEC, 0, &f, &held), 13 * SEC);
	ASSERT_EQ(held, SEC);
}

TEST(target_steps_forward_when_kvm_lagged)
{
	struct vmti_kvmclock_floor f = { 1, 8 * SEC, 9 * SEC };
	uint64_t held;

	ASSERT_EQ(vmti_kvmclock_target(9 * SEC, 0, &f, &held), 9 * SEC);
	ASSERT_EQ(held, 0);
}

TEST(target_ignores_a_floor_from_a_later_vm_time)
{
	/* VM time went back (a reset, an older snapshot): the guest rebooted. */
	struct vmti_kvmclock_floor f = { 1, 100 * SEC, 100 * SEC };
	uint64_t held;

	ASSERT_EQ(vmti_kvmclock_target(SEC, 0, &f, &held), SEC);
	ASSERT_EQ(held, 0);
}

TEST(target_saturates)
{
	struct vmti_kvmclock_floor f = { 1, UINT64_MAX - 1, 0 };
	uint64_t held;

	VMT_UCMP(vmti_kvmclock_target(UINT64_MAX - 5, 10, &f, &held), ==, UINT64_MAX);
	ASSERT_EQ(held, 0);
	VMT_UCMP(vmti_kvmclock_target(5, 0, &f, &held), ==, UINT64_MAX);
	VMT_UCMP(held, ==, UINT64_MAX - 5);
}

TEST(drift_is_signed_and_saturated)
{
	ASSERT_EQ(vmti_kvmclock_drift(10 * SEC, 9 * SEC, 0), (long long)SEC);
	ASSERT_EQ(vmti_kvmclock_drift(9 * SEC, 9 * SEC, SEC), -(long long)SEC);
	ASSERT_TRUE(vmti_kvmclock_drift(UINT64_MAX, 0, 0) == INT64_MAX);
	ASSERT_TRUE(vmti_kvmclock_drift(0, UINT64_MAX, 0) == INT64_MIN);
}

/* --- helpers without KVM ---------------------------------------------------- */

TEST(cpuid_fixup_hides_only_the_invariant_tsc)
{
	uint32_t r[4] = { 1, 2, 3, 0x100 | 0x1 };
	uint32_t other[4] = { 0x100, 0x100, 0x100, 0x100 };

	ASSERT_EQ(vmt_kvmclock_cpuid_fixup(0x80000007, 0, r), 1);
	ASSERT_EQ(r[3], 0x1);
	ASSERT_EQ(r[0], 1);
	ASSERT_EQ(vmt_kvmclock_cpuid_fixup(0x80000007, 0, r), 0);
	ASSERT_EQ(vmt_kvmclock_cpuid_fixup(1, 0, other), 0);
	ASSERT_EQ(other[3], 0x100);
	ASSERT_ERR(vmt_kvmclock_cpuid_fixup(1, 0, NULL), -EINVAL);
}

TEST(msrs_start_with_the_tsc_and_end_with_its_deadline)
{
	const uint32_t *m;
	size_t n = 0;

	m = vmt_kvmclock_msrs(&n);
	ASSERT_TRUE(m != NULL);
	ASSERT_GE(n, 4);
	ASSERT_EQ(m[0], 0x10);		/* IA32_TSC */
	ASSERT_EQ(m[n - 1], 0x6e0);	/* IA32_TSC_DEADLINE */
	for (size_t i = 0; i < n; i++)
		if (m[i] == 0x4b564d01)	/* MSR_KVM_SYSTEM_TIME_NEW */
			return;
	VMT_FAIL("MSR_KVM_SYSTEM_TIME_NEW is not in the list");
}

TEST(msrs_null_count)
{
	ASSERT_TRUE(vmt_kvmclock_msrs(NULL) == NULL);
}

TEST(config_init)
{
	struct vmt_kvmclock_config c;

	memset(&c, 0xff, sizeof(c));
	ASSERT_OK(vmt_kvmclock_config_init(&c));
	ASSERT_EQ(c.vm_fd, -1);
	ASSERT_EQ(c.offset_ns, 0);
	ASSERT_TRUE(c.name == NULL);
	ASSERT_ERR(vmt_kvmclock_config_init(NULL), -EINVAL);
}

static vmt_keeper *manual_keeper(void)
{
	struct vmt_keeper_config kc = VMT_KEEPER_CONFIG_INIT;
	vmt_keeper *k;

	kc.mode = VMT_KEEPER_MANUAL;
	ASSERT_OK(vmt_keeper_new(&kc, &k));
	return k;
}

TEST(new_refuses_bad_arguments_and_fds)
{
	vmt_keeper *k = manual_keeper();
	vmt_source *src = vmt_keeper_source(k);
	struct vmt_kvmclock_config c;
	vmt_kvmclock *kc = NULL;
	char longname[VMT_UNIT_NAME_MAX + 2];
	int efd, closed;

	ASSERT_OK(vmt_kvmclock_config_init(&c));
	ASSERT_ERR(vmt_kvmclock_new(src, &c, &kc), -EINVAL); /* vm_fd -1 */
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_GE(efd, 0);
	c.vm_fd = efd;
	ASSERT_ERR(vmt_kvmclock_new(NULL, &c, &kc), -EINVAL);
	ASSERT_ERR(vmt_kvmclock_new(src, NULL, &kc), -EINVAL);
	ASSERT_ERR(vmt_kvmclock_new(src, &c, NULL), -EINVAL);
	c.name = "";
	ASSERT_ERR(vmt_kvmclock_new(src, &c, &kc), -EINVAL);
	c.name = "a\"b";
	ASSERT_ERR(vmt_kvmclock_new(src, &c, &kc), -EINVAL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	c.name = longname;
	ASSERT_ERR(vmt_kvmclock_new(src, &c, &kc), -ENAMETOOLONG);
	c.name = NULL;
	/* An eventfd answers no KVM ioctl. */
	ASSERT_ERR(vmt_kvmclock_new(src, &c, &kc), -ENOTTY);
	closed = dup(efd);
	close(closed);
	c.vm_fd = closed;
	ASSERT_ERR(vmt_kvmclock_new(src, &c, &kc), -EBADF);
	ASSERT_TRUE(kc == NULL);
	close(efd);
	vmt_keeper_free(k);
}

TEST(null_bridge_everywhere)
{
	struct vmt_kvmclock_stats st;
	vmt_fields_writer *w;
	vmt_fields_reader r;
	uint64_t g;

	ASSERT_TRUE(vmt_kvmclock_free(NULL) == NULL);
	ASSERT_ERR(vmt_kvmclock_start(NULL), -EINVAL);
	ASSERT_ERR(vmt_kvmclock_stop(NULL), -EINVAL);
	ASSERT_ERR(vmt_kvmclock_reset(NULL), -EINVAL);
	ASSERT_ERR(vmt_kvmclock_read(NULL, &g, NULL), -EINVAL);
	ASSERT_ERR(vmt_kvmclock_get_stats(NULL, &st), -EINVAL);
	ASSERT_ERR(vmt_kvmclock_inspect(NULL, stdout), -EINVAL);
	ASSERT_ERR(vmt_kvmclock_add_unit(NULL, NULL, NULL), -EINVAL);
	ASSERT_OK(vmt_fields_writer_new(&w));
	ASSERT_ERR(vmt_kvmclock_save(NULL, w, 1), -EINVAL);
	ASSERT_OK(vmt_fields_reader_init(&r, NULL, 0));
	ASSERT_ERR(vmt_kvmclock_restore(NULL, &r, 1), -EINVAL);
	ASSERT_ERR(vmt_kvmclock_vcpu_save(NULL, 0, w, 1), -EINVAL);
	ASSERT_ERR(vmt_kvmclock_vcpu_restore(NULL, 0, &r, 1), -EINVAL);
	vmt_fields_writer_free(w);
}

/* --- on a real VM --------------------------------------------------------------- */

struct vm {
	int kvm, fd;
	vmt_keeper *k;
	vmt_kvmclock *kc;
};

/* A VM and its bridge (offset @offset) on a manual keeper; skips without KVM. */
static void vm_open(struct vm *v, uint64_t offset)
{
	struct vmt_kvmclock_config c;

	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0)
		SKIP("/dev/kvm: %s", strerror(errno));
	v->fd = ioctl(v->kvm, KVM_CREATE_VM, 0);
	if (v->fd < 0) {
		close(v->kvm);
		SKIP("KVM_CREATE_VM: %s", strerror(errno));
	}
	v->k = manual_keeper();
	ASSERT_OK(vmt_kvmclock_config_init(&c));
	c.vm_fd = v->fd;
	c.offset_ns = offset;
	ASSERT_OK(vmt_kvmclock_new(vmt_keeper_source(v->k), &c, &v->kc));
}

static void vm_close(struct vm *v)
{
	vmt_kvmclock_free(v->kc);
	vmt_keeper_free(v->k);
	close(v->fd);
	close(v->kvm);
}

/*
 * The guest's clock read now must be @expect plus at most twice the real
 * time since @t0 (taken before the start that set it).  Twice: KVM_SET_CLOCK
 * snapshots its base clock before it reads the host's wall clock for the
 * KVM_CLOCK_REALTIME correction, so the time between the two counts twice
 * (measured: tens of us under nested emulation).
 */
static void expect_guest(struct vm *v, uint64_t expect, uint64_t t0)
{
	uint64_t g, elapsed;

	ASSERT_OK(vmt_kvmclock_read(v->kc, &g, NULL));
	elapsed = mono_ns() - t0;
	VMT_UCMP(g, >=, expect);
	VMT_UCMP(g - expect, <=, 2 * elapsed);
}

TEST(kvm_start_sets_vm_time_plus_offset)
{
	struct vmt_kvmclock_stats st;
	struct vm v;
	uint64_t t0;

	vm_open(&v, 3 * SEC);
	ASSERT_OK(vmt_keeper_start(v.k));
	ASSERT_OK(vmt_keeper_advance(v.k, 5 * SEC));
	t0 = mono_ns();
	ASSERT_OK(vmt_kvmclock_start(v.kc));
	ASSERT_ERR(vmt_kvmclock_start(v.kc), -EALREADY);
	/* KVM's clock ran in real time since the start; VM time did not. */
	expect_guest(&v, 8 * SEC, t0);
	ASSERT_OK(vmt_kvmclock_get_stats(v.kc, &st));
	ASSERT_EQ(st.starts, 1);
	VMT_UCMP(st.set_ns, ==, 8 * SEC);
	VMT_UCMP(st.set_vm_ns, ==, 5 * SEC);
	ASSERT_TRUE(st.adjust_flags != 0);
	ASSERT_EQ(st.errors, 0);
	vm_close(&v);
}

TEST(kvm_pause_adds_nothing)
{
	struct vmt_kvmclock_stats st;
	struct vm v;
	uint64_t t0, pause_start;

	vm_open(&v, 0);
	ASSERT_OK(vmt_keeper_start(v.k));
	ASSERT_OK(vmt_keeper_advance(v.k, SEC));
	ASSERT_OK(vmt_kvmclock_start(v.kc));
	ASSERT_OK(vmt_kvmclock_stop(v.kc));
	ASSERT_ERR(vmt_kvmclock_stop(v.kc), -EALREADY);
	ASSERT_OK(vmt_keeper_stop(v.k));
	ASSERT_OK(vmt_kvmclock_get_stats(v.kc, &st));
	/* The pause: KVM's clock runs on in the kernel, the guest's must not. */
	pause_start = mono_ns();
	while (mono_ns() - pause_start < 50 * MS)
		usleep(10000);
	ASSERT_OK(vmt_keeper_start(v.k));
	t0 = mono_ns();
	ASSERT_OK(vmt_kvmclock_start(v.kc));
	/* Resumes at the value read at the stop, plus what ran since the start. */
	expect_guest(&v, st.stop_ns, t0);
	ASSERT_OK(vmt_kvmclock_get_stats(v.kc, &st));
	ASSERT_EQ(st.stops, 1);
	ASSERT_EQ(st.starts, 2);
	vm_close(&v);
}

TEST(kvm_never_steps_back_when_vm_time_lags)
{
	struct vmt_kvmclock_stats st;
	struct vm v;
	uint64_t t0, g;

	/* VM time stands still on the manual keeper while KVM's clock runs:
	 * at the stop the kernel is ahead; the start must keep that value. */
	vm_open(&v, 0);
	ASSERT_OK(vmt_keeper_start(v.k));
	ASSERT_OK(vmt_kvmclock_start(v.kc));
	t0 = mono_ns();
	while (mono_ns() - t0 < 20 * MS)
		usleep(5000);
	ASSERT_OK(vmt_kvmclock_stop(v.kc));
	ASSERT_OK(vmt_kvmclock_get_stats(v.kc, &st));
	ASSERT_GE(st.drift_ns, 20 * MS);
	g = st.stop_ns;
	ASSERT_OK(vmt_kvmclock_start(v.kc));
	ASSERT_OK(vmt_kvmclock_get_stats(v.kc, &st));
	VMT_UCMP(st.set_ns, ==, g);
	VMT_UCMP(st.held_ns, ==, g);
	/* A reset forgets it: the rebooted guest starts at VM time again. */
	ASSERT_ERR(vmt_kvmclock_reset(v.kc), -EBUSY);
	ASSERT_OK(vmt_kvmclock_stop(v.kc));
	ASSERT_OK(vmt_kvmclock_reset(v.kc));
	t0 = mono_ns();
	ASSERT_OK(vmt_kvmclock_start(v.kc));
	expect_guest(&v, 0, t0);
	vm_close(&v);
}

/* A snapshot of one section written through @w, read back through @r. */
struct snap {
	vmt_snap_writer *sw;
	vmt_snap_reader *sr;
	vmt_fields_writer *w;
	vmt_fields_reader r;
};

static void snap_begin(struct snap *s)
{
	memset(s, 0, sizeof(*s));
	ASSERT_OK(vmt_snap_writer_new(&s->sw));
	ASSERT_OK(vmt_snap_writer_section(s->sw, "kvmclock", 1, &s->w));
}

static void snap_read(struct snap *s)
{
	struct vmt_snap_section sec;
	const void *buf;
	size_t len;

	ASSERT_OK(vmt_snap_writer_save_buffer(s->sw, &buf, &len, NULL));
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, &s->sr, NULL));
	ASSERT_OK(vmt_snap_reader_find(s->sr, "kvmclock", &sec));
	s->r = sec.fields;
}

static void snap_end(struct snap *s)
{
	vmt_snap_reader_free(s->sr);
	vmt_snap_writer_free(s->sw);
}

TEST(kvm_restore_into_a_fresh_vm_resumes_the_saved_clock)
{
	struct vmt_kvmclock_stats st;
	struct vm a, b;
	struct snap s;
	uint64_t t0;

	vm_open(&a, 7 * SEC);
	ASSERT_OK(vmt_keeper_start(a.k));
	ASSERT_OK(vmt_keeper_advance(a.k, 2 * SEC));
	ASSERT_OK(vmt_kvmclock_start(a.kc));
	snap_begin(&s);
	ASSERT_ERR(vmt_kvmclock_save(a.kc, s.w, 1), -EBUSY);
	ASSERT_OK(vmt_kvmclock_stop(a.kc));
	ASSERT_OK(vmt_kvmclock_get_stats(a.kc, &st));
	ASSERT_OK(vmt_kvmclock_save(a.kc, s.w, 1));
	snap_read(&s);

	/* A second VM whose keeper stands at the saved VM time (FREEZE). */
	vm_open(&b, 0);
	ASSERT_OK(vmt_keeper_start(b.k));
	ASSERT_OK(vmt_keeper_advance(b.k, 2 * SEC));
	ASSERT_ERR(vmt_kvmclock_restore(b.kc, &s.r, 2), -ENOENT);
	ASSERT_OK(vmt_kvmclock_restore(b.kc, &s.r, 1));
	t0 = mono_ns();
	ASSERT_OK(vmt_kvmclock_start(b.kc));
	ASSERT_ERR(vmt_kvmclock_restore(b.kc, &s.r, 1), -EBUSY);
	/* The offset came along: 2 s + 7 s, or the value the guest last saw. */
	expect_guest(&b, st.stop_ns > 9 * SEC ? st.stop_ns : 9 * SEC, t0);
	snap_end(&s);
	vm_close(&b);
	vm_close(&a);
}

TEST(kvm_restore_refuses_a_bad_group)
{
	struct snap s;
	struct vm v;

	vm_open(&v, 0);
	snap_begin(&s);
	ASSERT_OK(vmt_fields_begin_group(s.w, 1));
	ASSERT_OK(vmt_fields_put_u64(s.w, 1, 2));	/* version 2 */
	for (uint32_t id = 2; id <= 5; id++)
		ASSERT_OK(vmt_fields_put_u64(s.w, id, 0));
	ASSERT_OK(vmt_fields_end_group(s.w));
	snap_read(&s);
	ASSERT_ERR(vmt_kvmclock_restore(v.kc, &s.r, 1), -EBADMSG);
	snap_end(&s);
	vm_close(&v);
}

TEST(kvm_units_drive_the_bridge)
{
	struct vmt_kvmclock_stats st;
	vmt_units_report *rep;
	vmt_units *u, *empty;
	vmt_unit *unit;
	struct vm v;

	vm_open(&v, 0);
	ASSERT_OK(vmt_units_new(&u));
	ASSERT_OK(vmt_units_new(&empty));
	ASSERT_ERR(vmt_kvmclock_add_unit(v.kc, empty, NULL), -ENOENT);
	ASSERT_ERR(vmt_kvmclock_add_unit(v.kc, NULL, NULL), -EINVAL);
	ASSERT_OK(vmt_keeper_add_unit(v.k, u, NULL));
	ASSERT_OK(vmt_kvmclock_add_unit(v.kc, u, &unit));
	ASSERT_TRUE(strcmp(vmt_unit_name(unit), "kvmclock") == 0);
	ASSERT_OK(vmt_units_start(u, &rep));
	vmt_units_report_free(rep);
	ASSERT_OK(vmt_units_stop(u, &rep));
	vmt_units_report_free(rep);
	ASSERT_OK(vmt_kvmclock_get_stats(v.kc, &st));
	ASSERT_EQ(st.starts, 1);
	ASSERT_EQ(st.stops, 1);
	ASSERT_EQ(st.errors, 0);
	vmt_units_free(u);
	vmt_units_free(empty);
	vm_close(&v);
}

TEST(kvm_inspect)
{
	char buf[1024] = "";
	struct vm v;
	FILE *f;

	vm_open(&v, 5);
	f = fmemopen(buf, sizeof(buf) - 1, "w");
	ASSERT_TRUE(f != NULL);
	ASSERT_OK(vmt_kvmclock_inspect(v.kc, f));
	fclose(f);
	ASSERT_TRUE(strstr(buf, "{\"name\":\"kvmclock\",\"running\":false,\"offset_ns\":5,") == buf);
	vm_close(&v);
}

TEST(kvm_vcpu_time_msrs_round_trip)
{
	vmt_fields_reader g;
	struct snap s;
	uint64_t tsc;
	int vcpu, vcpu2;
	struct vm v;

	vm_open(&v, 0);
	vcpu = ioctl(v.fd, KVM_CREATE_VCPU, 0);
	ASSERT_GE(vcpu, 0);
	vcpu2 = ioctl(v.fd, KVM_CREATE_VCPU, 1);
	ASSERT_GE(vcpu2, 0);
	snap_begin(&s);
	ASSERT_ERR(vmt_kvmclock_vcpu_save(v.kc, -1, s.w, 1), -EINVAL);
	ASSERT_OK(vmt_kvmclock_vcpu_save(v.kc, vcpu, s.w, 1));
	snap_read(&s);
	ASSERT_OK(vmt_fields_get_group(&s.r, 1, &g));
	ASSERT_OK(vmt_fields_get_u64(&g, 0x10, &tsc));	/* IA32_TSC is always there */
	ASSERT_OK(vmt_kvmclock_vcpu_restore(v.kc, vcpu2, &s.r, 1));
	ASSERT_ERR(vmt_kvmclock_vcpu_restore(v.kc, vcpu2, &s.r, 2), -ENOENT);
	snap_end(&s);

	/* A group naming an MSR outside the list is refused whole. */
	snap_begin(&s);
	ASSERT_OK(vmt_fields_begin_group(s.w, 1));
	ASSERT_OK(vmt_fields_put_u64(s.w, 0x10, tsc));
	ASSERT_OK(vmt_fields_put_u64(s.w, 0xc0000080, 0));	/* EFER */
	ASSERT_OK(vmt_fields_end_group(s.w));
	snap_read(&s);
	ASSERT_ERR(vmt_kvmclock_vcpu_restore(v.kc, vcpu2, &s.r, 1), -EBADMSG);
	snap_end(&s);
	close(vcpu2);
	close(vcpu);
	vm_close(&v);
}
