/* SPDX-License-Identifier: MIT */
/*
 * tests/tests.h - the tiny test harness every test binary uses.
 *
 *   TEST(name) { ... }           defines and registers a test case
 *   ASSERT_TRUE(x), ASSERT_EQ(a, b), ASSERT_NE(a, b), ASSERT_LE(a, b), ...
 *   ASSERT_OK(expr)              expr must return >= 0 (prints the errno name)
 *   ASSERT_ERR(expr, -EINVAL)    expr must return exactly that negative errno
 *   SKIP(fmt, ...)               skip the test (the binary exits 77 if all skip)
 *   test_rng_seed(d), test_rng() the one test RNG (splitmix64; VMT_TEST_SEED
 *                                overrides the default seed d)
 *   test_fd_limit(extra, &old)   make the (extra+1)-th new descriptor fail
 *                                with EMFILE; test_fd_limit_restore(&old)
 *
 * main() runs every case (or those whose names contain argv[1]) and prints
 * "N passed, N failed, N skipped".  A failure prints file:line and both sides.
 * Each case runs in the same process, in definition order.
 */
#ifndef VMT_TESTS_H
#define VMT_TESTS_H

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct vmt_test_case {
	const char *name;
	void (*fn)(void);
	struct vmt_test_case *next;
};

extern struct vmt_test_case *vmt_test_head, **vmt_test_tail;
extern jmp_buf vmt_test_jmp;
extern int vmt_test_skipped;

#define TEST(tname)                                                                  \
	static void test_##tname(void);                                              \
	static struct vmt_test_case tcase_##tname = { #tname, test_##tname, NULL };  \
	__attribute__((constructor)) static void treg_##tname(void)                  \
	{                                                                            \
		*vmt_test_tail = &tcase_##tname;                                     \
		vmt_test_tail = &tcase_##tname.next;                                 \
	}                                                                            \
	static void test_##tname(void)

#define VMT_FAIL(...)                                                                \
	do {                                                                         \
		fprintf(stderr, "  FAIL %s:%d: ", __FILE__, __LINE__);               \
		fprintf(stderr, __VA_ARGS__);                                        \
		fprintf(stderr, "\n");                                               \
		longjmp(vmt_test_jmp, 1);                                            \
	} while (0)

#define SKIP(...)                                                                    \
	do {                                                                         \
		fprintf(stderr, "  SKIP: ");                                         \
		fprintf(stderr, __VA_ARGS__);                                        \
		fprintf(stderr, "\n");                                               \
		vmt_test_skipped = 1;                                                \
		longjmp(vmt_test_jmp, 2);                                            \
	} while (0)

#define ASSERT_TRUE(x)                                                               \
	do {                                                                         \
		if (!(x))                                                            \
			VMT_FAIL("expected true: %s", #x);                           \
	} while (0)

#define VMT_CMP(a, op, b)                                                            \
	do {                                                                         \
		long long va_ = (long long)(a), vb_ = (long long)(b);                \
		if (!(va_ op vb_))                                                   \
			VMT_FAIL("%s %s %s: %lld vs %lld", #a, #op, #b, va_, vb_);   \
	} while (0)

/* Unsigned compare, for vmt_ns values that may exceed INT64_MAX. */
#define VMT_UCMP(a, op, b)                                                           \
	do {                                                                         \
		unsigned long long va_ = (unsigned long long)(a),                    \
				   vb_ = (unsigned long long)(b);                    \
		if (!(va_ op vb_))                                                   \
			VMT_FAIL("%s %s %s: %llu vs %llu", #a, #op, #b, va_, vb_);   \
	} while (0)

#define ASSERT_EQ(a, b) VMT_CMP(a, ==, b)
#define ASSERT_NE(a, b) VMT_CMP(a, !=, b)
#define ASSERT_LT(a, b) VMT_CMP(a, <, b)
#define ASSERT_LE(a, b) VMT_CMP(a, <=, b)
#define ASSERT_GT(a, b) VMT_CMP(a, >, b)
#define ASSERT_GE(a, b) VMT_CMP(a, >=, b)
#define ASSERT_UEQ(a, b) VMT_UCMP(a, ==, b)
#define ASSERT_ULE(a, b) VMT_UCMP(a, <=, b)
#define ASSERT_ULT(a, b) VMT_UCMP(a, <, b)
#define ASSERT_UGE(a, b) VMT_UCMP(a, >=, b)

#define ASSERT_STREQ(a, b)                                                           \
	do {                                                                         \
		const char *sa_ = (a), *sb_ = (b);                                   \
		if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0)                           \
			VMT_FAIL("%s == %s: \"%s\" vs \"%s\"", #a, #b,               \
				 sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");         \
	} while (0)

#define ASSERT_OK(expr)                                                              \
	do {                                                                         \
		long long r_ = (long long)(expr);                                    \
		if (r_ < 0)                                                          \
			VMT_FAIL("%s failed: %lld (%s)", #expr, r_,                  \
				 strerror((int)-r_));                                \
	} while (0)

#define ASSERT_ERR(expr, err)                                                        \
	do {                                                                         \
		long long r_ = (long long)(expr), e_ = (long long)(err);             \
		if (r_ != e_)                                                        \
			VMT_FAIL("%s: expected %lld (%s), got %lld (%s)", #expr, e_, \
				 strerror((int)-e_), r_,                             \
				 r_ < 0 ? strerror((int)-r_) : "success");           \
	} while (0)

/*
 * test_rng_next() - splitmix64 step of the generator state *@s: full period,
 * good enough to pick test inputs.  A thread that wants its own stream keeps
 * its own state; test_rng() uses the one seeded by test_rng_seed().
 */
static inline uint64_t test_rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t test_rng_state;

/* Seeds test_rng() with $VMT_TEST_SEED if set, else with @dflt. */
static inline void test_rng_seed(uint64_t dflt)
{
	const char *s = getenv("VMT_TEST_SEED");

	test_rng_state = s ? strtoull(s, NULL, 0) : dflt;
}

static inline uint64_t test_rng(void)
{
	return test_rng_next(&test_rng_state);
}

/*
 * test_fd_limit() - lower RLIMIT_NOFILE so that only @extra more descriptors
 * can be opened: the limit becomes the lowest free descriptor + @extra.
 * Returns that lowest free descriptor (what the next open gets once the limit
 * is restored, to check nothing leaked) and saves the old limit in *@old for
 * test_fd_limit_restore().  Skips the test when limits cannot be changed.
 */
static inline int test_fd_limit(int extra, struct rlimit *old)
{
	struct rlimit low;
	int fd;

	if (getrlimit(RLIMIT_NOFILE, old) < 0)
		SKIP("getrlimit: %s", strerror(errno));
	fd = dup(2);
	if (fd < 0)
		SKIP("dup: %s", strerror(errno));
	close(fd);
	low = *old;
	low.rlim_cur = (rlim_t)(fd + extra);
	if (setrlimit(RLIMIT_NOFILE, &low) < 0)
		SKIP("setrlimit: %s", strerror(errno));
	return fd;
}

static inline void test_fd_limit_restore(const struct rlimit *old)
{
	if (setrlimit(RLIMIT_NOFILE, old) < 0)
		VMT_FAIL("setrlimit (restore): %s", strerror(errno));
}

#ifdef VMT_TEST_NO_MAIN
#else
struct vmt_test_case *vmt_test_head, **vmt_test_tail = &vmt_test_head;
jmp_buf vmt_test_jmp;
int vmt_test_skipped;

int main(int argc, char **argv)
{
	/* volatile: modified between setjmp() and a longjmp() back to it. */
	volatile int passed = 0, failed = 0, skipped = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (struct vmt_test_case *volatile c = vmt_test_head; c; c = c->next) {
		if (argc > 1 && !strstr(c->name, argv[1]))
			continue;
		fprintf(stderr, "- %s\n", c->name);
		vmt_test_skipped = 0;
		switch (setjmp(vmt_test_jmp)) {
		case 0:
			c->fn();
			passed++;
			break;
		case 1:
			failed++;
			break;
		default:
			skipped++;
			break;
		}
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	if (failed)
		return 1;
	if (skipped && !passed)
		return 77;
	return 0;
}
#endif

#endif /* VMT_TESTS_H */
