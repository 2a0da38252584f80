/* SPDX-License-Identifier: MIT */
/*
 * test-tsc.c - invariant TSC detection, the calibrator (fed synthetic samples,
 * deterministic), and a TSC-mode keeper refreshed as fast as possible while
 * other threads read (VMT_TEST_THREADED).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include <vmtime/keeper.h>
#include <vmtime/source.h>

#include "keeper-internal.h"
#include "tests.h"
#include "tsc.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		VMT_FAIL("cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

TEST(invariant_detection_from_files)
{
	char cpu[] = "/tmp/vmt-tsc-cpuinfo-XXXXXX", cs[] = "/tmp/vmt-tsc-cs-XXXXXX";
	int fd1 = mkstemp(cpu), fd2 = mkstemp(cs);

	ASSERT_TRUE(fd1 >= 0 && fd2 >= 0);
	close(fd1);
	close(fd2);
	write_file(cpu, "processor\t: 0\nflags\t\t: fpu tsc constant_tsc rdtscp nonstop_tsc\n");
	write_file(cs, "tsc\n");
#ifdef VMTI_HAVE_TSC
	ASSERT_TRUE(vmti_tsc_invariant_from(cpu, cs));
#endif
	write_file(cs, "hpet\n");
	ASSERT_TRUE(!vmti_tsc_invariant_from(cpu, cs));
	write_file(cs, "tsc\n");
	/* A flag that only contains the word does not count. */
	write_file(cpu, "flags\t\t: fpu constant_tsc_x nonstop_tsc\n");
	ASSERT_TRUE(!vmti_tsc_invariant_from(cpu, cs));
	write_file(cpu, "flags\t\t: fpu constant_tsc\n");
	ASSERT_TRUE(!vmti_tsc_invariant_from(cpu, cs));
	ASSERT_TRUE(!vmti_tsc_invariant_from("/nonexistent/cpuinfo", cs));
	unlink(cpu);
	unlink(cs);
}

/*
 * A synthetic machine: the TSC runs at khz, CLOCK_MONOTONIC at (1 + ppm) of
 * the TSC's nominal rate, samples carry a deterministic +-20 ns jitter.
 */
struct machine {
	uint64_t khz;
	double ppm;
	uint64_t tsc0;
	uint64_t rng;
};

static uint64_t m_tsc(const struct machine *m, double seconds)
{
	return m->tsc0 + (uint64_t)(seconds * (double)m->khz * 1000.0);
}

static vmt_ns m_mono(struct machine *m, double seconds)
{
	int jitter = (int)(test_rng_next(&m->rng) % 41) - 20;

	return (vmt_ns)(seconds * 1e9 * (1.0 + m->ppm * 1e-6)) + 1000000000 + jitter;
}

/* Steps the calibrator as the keeper's thread would; checks every guarantee. */
static void run_machine(struct machine *m, double until, int64_t *final_err)
{
	struct vmti_tsc_cal cal = { 0 };
	double t = 0;
	int enabled = 0;

	while (t < until) {
		uint64_t tsc = m_tsc(m, t);
		vmt_ns mono = m_mono(m, t);
		struct vmti_tsc_params old = cal.p;
		bool was_valid = cal.valid;
		enum vmti_tsc_action a = vmti_tsc_cal_step(&cal, tsc, mono);

		if (a == VMTI_TSC_ENABLE) {
			ASSERT_TRUE(!was_valid);
			ASSERT_UEQ(cal.p.ns_base, mono);
			enabled++;
		} else if (a == VMTI_TSC_REFRESH) {
			ASSERT_TRUE(was_valid);
			/* Continuous at the refresh point, and increasing. */
			ASSERT_UEQ(vmti_tsc_to_ns(&cal.p, tsc), vmti_tsc_to_ns(&old, tsc));
			ASSERT_TRUE(cal.p.mult > 0);
			/* A TSC slightly behind the refresh point reads the handover value. */
			ASSERT_UEQ(vmti_tsc_to_ns(&cal.p, tsc - 100), vmti_tsc_to_ns(&old, tsc));
		} else {
			ASSERT_TRUE(a == VMTI_TSC_NONE);
		}
		t += (double)vmti_tsc_cal_next_delay(&cal) / 1e9;
	}
	ASSERT_EQ(enabled, 1);
	*final_err = cal.last_error_ns;
}

TEST(calibrator_tracks_monotonic)
{
	static const uint64_t khz[] = { 2999999, 1000000, 3700000 };
	static const double ppm[] = { 0, 35, -80 };

	for (size_t i = 0; i < 3; i++) {
		struct machine m = { .khz = khz[i], .ppm = ppm[i], .tsc0 = UINT64_C(1) << 40,
				     .rng = 1 };
		int64_t err;

		run_machine(&m, 60, &err);
		/* The slew keeps the function within a few jitters of CLOCK_MONOTONIC. */
		ASSERT_LE(err < 0 ? -err : err, 100);
	}
}

TEST(calibrator_slew_is_capped)
{
	struct vmti_tsc_cal cal = { 0 };
	struct machine m = { .khz = 2000000, .tsc0 = 1000, .rng = 7 };
	double t = 0;

	while (!cal.valid) {
		vmti_tsc_cal_step(&cal, m_tsc(&m, t), m_mono(&m, t));
		t += (double)vmti_tsc_cal_next_delay(&cal) / 1e9;
	}
	vmti_tsc_cal_step(&cal, m_tsc(&m, t), m_mono(&m, t));
	t += (double)vmti_tsc_cal_next_delay(&cal) / 1e9;
	/* CLOCK_MONOTONIC 90 us behind: within the fallback limit, above the cap. */
	uint64_t tsc = m_tsc(&m, t);
	vmt_ns mono = m_mono(&m, t) - 90000;
	/* The rate measured over the baseline, before any slew. */
	double nominal = (double)(mono - cal.ref_ns) / (double)(tsc - cal.ref_tsc) *
			 (double)(UINT64_C(1) << VMTI_TSC_SHIFT);

	ASSERT_EQ(vmti_tsc_cal_step(&cal, tsc, mono), VMTI_TSC_REFRESH);
	ASSERT_GE(cal.last_error_ns, 89900);
	/* Slowed by exactly the cap (50 ppm) relative to the measured rate. */
	double rel = ((double)cal.p.mult - nominal) / nominal * 1e6;
	ASSERT_TRUE(rel < -49.9 && rel > -50.1);
}

TEST(calibrator_falls_back_on_large_error_and_recovers)
{
	struct vmti_tsc_cal cal = { 0 };
	struct machine m = { .khz = 2500000, .tsc0 = 5000, .rng = 3 };
	double t = 0;
	int steps = 0;

	while (cal.refreshes < 3) {
		vmti_tsc_cal_step(&cal, m_tsc(&m, t), m_mono(&m, t));
		t += (double)vmti_tsc_cal_next_delay(&cal) / 1e9;
	}
	/* A host suspend: the TSC ran on 2 s while CLOCK_MONOTONIC did not. */
	uint64_t tsc = m_tsc(&m, t + 2);
	vmt_ns expect = vmti_tsc_to_ns(&cal.p, tsc);

	ASSERT_EQ(vmti_tsc_cal_step(&cal, tsc, m_mono(&m, t)), VMTI_TSC_FALLBACK);
	ASSERT_TRUE(!cal.valid);
	ASSERT_UEQ(cal.host_at_switch, expect);
	ASSERT_EQ(cal.fallbacks, 1);
	/* A fresh baseline, then parameters again. */
	for (; !cal.valid && steps < 10; steps++) {
		t += (double)vmti_tsc_cal_next_delay(&cal) / 1e9;
		vmti_tsc_cal_step(&cal, m_tsc(&m, t + 2), m_mono(&m, t));
	}
	ASSERT_TRUE(cal.valid);

	/* A TSC that went backwards (reset by firmware) is an invalid measurement. */
	ASSERT_EQ(vmti_tsc_cal_step(&cal, 10, m_mono(&m, t + 1)), VMTI_TSC_FALLBACK);
	/* A baseline with an absurd frequency never enables. */
	vmti_tsc_cal_step(&cal, 20, m_mono(&m, t + 2));
	ASSERT_EQ(vmti_tsc_cal_step(&cal, 21, m_mono(&m, t + 3)), VMTI_TSC_NONE);
	ASSERT_TRUE(!cal.valid);
}

TEST(params_validity_and_clamp)
{
	struct vmti_tsc_params p = { .base = 1000, .ns_base = 5000, .mult = UINT64_C(1) << 40,
				     .shift = 40 };

	ASSERT_TRUE(vmti_tsc_params_valid(&p));
	ASSERT_UEQ(vmti_tsc_to_ns(&p, 1010), 5010);
	ASSERT_UEQ(vmti_tsc_to_ns(&p, 10), 5000); /* before base: clamped */
	p.mult = 0;
	ASSERT_TRUE(!vmti_tsc_params_valid(&p));
	p.mult = 1;
	p.shift = 64;
	ASSERT_TRUE(!vmti_tsc_params_valid(&p));
}

static vmt_ns mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (vmt_ns)ts.tv_sec * VMT_NS_PER_SEC + (vmt_ns)ts.tv_nsec;
}

static vmt_keeper *tsc_keeper(void)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	vmt_keeper *k;

	cfg.tsc = VMT_TSC_AUTO;
	if (vmt_keeper_new(&cfg, &k) < 0)
		return NULL;
	return k;
}

static bool wait_valid(vmt_keeper *k)
{
	for (int i = 0; i < 400; i++) {
		if (VMTI_PAGE_GET(k->page, flags) & VMTI_PAGE_TSC_VALID)
			return true;
		usleep(5000);
	}
	return false;
}

TEST(keeper_publishes_parameters)
{
	struct vmti_tsc_cal cal;
	vmt_keeper *k;

	if (!vmti_tsc_invariant())
		SKIP("no invariant TSC on this host");
	k = tsc_keeper();
	ASSERT_TRUE(k);
	ASSERT_TRUE(wait_valid(k));
	ASSERT_TRUE(vmti_tsc_keeper_cal(k, &cal));
	ASSERT_TRUE(cal.khz >= VMTI_TSC_MIN_KHZ && cal.khz <= VMTI_TSC_MAX_KHZ);
	ASSERT_UEQ(VMTI_PAGE_GET(k->page, tsc_khz), cal.khz);
	/* HOST read through the TSC stays close to CLOCK_MONOTONIC. */
	vmt_ns m1 = mono_now();
	vmt_ns h = vmt_now(vmt_keeper_source(k), VMT_CLOCK_HOST);
	vmt_ns m2 = mono_now();
	ASSERT_TRUE(h + 100000 > m1 && h < m2 + 100000);
	vmt_keeper_free(k);

	/* TSC_OFF, a manual keeper and a host-clock hook never publish parameters. */
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	cfg.tsc = VMT_TSC_OFF;
	ASSERT_OK(vmt_keeper_new(&cfg, &k));
	ASSERT_TRUE(!vmti_tsc_keeper_cal(k, &cal));
	vmt_keeper_free(k);
	cfg.tsc = VMT_TSC_AUTO;
	cfg.mode = VMT_KEEPER_MANUAL;
	ASSERT_OK(vmt_keeper_new(&cfg, &k));
	ASSERT_TRUE(!vmti_tsc_keeper_cal(k, &cal));
	vmt_keeper_free(k);
}

struct readers {
	vmt_keeper *k;
	atomic_bool stop;
	atomic_long backwards;
	atomic_long reads;
};

static void *reader(void *arg)
{
	struct readers *r = arg;
	vmt_source *src = vmt_keeper_source(r->k);
	vmt_ns last_vm = 0, last_host = 0;
	long n = 0, back = 0;

	while (!atomic_load(&r->stop)) {
		vmt_ns vm = vmt_now(src, VMT_CLOCK_VM);
		vmt_ns host = vmt_now(src, VMT_CLOCK_HOST);

		if (vm < last_vm)
			back++;
		(void)host;
		(void)last_host;
		last_vm = vm;
		last_host = host;
		n++;
	}
	atomic_fetch_add(&r->backwards, back);
	atomic_fetch_add(&r->reads, n);
	return NULL;
}

TEST(vm_time_monotonic_under_frequent_refreshes)
{
	struct readers r = { 0 };
	pthread_t th[2];
	int refreshes = 0;

	if (!vmti_tsc_invariant())
		SKIP("no invariant TSC on this host");
	r.k = tsc_keeper();
	ASSERT_TRUE(r.k);
	ASSERT_TRUE(wait_valid(r.k));
	ASSERT_OK(vmt_keeper_start(r.k));
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pthread_create(&th[i], NULL, reader, &r), 0);
	/* Refresh as fast as possible for ~0.5 s, with small injected drifts. */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		int64_t drift = (refreshes % 7) * 300 - 900;
		enum vmti_tsc_action a = vmti_tsc_keeper_step(r.k, drift);

		ASSERT_TRUE(a == VMTI_TSC_REFRESH || a == VMTI_TSC_ENABLE || a == VMTI_TSC_NONE);
		refreshes++;
		if (refreshes % 64 == 0)
			usleep(100);
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 500000000L);
	atomic_store(&r.stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	ASSERT_GT(r.reads, 1000);
	ASSERT_EQ(r.backwards, 0);
	ASSERT_GT(refreshes, 1000);
	vmt_keeper_free(r.k);
}

TEST(fallback_keeps_vm_time_continuous)
{
	vmt_source *src;
	vmt_keeper *k;

	if (!vmti_tsc_invariant())
		SKIP("no invariant TSC on this host");
	k = tsc_keeper();
	ASSERT_TRUE(k);
	src = vmt_keeper_source(k);
	ASSERT_TRUE(wait_valid(k));
	ASSERT_OK(vmt_keeper_start(k));
	usleep(2000);
	vmt_ns m0 = mono_now();
	vmt_ns before = vmt_now(src, VMT_CLOCK_VM);
	/* CLOCK_MONOTONIC seemingly 5 ms away: too far to slew, the keeper falls back. */
	ASSERT_EQ(vmti_tsc_keeper_step(k, 5 * (int64_t)VMT_NS_PER_MS), VMTI_TSC_FALLBACK);
	ASSERT_TRUE(!(VMTI_PAGE_GET(k->page, flags) & VMTI_PAGE_TSC_VALID));
	vmt_ns after = vmt_now(src, VMT_CLOCK_VM);
	vmt_ns m1 = mono_now();
	/* Neither backwards nor the 5 ms jump: continuous at the switch. */
	ASSERT_UGE(after, before);
	ASSERT_ULE(after - before, m1 - m0 + VMT_NS_PER_MS);
	/* Readers now use clock_gettime(): HOST equals CLOCK_MONOTONIC. */
	struct timespec ts;
	vmt_ns h = vmt_now(src, VMT_CLOCK_HOST);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ASSERT_ULE(h, (vmt_ns)ts.tv_sec * VMT_NS_PER_SEC + (vmt_ns)ts.tv_nsec);
	/* Stop/start still work in the fallback state. */
	ASSERT_OK(vmt_keeper_stop(k));
	ASSERT_UGE(vmt_now(src, VMT_CLOCK_VM), after);
	vmt_keeper_free(k);
}
