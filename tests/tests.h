/* SPDX-License-Identifier: MIT */
/*
 * tests/tests.h - the tiny test harness every test binary uses.
 *
 *   TEST(name) { ... }           defines and registers a test case
 *   ASSERT_TRUE(x), ASSERT_EQ(a, b), ASSERT_NE(a, b), ASSERT_LE(a, b), ...
 *   ASSERT_OK(expr)              expr must return >= 0 (prints the errno name)
 *   ASSERT_ERR(expr, -EINVAL)    expr must return exactly that negative errno
 *   SKIP(fmt, ...)               skip the test (the binary exits 77 if all skip)
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
