/* SPDX-License-Identifier: MIT */
/*
 * test-time.c - vmt_ns arithmetic and conversions against independent references.
 *
 * The references compute in 128 bits (saturation) or in decimal digits (the
 * 100 ns rounding), so a bug shared by the header and the test is unlikely.
 * Random inputs come from a fixed seed (VMT_TEST_SEED overrides it) and are
 * biased toward the places where saturating code breaks: 0, the limits and
 * powers of two.
 */
#include <limits.h>
#include <stdbool.h>

#include <vmtime/vmtime.h>

#include "tests.h"

#define ROUNDS 200000

/* A value that is often at or near an edge. */
static uint64_t interesting(void)
{
	uint64_t r = test_rng(), small = test_rng() % 1024;

	switch (r % 8) {
	case 0:
		return small;
	case 1:
		return UINT64_MAX - small;
	case 2:
		return (UINT64_C(1) << (test_rng() % 64)) + small - 512;
	case 3:
		return UINT64_MAX / (1 + test_rng() % 1000) + small - 512;
	case 4:
		return test_rng() >> (test_rng() % 64);
	default:
		return test_rng();
	}
}

static uint64_t ref_add(uint64_t a, uint64_t b)
{
	unsigned __int128 s = (unsigned __int128)a + b;

	return s > UINT64_MAX ? UINT64_MAX : (uint64_t)s;
}

static uint64_t ref_sub(uint64_t a, uint64_t b)
{
	__int128 d = (__int128)a - (__int128)b;

	return d < 0 ? 0 : (uint64_t)d;
}

static uint64_t ref_mul(uint64_t a, uint64_t b)
{
	unsigned __int128 p = (unsigned __int128)a * b;

	return p > UINT64_MAX ? UINT64_MAX : (uint64_t)p;
}

/* ceil(t / 100) by decimal long division: drop two digits, round up the rest. */
static uint64_t ref_ceil100_decimal(uint64_t t)
{
	char d[32];
	int n = snprintf(d, sizeof(d), "%" PRIu64, t);
	uint64_t q = 0;

	if (n <= 2)
		return t != 0;
	for (int i = 0; i < n - 2; i++)
		q = q * 10 + (uint64_t)(d[i] - '0');
	return q + (d[n - 2] != '0' || d[n - 1] != '0');
}

static uint64_t ref_ceil100_wide(uint64_t t)
{
	return (uint64_t)(((unsigned __int128)t + 99) / 100);
}

TEST(limits_and_constants)
{
	ASSERT_UEQ(VMT_NS_NEVER, UINT64_MAX);
	ASSERT_UEQ(VMT_NS_PER_US, 1000);
	ASSERT_UEQ(VMT_NS_PER_MS, 1000000);
	ASSERT_UEQ(VMT_NS_PER_SEC, 1000000000);
	ASSERT_EQ(sizeof(vmt_ns), 8);
	/* Unsigned: NEVER compares later than every real time. */
	ASSERT_TRUE((vmt_ns)0 < VMT_NS_NEVER);
	ASSERT_TRUE((vmt_ns)-1 == VMT_NS_NEVER);
}

TEST(add_edges)
{
	ASSERT_UEQ(vmt_ns_add(0, 0), 0);
	ASSERT_UEQ(vmt_ns_add(1, 2), 3);
	ASSERT_UEQ(vmt_ns_add(VMT_NS_NEVER, 0), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_add(0, VMT_NS_NEVER), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_add(VMT_NS_NEVER, 1), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_add(VMT_NS_NEVER, VMT_NS_NEVER), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_add(VMT_NS_NEVER - 1, 1), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_add(VMT_NS_NEVER - 2, 1), VMT_NS_NEVER - 1);
	ASSERT_UEQ(vmt_ns_add(UINT64_C(1) << 63, UINT64_C(1) << 63), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_add((UINT64_C(1) << 63) - 1, UINT64_C(1) << 63), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_add((UINT64_C(1) << 63) - 2, UINT64_C(1) << 63), VMT_NS_NEVER - 1);
}

TEST(sub_edges)
{
	ASSERT_UEQ(vmt_ns_sub(0, 0), 0);
	ASSERT_UEQ(vmt_ns_sub(5, 3), 2);
	ASSERT_UEQ(vmt_ns_sub(3, 5), 0);
	ASSERT_UEQ(vmt_ns_sub(0, VMT_NS_NEVER), 0);
	ASSERT_UEQ(vmt_ns_sub(VMT_NS_NEVER, 0), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_sub(VMT_NS_NEVER, VMT_NS_NEVER), 0);
	ASSERT_UEQ(vmt_ns_sub(VMT_NS_NEVER, 1), VMT_NS_NEVER - 1);
	ASSERT_UEQ(vmt_ns_sub(VMT_NS_NEVER - 1, VMT_NS_NEVER), 0);
}

TEST(mul_edges)
{
	ASSERT_UEQ(vmt_ns_mul(0, 0), 0);
	ASSERT_UEQ(vmt_ns_mul(VMT_NS_NEVER, 0), 0);
	ASSERT_UEQ(vmt_ns_mul(0, UINT64_MAX), 0);
	ASSERT_UEQ(vmt_ns_mul(VMT_NS_NEVER, 1), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_mul(1, UINT64_MAX), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_mul(VMT_NS_NEVER, 2), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_mul(UINT64_C(1) << 32, UINT64_C(1) << 31), UINT64_C(1) << 63);
	ASSERT_UEQ(vmt_ns_mul(UINT64_C(1) << 32, UINT64_C(1) << 32), VMT_NS_NEVER);
	/* UINT64_MAX = 3 * 5 * 17 * 257 * 641 * 65537 * 6700417: exact, no saturation. */
	ASSERT_UEQ(vmt_ns_mul(UINT64_MAX / 3, 3), UINT64_MAX);
	ASSERT_UEQ(vmt_ns_mul(UINT64_MAX / 3 + 1, 3), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_mul(UINT64_MAX / 1000 + 1, 1000), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_mul(UINT64_MAX / 1000, 1000), UINT64_MAX - UINT64_MAX % 1000);
	ASSERT_UEQ(vmt_ns_mul(VMT_NS_PER_SEC, 18446744073ULL), 18446744073000000000ULL);
	ASSERT_UEQ(vmt_ns_mul(VMT_NS_PER_SEC, 18446744074ULL), VMT_NS_NEVER);
}

TEST(arith_random_vs_reference)
{
	test_rng_seed(UINT64_C(0x7e57711e));
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t a = interesting(), b = interesting();
		uint64_t n = (i & 1) ? interesting() : test_rng() % 100000;

		ASSERT_UEQ(vmt_ns_add(a, b), ref_add(a, b));
		ASSERT_UEQ(vmt_ns_add(b, a), ref_add(a, b));
		ASSERT_UEQ(vmt_ns_sub(a, b), ref_sub(a, b));
		ASSERT_UEQ(vmt_ns_mul(a, n), ref_mul(a, n));
		ASSERT_UEQ(vmt_ns_mul(n, a), ref_mul(a, n));
		/* Saturated results never land before either operand. */
		ASSERT_UGE(vmt_ns_add(a, b), a);
		ASSERT_ULE(vmt_ns_sub(a, b), a);
	}
}

TEST(hundred_ns_edges)
{
	ASSERT_UEQ(vmt_ns_to_100ns(0), 0);
	ASSERT_UEQ(vmt_ns_to_100ns(1), 1);
	ASSERT_UEQ(vmt_ns_to_100ns(99), 1);
	ASSERT_UEQ(vmt_ns_to_100ns(100), 1);
	ASSERT_UEQ(vmt_ns_to_100ns(101), 2);
	ASSERT_UEQ(vmt_ns_to_100ns(200), 2);
	ASSERT_UEQ(vmt_ns_to_100ns(VMT_NS_NEVER - 15), UINT64_C(184467440737095516));
	ASSERT_UEQ(vmt_ns_to_100ns(VMT_NS_NEVER - 14), UINT64_C(184467440737095517));
	ASSERT_UEQ(vmt_ns_to_100ns(VMT_NS_NEVER), UINT64_C(184467440737095517));
	ASSERT_UEQ(vmt_ns_to_100ns(VMT_NS_NEVER), UINT64_MAX / 100 + 1);

	ASSERT_UEQ(vmt_ns_from_100ns(0), 0);
	ASSERT_UEQ(vmt_ns_from_100ns(1), 100);
	ASSERT_UEQ(vmt_ns_from_100ns(UINT64_MAX / 100), UINT64_MAX - 15);
	ASSERT_UEQ(vmt_ns_from_100ns(UINT64_MAX / 100 + 1), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ns_from_100ns(UINT64_MAX), VMT_NS_NEVER);
}

TEST(hundred_ns_random_vs_reference)
{
	test_rng_seed(UINT64_C(0x7e57711e));
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t t = interesting();
		uint64_t c = vmt_ns_to_100ns(t);

		ASSERT_UEQ(c, ref_ceil100_wide(t));
		ASSERT_UEQ(c, ref_ceil100_decimal(t));
		ASSERT_UEQ(vmt_ns_from_100ns(t), ref_mul(t, 100));
		/* Saved coarse and restored, a time never lands before the original. */
		vmt_ns back = vmt_ns_from_100ns(c);

		ASSERT_UGE(back, t);
		if (back != VMT_NS_NEVER)
			ASSERT_ULT(back - t, 100);
		/* Exact multiples survive the round trip unchanged. */
		if (t <= UINT64_MAX / 100)
			ASSERT_UEQ(vmt_ns_to_100ns(vmt_ns_from_100ns(t)), t);
	}
}

static bool ref_from_timespec(const struct timespec *ts, uint64_t *ret)
{
	unsigned __int128 v;

	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec > 999999999)
		return false;
	v = (unsigned __int128)(uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
	*ret = v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
	return true;
}

TEST(timespec_to_ns_edges)
{
	struct timespec ts;
	vmt_ns v;

	ts = (struct timespec){ 0, 0 };
	ASSERT_OK(vmt_ns_from_timespec(&ts, &v));
	ASSERT_UEQ(v, 0);
	ts = (struct timespec){ 1, 999999999 };
	ASSERT_OK(vmt_ns_from_timespec(&ts, &v));
	ASSERT_UEQ(v, 1999999999);
	ts = (struct timespec){ 18446744073, 709551614 };
	ASSERT_OK(vmt_ns_from_timespec(&ts, &v));
	ASSERT_UEQ(v, VMT_NS_NEVER - 1);
	ts = (struct timespec){ 18446744073, 709551615 };
	ASSERT_OK(vmt_ns_from_timespec(&ts, &v));
	ASSERT_UEQ(v, VMT_NS_NEVER);
	ts = (struct timespec){ 18446744073, 709551616 };
	ASSERT_OK(vmt_ns_from_timespec(&ts, &v));
	ASSERT_UEQ(v, VMT_NS_NEVER);
	ts = (struct timespec){ 18446744074, 0 };
	ASSERT_OK(vmt_ns_from_timespec(&ts, &v));
	ASSERT_UEQ(v, VMT_NS_NEVER);
	ts = (struct timespec){ INT64_MAX, 999999999 };
	ASSERT_OK(vmt_ns_from_timespec(&ts, &v));
	ASSERT_UEQ(v, VMT_NS_NEVER);
}

TEST(timespec_to_ns_invalid)
{
	const struct timespec bad[] = {
		{ -1, 0 }, { -1, 999999999 }, { INT64_MIN, 0 }, { 0, -1 }, { 5, -1 },
		{ 0, 1000000000 }, { 0, LONG_MAX }, { 0, LONG_MIN }, { -1, -1 },
	};
	struct timespec ok = { 1, 0 };
	vmt_ns v = 12345;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_ERR(vmt_ns_from_timespec(&bad[i], &v), -EINVAL);
		/* Output written only on success. */
		ASSERT_UEQ(v, 12345);
	}
	ASSERT_ERR(vmt_ns_from_timespec(NULL, &v), -EINVAL);
	ASSERT_ERR(vmt_ns_from_timespec(&ok, NULL), -EINVAL);
	ASSERT_ERR(vmt_ns_from_timespec(NULL, NULL), -EINVAL);
	ASSERT_UEQ(v, 12345);
}

TEST(ns_to_timespec_edges)
{
	struct timespec ts;

	ts = vmt_ns_to_timespec(0);
	ASSERT_EQ(ts.tv_sec, 0);
	ASSERT_EQ(ts.tv_nsec, 0);
	ts = vmt_ns_to_timespec(999999999);
	ASSERT_EQ(ts.tv_sec, 0);
	ASSERT_EQ(ts.tv_nsec, 999999999);
	ts = vmt_ns_to_timespec(1000000000);
	ASSERT_EQ(ts.tv_sec, 1);
	ASSERT_EQ(ts.tv_nsec, 0);
	ts = vmt_ns_to_timespec(VMT_NS_NEVER);
	ASSERT_EQ(ts.tv_sec, 18446744073LL);
	ASSERT_EQ(ts.tv_nsec, 709551615L);
	ts = vmt_ns_to_timespec(VMT_NS_NEVER - 709551615);
	ASSERT_EQ(ts.tv_sec, 18446744073LL);
	ASSERT_EQ(ts.tv_nsec, 0);
}

TEST(timespec_random_round_trip)
{
	test_rng_seed(UINT64_C(0x7e57711e));
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t t = interesting(), ref, back;
		struct timespec ts = vmt_ns_to_timespec(t);

		ASSERT_GE(ts.tv_sec, 0);
		ASSERT_GE(ts.tv_nsec, 0);
		ASSERT_LE(ts.tv_nsec, 999999999);
		ASSERT_UEQ((uint64_t)ts.tv_sec, t / 1000000000u);
		ASSERT_UEQ((uint64_t)ts.tv_nsec, t % 1000000000u);
		ASSERT_OK(vmt_ns_from_timespec(&ts, &back));
		ASSERT_UEQ(back, t);

		/* Arbitrary (valid or not) timespecs against the reference. */
		ts.tv_sec = (time_t)interesting();
		ts.tv_nsec = (i & 1) ? (long)(test_rng() % 1000000000u) : (long)(int64_t)interesting();
		back = 777;
		if (ref_from_timespec(&ts, &ref)) {
			ASSERT_OK(vmt_ns_from_timespec(&ts, &back));
			ASSERT_UEQ(back, ref);
		} else {
			ASSERT_ERR(vmt_ns_from_timespec(&ts, &back), -EINVAL);
			ASSERT_UEQ(back, 777);
		}
	}
}

TEST(clock_names)
{
	const char *names[VMT_CLOCK_COUNT];

	ASSERT_EQ(VMT_CLOCK_COUNT, 4);
	ASSERT_STREQ(vmt_clock_name(VMT_CLOCK_VM), "vm");
	ASSERT_STREQ(vmt_clock_name(VMT_CLOCK_HOST), "host");
	ASSERT_STREQ(vmt_clock_name(VMT_CLOCK_WALL), "wall");
	ASSERT_STREQ(vmt_clock_name(VMT_CLOCK_BOOT), "boot");
	for (int c = 0; c < VMT_CLOCK_COUNT; c++) {
		names[c] = vmt_clock_name((enum vmt_clock)c);
		ASSERT_TRUE(names[c] != NULL);
		for (int d = 0; d < c; d++)
			ASSERT_TRUE(strcmp(names[c], names[d]) != 0);
	}
	ASSERT_TRUE(vmt_clock_name(VMT_CLOCK_COUNT) == NULL);
	ASSERT_TRUE(vmt_clock_name((enum vmt_clock)(VMT_CLOCK_COUNT + 1)) == NULL);
	ASSERT_TRUE(vmt_clock_name((enum vmt_clock)1000) == NULL);
	ASSERT_TRUE(vmt_clock_name((enum vmt_clock)-1) == NULL);
	ASSERT_TRUE(vmt_clock_name((enum vmt_clock)INT_MAX) == NULL);
}
