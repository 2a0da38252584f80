/* SPDX-License-Identifier: MIT */
/*
 * vmtime/time.h - the one time unit of vmtime and its arithmetic.
 *
 * Every time and duration in the API is a vmt_ns: unsigned 64-bit
 * nanoseconds.  The VM clock starts at (or near) zero and would need 584 years
 * to wrap, so comparisons are plain integer comparisons.  VMT_NS_NEVER is the
 * "no deadline" sentinel and compares later than every real time.
 *
 * Arithmetic saturates instead of wrapping: a deadline computed as now plus a
 * huge delay becomes VMT_NS_NEVER, never a time in the past.  Conversions to
 * the coarser 100 ns unit (Hyper-V reference time) round *up*, so a value that
 * is saved coarse and restored never lands before the original.
 */
#ifndef VMTIME_TIME_H
#define VMTIME_TIME_H

#include <stdint.h>
#include <time.h>

#include "common.h"

VMT_BEGIN_DECLS

/** typedef vmt_ns - nanoseconds, the single time unit of the API. */
typedef uint64_t vmt_ns;

/** VMT_NS_NEVER - "no deadline"; later than any real time. */
#define VMT_NS_NEVER UINT64_MAX

#define VMT_NS_PER_US UINT64_C(1000)
#define VMT_NS_PER_MS UINT64_C(1000000)
#define VMT_NS_PER_SEC UINT64_C(1000000000)

/**
 * vmt_ns_add() - add two times, saturating at VMT_NS_NEVER.
 * @a: a time or duration
 * @b: a duration
 *
 * Context: any.
 * Return: a + b, or VMT_NS_NEVER if the sum does not fit.
 */
static inline vmt_ns vmt_ns_add(vmt_ns a, vmt_ns b)
{
	return a > VMT_NS_NEVER - b ? VMT_NS_NEVER : a + b;
}

/**
 * vmt_ns_sub() - subtract, saturating at zero.
 * @a: a time
 * @b: a time or duration
 *
 * Context: any.
 * Return: a - b, or 0 if b > a.
 */
static inline vmt_ns vmt_ns_sub(vmt_ns a, vmt_ns b)
{
	return a > b ? a - b : 0;
}

/**
 * vmt_ns_mul() - multiply a duration by a count, saturating at VMT_NS_NEVER.
 * @a: a duration
 * @n: a count
 *
 * Context: any.
 * Return: a * n, or VMT_NS_NEVER if the product does not fit.
 */
static inline vmt_ns vmt_ns_mul(vmt_ns a, uint64_t n)
{
	if (n != 0 && a > VMT_NS_NEVER / n)
		return VMT_NS_NEVER;
	return a * n;
}

/**
 * vmt_ns_from_timespec() - convert a struct timespec to nanoseconds.
 * @ts: the value; tv_sec must be >= 0 and tv_nsec within [0, 999999999]
 * @ret: where the result is written, only on success
 *
 * Values beyond the range of vmt_ns saturate to VMT_NS_NEVER.
 *
 * Context: any.
 * Return: 0, or -EINVAL if @ts or @ret is NULL or @ts is not normalized or
 * negative.
 */
VMT_EXPORT int vmt_ns_from_timespec(const struct timespec *ts, vmt_ns *ret);

/**
 * vmt_ns_to_timespec() - convert nanoseconds to a struct timespec.
 * @t: the time
 *
 * Context: any.
 * Return: the normalized timespec (VMT_NS_NEVER gives its exact value,
 * 18446744073 s and 709551615 ns).
 */
VMT_EXPORT struct timespec vmt_ns_to_timespec(vmt_ns t);

/**
 * vmt_ns_to_100ns() - convert to 100 ns units, rounding up.
 * @t: the time
 *
 * Context: any.
 * Return: ceil(t / 100); VMT_NS_NEVER maps to UINT64_MAX / 100 rounded up.
 */
static inline uint64_t vmt_ns_to_100ns(vmt_ns t)
{
	return t / 100 + (t % 100 != 0);
}

/**
 * vmt_ns_from_100ns() - convert 100 ns units to nanoseconds, saturating.
 * @t100: the time in 100 ns units
 *
 * Context: any.
 * Return: t100 * 100, or VMT_NS_NEVER if it does not fit.
 */
static inline vmt_ns vmt_ns_from_100ns(uint64_t t100)
{
	return vmt_ns_mul(t100, 100);
}

VMT_END_DECLS

#endif /* VMTIME_TIME_H */
